"""Proofs of training, end to end with real snarkjs: the portal verifies every submission's proof before it
counts, and refuses tampered, replayed and mismatched ones with a clear reason.

The first test runs a whole round through the hospitals' nodes, trusted setup included (each node contributes
to the ceremony, tests/proofs/test_ceremony.py tests it). The others need a proving key without running nodes:
this test module acts as the hospitals and makes one with crypto.zk on this machine (collecting_round), cached
by crypto.zk under the ptau and the contributors' names, so it is made once (about 3 minutes cold).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from crypto import plain
from crypto.zk import Ceremony, ProofError, build_circuit, commit_trace, head_hash, phase2
from crypto.zk.dev import rechained
from crypto.zk.training_proof import prove_steps, verify_published
from demo.embedded import free_port, portal_server
from events.models import AuditEvent
from fl import fixed_head
from fl.fixed_head import SCALE, HeadStep, sgd_step
from fl.models import FEATURE_DIM, HEAD_BIAS, HEAD_WEIGHT
from fl.params import parameter_slice
from fl.training import head_of
from node.ceremony import record_contribution
from node.proving import challenged_context, proving_key
from proofs import ceremony, verification
from protocol.node_task import CircuitShapeSpec, NodeTask, ProofChallenge, ProofMaterial
from protocol.plan import canonical_json
from registry import blobstore
from registry.models import GlobalModel
from registry.weights import load_weights, state_of, template_state
from rounds.models import Participant, Round, Submission
from rounds.services import aggregating, collecting, lifecycle
from web.errors import InvalidUpload

pytestmark = [pytest.mark.zk]

S = Round.State
SAMPLES = 16  # two steps of batch 8: small runs keep each bundle at one or two Groth16 proofs


@pytest.fixture(autouse=True)
def proofs_on(settings, dev_ptau):
    settings.DH_PROOFS = "groth16"
    settings.DH_PTAU_PATH = dev_ptau


TEST_BEACON = "7465737462656163" * 4  # fixed, so that crypto.zk's cache keeps the test key


def _store(path) -> str:
    with open(path, "rb") as handle:
        digest, _ = blobstore.put_chunks(iter(lambda: handle.read(1 << 20), b""), path.stat().st_size)
    return digest


def key_made_by_this_test(round_: Round) -> dict:
    """The round's proving key made by this test acting as its hospitals (crypto.zk here: a contribution named
    by each participant's slug, then a beacon), recorded as the portal records a ready ceremony's key
    (proofs.services.setup_record). The portal itself never contributes."""
    slugs = sorted(round_.participants.values_list("hospital__slug", flat=True))
    artifacts = build_circuit(ceremony.circuit_shape(round_))
    test_ceremony = Ceremony(artifacts, django_settings.DH_PTAU_PATH)
    for slug in slugs:
        test_ceremony.contribute(slug)
    key = test_ceremony.finalize(TEST_BEACON)
    for entry in phase2.contribution_hashes(key.zkey):  # this test made them: they are its hospitals' own
        if entry["type"] == 0:
            record_contribution(
                own_contributions(round_), {"ceremony": 0, "name": entry["name"], "hash": entry["hash"]}
            )
    vkey = key.verification_key()
    shape = artifacts.shape
    return {
        "shape": {
            "features": shape.features,
            "classes": shape.classes,
            "batch": shape.batch,
            "steps": shape.steps,
        },
        "constraints": artifacts.constraints,
        "circuit_key": artifacts.key,
        "participants": slugs,
        "beacon": TEST_BEACON,
        "zkey_sha256": _store(key.zkey),
        "wasm_sha256": _store(artifacts.wasm),
        "vkey_sha256": blobstore.put_bytes(canonical_json(vkey)),
        "vkey": vkey,
    }


def collecting_round(consortium, hospitals=None, **config) -> Round:
    """A round whose proving key is ready (made by key_made_by_this_test) and that takes submissions."""
    round_ = consortium.plan_round(hospitals=hospitals, config=config)
    lifecycle.transition(round_, S.APPROVED, "test")
    lifecycle.transition(round_, S.OPEN, "test")
    round_.proof_setup = key_made_by_this_test(round_)
    round_.save(update_fields=["proof_setup"])
    lifecycle.transition(round_, S.COLLECTING, "test")
    return round_


def base_head(round_: Round) -> tuple[np.ndarray, np.ndarray]:
    model = round_.base_model
    return head_of(state_of(model.architecture, load_weights(model)))


def honest_run(round_: Round, seed: int, lr_q: int | None = None) -> list[HeadStep]:
    """A run of exact head steps from the round's global head on random features (what train_local records)."""
    config = round_.config
    rng = np.random.default_rng(seed)
    weight, bias = base_head(round_)
    lr_q = lr_q or fixed_head.quantise_lr(config["head_lr"])
    trace = []
    for _ in range(verification.implied_steps(round_, SAMPLES)):
        features = rng.integers(-SCALE, SCALE + 1, size=(config["batch_size"], FEATURE_DIM))
        labels = rng.integers(0, 2, size=config["batch_size"])
        step = HeadStep(weight, bias, features, labels, lr_q)
        trace.append(step)
        weight, bias, _ = sgd_step(step)
    return trace


def final_head(trace: list[HeadStep]) -> dict:
    weight, bias, _ = sgd_step(trace[-1])
    return {"weight": weight.tolist(), "bias": bias.tolist()}


def update_blob(round_: Round, head: dict) -> bytes:
    """n * delta with the head part matching `head` (the body's update does not matter here)."""
    architecture = round_.base_model.architecture
    template = template_state(architecture)
    vector = np.zeros(architecture.parameter_count)
    weight, bias = base_head(round_)
    vector[parameter_slice(template, HEAD_WEIGHT)] = (
        SAMPLES * (np.array(head["weight"]) - weight).ravel() / SCALE
    )
    vector[parameter_slice(template, HEAD_BIAS)] = SAMPLES * (np.array(head["bias"]) - bias) / SCALE
    return plain.encode(vector)


def commit(
    consortium, round_: Round, slug: str, root: int, num_steps: int | None = None, num_samples: int = SAMPLES
):
    """The node's commitment: the run's Merkle root, its step count S (by default the plan's for n_h) and its
    sample count n_h."""
    if num_steps is None:
        num_steps = verification.implied_steps(round_, num_samples)
    body = {"merkle_root": str(root), "num_steps": num_steps, "num_samples": num_samples}
    return consortium.client(f"node_{slug}").post(
        f"/api/node/rounds/{round_.pk}/proof/commitment/", body, format="json"
    )


def own_contributions(round_: Round) -> Path:
    """Where the hospitals of these tests keep the record of their trusted-setup contributions (as a node's
    home does), for node.proving to find one of them in the round's key."""
    return Path(django_settings.DATA_DIR).parent / f"contributions-round-{round_.pk}.json"


def prove(consortium, round_: Round, slug: str, trace: list[HeadStep], proven: list | None = None) -> dict:
    """What node.proving does: commit through the API, then prove the challenged segments. `proven`: the steps
    a forger proves instead of the committed ones (each segment's witness must be a true chain)."""
    commitment = commit_trace(trace, ceremony.circuit_shape(round_).steps)
    response = commit(consortium, round_, slug, commitment.tree.root, commitment.step_count)
    assert response.status_code == 200, response.content
    material = node_material(consortium, round_, slug)
    key = proving_key(material, NodeFiles(consortium, slug), own_contributions(round_))
    return prove_steps(
        commitment,
        proven or trace,
        challenged_context(ProofChallenge.from_json(response.json())),
        material.steps,
        key,
        every_step=material.every_step,
    )


def node_material(consortium, round_: Round, slug: str) -> ProofMaterial:
    return NodeTask.from_json(
        consortium.client(f"node_{slug}").get(f"/api/node/rounds/{round_.pk}/").json()
    ).proof


class NodeFiles:
    """The node's download interface (PortalClient.get_bytes) over the test client."""

    def __init__(self, consortium, slug: str):
        self.client = consortium.client(f"node_{slug}")

    def get_bytes(self, path: str) -> bytes:
        response = self.client.get(path)
        assert response.status_code == 200, path
        return b"".join(response.streaming_content)


def upload(
    consortium,
    round_: Round,
    slug: str,
    bundle: dict | None,
    head: dict | None,
    blob=None,
    num_samples: int = SAMPLES,
):
    data = {
        "update": io.BytesIO(blob if blob is not None else update_blob(round_, head)),
        "num_samples": num_samples,
        "metrics": "{}",
    }
    if bundle is not None:
        data["proof"] = json.dumps(bundle)
    if head is not None:
        data["head"] = json.dumps(head)
    return consortium.client(f"node_{slug}").post(
        f"/api/node/rounds/{round_.pk}/submission/", data, format="multipart"
    )


def assert_refused(response, reason: str, round_: Round) -> None:
    assert response.status_code == 400, response.content
    assert reason in response.json()["detail"], response.json()["detail"]
    assert not Submission.objects.filter(round=round_).exists()


@pytest.mark.django_db(transaction=True)
def test_every_submission_of_a_round_carries_a_proof_the_portal_verifies(hospital_data):
    """Hospital nodes make the round's trusted setup, then train on their own data, prove every step of their
    runs, and upload over real HTTP; the round completes, and every proof re-verifies from its published record."""
    with portal_server(free_port()) as url:
        hospital_data.enroll_nodes(url)
        round_ = hospital_data.plan_round(config={"prove_every_step": True})
        lifecycle.approve_round(hospital_data.coordinator, round_)
        round_.refresh_from_db()
        assert round_.state == S.OPEN  # waiting for its hospitals' contributions to the trusted setup
        hospital_data.run_nodes()  # hospital-a contributes, then hospital-b (turns follow registration)
        # The round's task tries again until the ceremony is ready; an eager task cannot wait: open it here.
        collecting.open_round(round_.pk)
        round_.refresh_from_db()
        assert round_.state == S.COLLECTING, round_.reason
        hospital_data.run_nodes()  # train, prove, upload: the last upload aggregates
        round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    assert round_.proof_scheme == "groth16"
    assert round_.proof_setup["participants"] == ["hospital-a", "hospital-b"]
    assert kinds_of(round_).count("ceremony_contribution") == 2
    assert {"zk_setup", "zk_verify"} <= set(round_.stage_seconds)
    submissions = list(round_.submissions.order_by("hospital__slug"))
    assert [s.proof_status for s in submissions] == ["verified", "verified"]
    assert all(s.proof_root and s.proof["proofs"] for s in submissions)
    # Every step: one proof per segment of the circuit's steps.
    assert [len(s.proof["proofs"]) * s.proof["shape"]["steps"] for s in submissions] == [
        s.proof["step_count"] for s in submissions
    ]
    assert all(s.proof["step_count"] > 1 and s.proof["every_step"] for s in submissions)
    assert [checked["verified"] for checked in verification.reverify_round(round_)] == [True, True]
    # The new global head is exactly the sample-weighted mean of the proven heads, on the fixed-point grid.
    total = sum(s.num_samples for s in submissions)
    expected_weight = (
        sum(s.num_samples * np.array(s.head["weight"], dtype=object) for s in submissions) // total
    )
    expected_bias = sum(s.num_samples * np.array(s.head["bias"], dtype=object) for s in submissions) // total
    model = GlobalModel.objects.get(produced_by=round_)
    weight, bias = head_of(state_of(model.architecture, load_weights(model)))
    assert weight.tolist() == expected_weight.tolist() and bias.tolist() == expected_bias.tolist()
    assert model.head_hash == str(head_hash(weight, bias))
    assert kinds_of(round_).count("proof_commitment") == 2


def kinds_of(round_: Round) -> list[str]:
    return list(AuditEvent.objects.filter(round=round_).values_list("kind", flat=True))


def test_nodes_download_the_proving_key_by_digest_and_only_for_their_rounds(consortium):
    round_ = collecting_round(consortium)
    material = node_material(consortium, round_, "hospital-a")
    assert material.scheme == "groth16" and material.steps == round_.config["proof_steps"]
    assert material.shape == CircuitShapeSpec(features=16, classes=2, batch=8, steps=4)
    assert (
        f"round {round_.pk}|hospital hospital-a|model {round_.base_model.weights_digest}" in material.context
    )
    vkey = NodeFiles(consortium, "hospital-a").get_bytes(material.vkey.url)
    assert hashlib.sha256(vkey).hexdigest() == material.vkey.sha256
    assert json.loads(vkey) == round_.proof_setup["vkey"]
    outsider = consortium.client("node_hospital-c").get(material.zkey.url)
    assert outsider.status_code == 403
    unknown = consortium.client("node_hospital-a").get(f"/api/node/rounds/{round_.pk}/proof/r1cs/")
    assert unknown.status_code == 404


def test_a_plan_the_circuit_cannot_prove_is_refused(consortium):
    client = consortium.client("coordinator")
    body = {
        "base_model": consortium.model.pk,
        "participants": ["hospital-a", "hospital-b"],
        "quorum": 2,
        "deadline": "2999-01-01T00:00:00Z",
        "protection": "plaintext",
    }
    response = client.post("/api/rounds/", {**body, "config": {"batch_size": 32}}, format="json")
    assert response.status_code == 400
    assert "batch_size 32 has no proving circuit" in response.json()["detail"]
    response = client.post("/api/rounds/", {**body, "config": {"loss": "cross_entropy"}}, format="json")
    assert response.status_code == 400
    assert "loss to mse_onehot" in response.json()["detail"]
    response = client.post(
        "/api/rounds/", {**body, "proof_scheme": "none", "config": {"batch_size": 32}}, format="json"
    )
    assert response.status_code == 201 and response.json()["proof_scheme"] == "none"


def test_proving_every_step_is_a_plan_option_bound_into_its_hash(consortium):
    client = consortium.client("coordinator")
    options = client.get("/api/rounds/plan-options/").json()["config"]
    assert options["prove_every_step"] == {"type": "boolean", "default": False}
    body = {
        "base_model": consortium.model.pk,
        "participants": ["hospital-a", "hospital-b"],
        "deadline": "2999-01-01T00:00:00Z",
        "protection": "plaintext",
    }
    every = client.post("/api/rounds/", {**body, "config": {"prove_every_step": True}}, format="json")
    sampled = client.post("/api/rounds/", {**body, "config": {"proof_steps": 4}}, format="json")
    assert every.status_code == sampled.status_code == 201, (every.content, sampled.content)
    assert every.json()["config"]["prove_every_step"] is True
    assert "prove_every_step" not in sampled.json()["config"]  # a spot-checked plan hashes as before
    assert (
        Round.objects.get(pk=every.json()["id"]).config_hash
        != Round.objects.get(pk=sampled.json()["id"]).config_hash
    )
    response = client.post(
        "/api/rounds/", {**body, "config": {"prove_every_step": "sometimes"}}, format="json"
    )
    assert response.status_code == 400 and "prove_every_step" in response.content.decode()


def test_an_update_without_a_proof_is_refused(consortium):
    round_ = collecting_round(consortium)
    head = final_head(honest_run(round_, seed=1))
    assert_refused(
        upload(consortium, round_, "hospital-a", None, None, update_blob(round_, head)),
        "requires a proof",
        round_,
    )
    assert_refused(
        upload(consortium, round_, "hospital-a", {"version": 1}, head), "Commit to the training run", round_
    )


def test_a_head_that_is_not_the_result_of_the_declared_steps_is_refused(consortium):
    round_ = collecting_round(consortium)
    trace = honest_run(round_, seed=2)
    bundle = prove(consortium, round_, "hospital-a", trace)
    head = final_head(trace)
    head["weight"][0][0] += 1  # one 2^-16 away from what the proven steps give
    assert_refused(
        upload(consortium, round_, "hospital-a", bundle, head),
        "final head of the run is not the uploaded head",
        round_,
    )
    response = upload(consortium, round_, "hospital-a", bundle, final_head(trace))
    assert response.status_code == 201, response.content
    assert response.json()["proof_status"] == "verified"


def jumped(trace: list[HeadStep], position: int) -> list[HeadStep]:
    """The run with the head after step `position` moved by 7 x 2^-16 on every weight, honest from there."""
    weight, bias, _ = sgd_step(trace[position])
    return list(trace[: position + 1]) + rechained((weight + 7, bias), trace[position + 1 :])


def segment_honest(run: list[HeadStep], segment: int, steps_per_proof: int) -> list[HeadStep]:
    """`run` with one segment's steps replaced by the true chain from its committed start: what a forger can
    prove for the segment that holds its jump."""
    start, end = segment * steps_per_proof, (segment + 1) * steps_per_proof
    return run[:start] + rechained((run[start].weight, run[start].bias), run[start:end]) + run[end:]


def test_a_run_with_a_step_that_is_not_sgd_is_refused(consortium):
    round_ = collecting_round(consortium, proof_steps=2, local_epochs=4)  # both segments checked
    steps_per_proof = ceremony.circuit_shape(round_).steps
    trace = jumped(honest_run(round_, seed=3), steps_per_proof - 1)  # the second segment starts off the chain
    bundle = prove(consortium, round_, "hospital-a", trace)  # each segment on its own is a true chain
    response = upload(consortium, round_, "hospital-a", bundle, final_head(trace))
    assert_refused(response, "segment 0 does not lead to the head committed in leaf 1", round_)


def test_with_every_step_proven_a_forged_step_is_refused_wherever_it_is(consortium):
    """The plan's prove_every_step: the node proves all S steps, the portal verifies the whole chain from the
    global head (the chain verifies proof_steps of them, drawn after the node commits: tests/rounds/test_chain.py). One step jumped anywhere is
    refused, naming its segment, and nothing is stored."""
    hospitals = [consortium.hospital_a, consortium.hospital_b, consortium.hospital_c]
    round_ = collecting_round(consortium, hospitals, proof_steps=1, local_epochs=4, prove_every_step=True)
    assert node_material(consortium, round_, "hospital-a").every_step
    steps_per_proof = ceremony.circuit_shape(round_).steps
    honest = honest_run(round_, seed=11)
    assert len(honest) == 2 * steps_per_proof
    for position, slug in ((1, "hospital-a"), (len(honest) - 1, "hospital-b")):
        if position + 1 == len(honest):  # the last step: a final head that is not its result
            bundle = prove(consortium, round_, slug, honest)
            bundle["leaves"][-1]["weight_hash"] = str(int(bundle["leaves"][-1]["weight_hash"]) + 1)
            assert_refused(
                upload(consortium, round_, slug, bundle, final_head(honest)),
                "the run's leaves do not build the committed Merkle root",
                round_,
            )
            continue
        trace = jumped(honest, position)
        segment = position // steps_per_proof
        bundle = prove(consortium, round_, slug, trace, segment_honest(trace, segment, steps_per_proof))
        assert len(bundle["proofs"]) == 2
        response = upload(consortium, round_, slug, bundle, final_head(trace))
        assert_refused(
            response, f"segment {segment} does not lead to the head committed in leaf {segment + 1}", round_
        )
    # An honest run of hospital-c: every step verified.
    bundle = prove(consortium, round_, "hospital-c", honest)
    response = upload(consortium, round_, "hospital-c", bundle, final_head(honest))
    assert response.status_code == 201, response.content
    submission = Submission.objects.get(round=round_)
    assert submission.proof_status == "verified" and len(submission.proof["proofs"]) == 2
    # Published: every proof, re-verifiable from the record alone; a proof edited in the middle of the run is not.
    records = consortium.client("coordinator").get(f"/api/rounds/{round_.pk}/proofs/").json()
    assert [r["hospital"] for r in records] == ["hospital-c"] and len(records[0]["bundle"]["proofs"]) == 2
    assert str(verify_published(records[0])) == submission.head_commitment
    assert verification.reverify_round(round_) == [
        {"hospital": "hospital-c", "proofs": 2, "verified": True, "reason": ""}
    ]
    edited = copy.deepcopy(records[0])
    edited["bundle"]["proofs"][1]["proof"]["pi_a"][0] = edited["bundle"]["proofs"][0]["proof"]["pi_a"][0]
    with pytest.raises(ProofError, match="proof of segment 1 does not verify|a proof is malformed"):
        verify_published(edited)
    # manage.py audit --proofs re-verifies them (here without a chain, which it says) and names a hospital whose
    # stored bundle no longer holds.
    output = io.StringIO()
    with pytest.raises(CommandError, match=f"round {round_.pk}: .*chain"):
        call_command("audit", round_.pk, "--proofs", stdout=output)
    assert "proof [hospital-c]: 2 proofs re-verified" in output.getvalue()
    submission.proof = edited["bundle"]
    submission.save(update_fields=["proof"])
    with pytest.raises(CommandError, match="the proofs of hospital-c do not re-verify"):
        call_command("audit", round_.pk, "--proofs", stdout=io.StringIO())


def test_a_changed_learning_rate_is_refused(consortium):
    round_ = collecting_round(consortium)
    lr_q = fixed_head.quantise_lr(round_.config["head_lr"])
    trace = honest_run(round_, seed=4, lr_q=2 * lr_q)
    bundle = prove(consortium, round_, "hospital-a", trace)
    head = final_head(trace)
    assert_refused(upload(consortium, round_, "hospital-a", bundle, head), "learning rate mismatch", round_)
    disguised = {**bundle, "lr_q": lr_q}  # the declared rate edited to the round's: the proofs still say 2x
    assert_refused(
        upload(consortium, round_, "hospital-a", disguised, head), f"was proven with lr_q {2 * lr_q}", round_
    )


def test_a_proof_for_another_round_is_refused_and_a_proof_counts_once(consortium):
    first = collecting_round(consortium)
    second = collecting_round(consortium)
    trace = honest_run(first, seed=5)
    bundle = prove(consortium, first, "hospital-a", trace)
    head = final_head(trace)
    assert commit(consortium, second, "hospital-a", bundle["merkle_root"]).status_code == 200
    assert_refused(upload(consortium, second, "hospital-a", bundle, head), "context", second)
    assert upload(consortium, first, "hospital-a", bundle, head).status_code == 201
    # Accepted once: the same run is refused everywhere afterwards.
    assert_refused(
        commit(consortium, second, "hospital-b", bundle["merkle_root"]), "already submitted", second
    )
    assert_refused(upload(consortium, second, "hospital-a", bundle, head), "already submitted", second)


def test_a_proof_replayed_from_another_hospital_is_refused(consortium):
    round_ = collecting_round(consortium)
    trace = honest_run(round_, seed=6)
    bundle = prove(consortium, round_, "hospital-a", trace)
    head = final_head(trace)
    # Hospital B commits to A's run and uploads A's bundle: the proofs are bound to A (and A's challenge).
    assert commit(consortium, round_, "hospital-b", bundle["merkle_root"]).status_code == 200
    assert_refused(upload(consortium, round_, "hospital-b", bundle, head), "context", round_)
    assert (
        Participant.objects.get(round=round_, hospital__slug="hospital-b").proof_root == bundle["merkle_root"]
    )
    assert upload(consortium, round_, "hospital-a", bundle, head).status_code == 201
    response = upload(consortium, round_, "hospital-b", bundle, head)
    assert response.status_code == 400 and "already submitted" in response.json()["detail"]


def test_an_update_whose_head_part_is_not_its_proven_head_changes_nothing_and_fails_no_one(consortium):
    """Attack 8 as found: hospital-a's update moves the head elsewhere than its proof, which used to fail the
    whole round, every round. The new global head is computed from the proven heads alone (under ckks the key
    parties open their exact weighted sum: tests/adversarial/test_shared_head_job.py), so the update's head part
    is never used: the round completes with both hospitals and the proven mean."""
    round_ = collecting_round(consortium)
    honest = honest_run(round_, seed=8)
    response = upload(
        consortium, round_, "hospital-b", prove(consortium, round_, "hospital-b", honest), final_head(honest)
    )
    assert response.status_code == 201
    trace = honest_run(round_, seed=7)
    bundle = prove(consortium, round_, "hospital-a", trace)
    head = final_head(trace)
    other = {**head, "bias": [v + SCALE for v in head["bias"]]}  # the protected update moves the bias by 1.0
    response = upload(consortium, round_, "hospital-a", bundle, head, update_blob(round_, other))
    assert response.status_code == 201
    aggregating.aggregate_round(round_.pk)
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    assert not round_.submissions.exclude(excluded_reason="").exists()
    model = GlobalModel.objects.get(produced_by=round_)
    _, bias = head_of(state_of(model.architecture, load_weights(model)))
    proven = [np.array(final_head(t)["bias"], dtype=object) for t in (trace, honest)]
    assert bias.tolist() == ((SAMPLES * proven[0] + SAMPLES * proven[1]) // (2 * SAMPLES)).tolist()


def test_under_ckks_the_head_never_travels_in_the_clear(consortium):
    """Attack 7: under ckks the portal gets the proven head's commitment, never the head. An upload with a head
    in the clear is refused (an old node), and a bundle alone verifies to the commitment the key parties check
    the shared head against (tests/adversarial/test_shared_head_job.py)."""
    round_ = collecting_round(consortium)
    round_.protection = (
        "ckks"  # the check reads the round's scheme; no committee is needed to verify a bundle
    )
    trace = honest_run(round_, seed=9)
    bundle = prove(consortium, round_, "hospital-a", trace)
    participant = Participant.objects.get(round=round_, hospital__slug="hospital-a")
    with pytest.raises(InvalidUpload, match="keeps every hospital's head encrypted"):
        verification.verify_submission(round_, participant, bundle, final_head(trace), SAMPLES)
    checked = verification.verify_submission(round_, participant, bundle, None, SAMPLES)
    head = final_head(trace)
    assert checked.head is None
    assert checked.head_commitment == str(head_hash(np.array(head["weight"]), np.array(head["bias"])))


def test_a_round_whose_trusted_setup_cannot_run_fails_with_the_reason(consortium, settings, tmp_path):
    settings.DH_PTAU_PATH = tmp_path / "absent.ptau"
    round_ = consortium.plan_round()
    lifecycle.transition(round_, S.APPROVED, "test")
    collecting.open_round(round_.pk)
    round_.refresh_from_db()
    assert round_.state == S.FAILED
    assert "no powers-of-tau file" in round_.reason and "DH_PTAU_PATH" in round_.reason
