"""Rounds recorded on a real EVM (one hardhat node for the session): opened, submitted, closed, audited."""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from conftest import shared_file
from contracts.client import (
    ChainConnection,
    ChainError,
    SnarkjsProof,
    all_proofs_hash,
    bundle_proofs,
    submission_proof_hash,
)
from contracts.localchain import LocalChain
from contracts.registry import RoundRegistry
from crypto.zk import prove_training
from crypto.zk.build import DEFAULT_SHAPE
from crypto.zk.dev import dev_proving_key, synthetic_trace
from crypto.zk.merkle import ProofContext
from demo.embedded import free_port, portal_server
from events.models import AuditEvent
from hospitals import services as hospital_services
from ledger import selectors as audit
from ledger import services as chain
from ledger.connection import ChainRefused, ChainUnavailable
from ledger.models import ChainTransaction
from node import chain as node_chain
from node import keys as node_keys
from protocol import signing
from protocol.plan import canonical_json
from registry import blobstore
from registry.models import GlobalModel
from rounds.models import Round, Submission
from rounds.services import lifecycle
from tests.conftest import plain_update

pytestmark = [pytest.mark.chain, pytest.mark.zk]

S = Round.State
Kind = ChainTransaction.Kind


@pytest.fixture(scope="session")
def hardhat() -> Iterator[LocalChain]:
    with LocalChain() as local_chain:
        yield local_chain


@pytest.fixture
def chain_on(settings, hardhat: LocalChain) -> LocalChain:
    settings.DH_CHAIN = "local"
    settings.DH_CHAIN_RPC_URL = settings.DH_CHAIN_PUBLIC_RPC_URL = hardhat.url
    settings.DH_CHAIN_ID = 31337
    return hardhat


def registry_of(round_: Round) -> RoundRegistry:
    return chain.registry_of(chain.round_transaction(round_, Kind.OPEN).deployment)


@pytest.fixture
def hospital_keys(consortium, tmp_path) -> dict[str, Path]:
    """Each hospital's own chain key (a file, as on its node), registered as `dh-node enroll` registers it."""
    key_files = {}
    for hospital in (consortium.hospital_a, consortium.hospital_b, consortium.hospital_c):
        code, _ = hospital_services.issue_enrollment_code(consortium.coordinator, hospital)
        key_files[hospital.slug] = tmp_path / f"{hospital.slug}-chain.key"
        chain_key = node_keys.create_key(key_files[hospital.slug])
        signing_key = node_keys.create_key(tmp_path / f"{hospital.slug}-signing.key")
        _, consortium.node_tokens[hospital.slug] = hospital_services.enroll_node(
            code, signing_key.address, chain_key.address
        )
        hospital.refresh_from_db()
    return key_files


def submit_as_hospital(
    key_file: Path, round_: Round, hospital, blob: bytes, bundle: dict | None = None
) -> None:
    """What the hospital's node does before uploading: submit(round, its update's hash, its proofs) from its
    own account, to the registry its task names."""
    material = audit.node_chain_task(round_, hospital)
    node_chain.submit_on_chain(material, blob, bundle, settings.DH_CHAIN_RPC_URL, str(key_file))


def upload(
    consortium, round_: Round, slug: str, scale: float, key_file: Path, recorded_scale: float | None = None
) -> None:
    """The node's submission on chain, then its upload signed with its signing key (as node/pipeline.py). With
    recorded_scale, the node records another update on chain than the one it uploads."""
    blob = plain_update(consortium.model, scale)
    recorded = blob if recorded_scale is None else plain_update(consortium.model, recorded_scale)
    submit_as_hospital(key_file, round_, consortium.hospital(slug), recorded)
    signing_key = node_keys.load_key(key_file.with_name(f"{slug}-signing.key"))
    statement = signing.upload_statement(
        round_.pk, hashlib.sha256(blob).hexdigest(), 40, round_.update_norm_bound
    )
    response = consortium.client(f"node_{slug}").post(
        f"/api/node/rounds/{round_.pk}/submission/",
        {
            "update": io.BytesIO(blob),
            "num_samples": 40,
            "metrics": "{}",
            "signature": signing.sign_text(signing_key, statement),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content


def run_round_without_training(consortium, hospital_keys) -> Round:
    """The portal's whole path (approve, open, uploads, aggregation) with fixed updates instead of nodes."""
    round_ = consortium.plan_round()
    lifecycle.approve_round(consortium.coordinator, round_)
    for scale, slug in enumerate(["hospital-a", "hospital-b"], start=1):
        upload(consortium, round_, slug, 0.01 * scale, hospital_keys[slug])
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    return round_


@pytest.mark.django_db(transaction=True)
def test_round_through_the_portal_is_recorded_on_chain(hospital_data, settings, chain_on):
    with portal_server(free_port()) as url:
        hospital_data.enroll_nodes(url)
        round_ = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, round_)
        hospital_data.run_nodes()
        round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason

    registry = registry_of(round_)
    record = registry.read_round(round_.pk)
    model = GlobalModel.objects.get(produced_by=round_)
    submissions = list(round_.submissions.select_related("hospital").order_by("hospital__slug"))
    addresses = [s.hospital.chain_address for s in submissions]
    assert record.state == "closed"
    assert record.model_hash == "0x" + round_.base_model.weights_digest
    assert record.config_hash == "0x" + round_.config_hash
    assert record.new_model_hash == "0x" + model.weights_digest
    assert sorted(record.submitters) == sorted(record.participants) == sorted(addresses)
    for submission in submissions:
        on_chain = registry.read_submission(round_.pk, submission.hospital.chain_address)
        assert on_chain.update_hash == "0x" + submission.blob_digest
        assert (on_chain.proof_count, on_chain.included) == (0, True)

    transactions = list(ChainTransaction.objects.filter(round=round_).order_by("id"))
    assert [t.kind for t in transactions] == [Kind.REGISTER] * 2 + [
        Kind.OPEN,
        Kind.SUBMIT,
        Kind.SUBMIT,
        Kind.CLOSE,
    ]
    assert all(t.gas_used > 20_000 and t.block_number > 0 for t in transactions)
    events = AuditEvent.objects.filter(round=round_, kind__startswith="chain_")
    assert sorted(e.detail["tx_hash"] for e in events) == sorted(t.tx_hash for t in transactions)
    assert audit.audit_round(round_)["consistent"] is True

    # Reruns send nothing: every hook finds its transaction first.
    block = registry.connection.w3.eth.block_number
    chain.record_open(round_)
    for submission in submissions:
        chain.record_submission(submission)
    chain.record_close(round_, model.weights_digest, submissions)
    ChainTransaction.objects.filter(round=round_, kind=Kind.SUBMIT).first().delete()  # as if the worker
    for submission in submissions:  # crashed after sending: found on chain, stored, not resent
        chain.record_submission(submission)
    assert registry.connection.w3.eth.block_number == block
    assert ChainTransaction.objects.filter(round=round_).count() == len(transactions)


@pytest.mark.django_db(transaction=True)
def test_on_a_public_chain_each_hospital_node_signs_its_own_submission(
    hospital_data, settings, hardhat, monkeypatch
):
    """DH_CHAIN=sepolia's path, on the hardhat node: the portal holds the coordinator's key only and funds no
    one; each hospital funds its own enrolled account and its node signs its own submission."""
    accounts = hardhat.accounts()
    settings.DH_CHAIN, settings.DH_CHAIN_ID = "sepolia", 31337
    settings.DH_CHAIN_RPC_URL = settings.DH_CHAIN_PUBLIC_RPC_URL = hardhat.url
    monkeypatch.setenv("DH_CHAIN_PRIVATE_KEY", accounts[0].key.hex())
    with portal_server(free_port()) as url:
        homes = hospital_data.enroll_nodes(url)
        addresses = []
        for slug, funder in (("hospital-a", accounts[11]), ("hospital-b", accounts[12])):
            account = node_keys.load_key(homes[slug] / "chain.key")
            chain.connection().send_value(funder, account.address, 10**18)
            addresses.append(account.address)
        round_ = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, round_)
        hospital_data.run_nodes()
        round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    assert chain.connection().dev_accounts == ()  # no hospital key on the portal's side
    record = registry_of(round_).read_round(round_.pk)
    assert record.state == "closed"
    assert sorted(record.participants) == sorted(addresses)
    assert audit.audit_round(round_)["consistent"] is True


@pytest.mark.django_db(transaction=True)
def test_a_hospital_whose_record_on_chain_is_not_its_upload_is_excluded_and_the_round_completes(
    consortium, chain_on, hospital_keys
):
    """Attack 8 of the security review, for what the portal can attribute: one hospital's submission fails a
    check after it was accepted (the chain records another update). It is left out and named in the audit
    trail; the round completes with the others, since the quorum (2 of 3) still holds."""
    hospitals = [consortium.hospital_a, consortium.hospital_b, consortium.hospital_c]
    round_ = consortium.plan_round(hospitals, quorum=2)
    lifecycle.approve_round(consortium.coordinator, round_)
    upload(consortium, round_, "hospital-c", 0.03, hospital_keys["hospital-c"], recorded_scale=0.5)
    for scale, slug in enumerate(["hospital-a", "hospital-b"], start=1):
        upload(consortium, round_, slug, 0.01 * scale, hospital_keys[slug])
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    [event] = AuditEvent.objects.filter(round=round_, kind="excluded")
    assert event.detail["hospital"] == "hospital-c"
    assert "Hospital C's submission on chain records update" in event.detail["reason"]
    assert Submission.objects.get(round=round_, hospital__slug="hospital-c").excluded_reason
    model = GlobalModel.objects.get(produced_by=round_)
    assert model.metrics["participants"] == ["hospital-a", "hospital-b"]
    record = registry_of(round_).read_round(round_.pk)
    assert sorted(record.participants) == sorted(h.chain_address for h in hospitals[:2])
    report = audit.audit_round(round_)
    assert report["consistent"] is True, report["differences"]
    assert [entry["hospital"] for entry in report["excluded"]] == ["hospital-c"]


@pytest.mark.django_db(transaction=True)
def test_below_the_quorum_once_excluded_the_round_fails_naming_the_exclusion(
    consortium, chain_on, hospital_keys
):
    round_ = consortium.plan_round()  # hospitals A and B, quorum 2
    lifecycle.approve_round(consortium.coordinator, round_)
    upload(consortium, round_, "hospital-a", 0.01, hospital_keys["hospital-a"], recorded_scale=0.5)
    upload(consortium, round_, "hospital-b", 0.02, hospital_keys["hospital-b"])
    round_.refresh_from_db()
    assert round_.state == S.FAILED
    assert "quorum not met: 1 of 2 required submissions; hospital-a excluded (chain:" in round_.reason


@pytest.mark.django_db(transaction=True)
def test_audit_reports_exactly_what_was_altered_in_the_database(consortium, chain_on, hospital_keys):
    round_ = run_round_without_training(consortium, hospital_keys)
    call_command("audit", str(round_.pk), stdout=io.StringIO())  # consistent: no error

    submission = Submission.objects.get(round=round_, hospital__slug="hospital-a")
    original_update = submission.blob_digest
    Submission.objects.filter(pk=submission.pk).update(blob_digest="ab" * 32)
    model = GlobalModel.objects.get(produced_by=round_)
    GlobalModel.objects.filter(pk=model.pk).update(weights_digest="cd" * 32)

    report = audit.audit_round(round_)
    assert report["consistent"] is False
    assert report["differences"] == [
        {
            "field": "update_hash",
            "hospital": "hospital-a",
            "database": "0x" + "ab" * 32,
            "chain": "0x" + original_update,
        },
        {"field": "new_model_hash", "database": "0x" + "cd" * 32, "chain": "0x" + model.weights_digest},
    ]
    out = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("audit", str(round_.pk), stdout=out)
    assert refused.value.returncode == 1
    assert "update_hash [hospital-a]" in out.getvalue() and "new_model_hash" in out.getvalue()

    # The API: the coordinator and the round's hospitals, with the same report.
    response = consortium.client("admin_a").get(f"/api/rounds/{round_.pk}/audit/")
    assert response.status_code == 200 and response.json() == report
    assert consortium.client("outsider").get(f"/api/rounds/{round_.pk}/audit/").status_code == 403
    detail = consortium.client("coordinator").get(f"/api/rounds/{round_.pk}/").json()
    assert detail["chain"]["gas_used"] == sum(
        t.gas_used for t in ChainTransaction.objects.filter(round=round_).exclude(kind=Kind.REGISTER)
    )


@pytest.fixture(scope="module")
def dev_key():
    return dev_proving_key(shared_file("zk/pot15_dev_final.ptau"), DEFAULT_SHAPE)


def proof_round(consortium, dev_key, every_step: bool = False) -> Round:
    """A collecting round whose proving key is the dev key (as proofs.ceremony records it on the round), one
    proof verified on chain per submission (with every_step, of a run that proves every step)."""
    round_ = consortium.plan_round(
        [consortium.hospital_a, consortium.hospital_b, consortium.hospital_c],
        config={
            "batch_size": DEFAULT_SHAPE.batch,
            "proof_steps": 1,
            **({"prove_every_step": True} if every_step else {}),
        },
    )
    vkey = dev_key.verification_key()
    with open(dev_key.zkey, "rb") as handle:
        zkey_digest, _ = blobstore.put_chunks(iter(lambda: handle.read(1 << 20), b""), 1 << 30)
    round_.proof_scheme = "groth16"
    round_.proof_setup = {
        "vkey": vkey,
        "vkey_sha256": blobstore.put_bytes(canonical_json(vkey)),
        "zkey_sha256": zkey_digest,
    }
    round_.save()
    for target in (S.APPROVED, S.OPEN):
        lifecycle.transition(round_, target, "test")
    chain.record_open(round_)
    lifecycle.transition(round_, S.COLLECTING, "test")
    return round_


def proven_submission(consortium, round_: Round, slug: str, bundle: dict) -> Submission:
    digest = blobstore.put_bytes(plain_update(consortium.model, 0.1))
    return Submission.objects.create(
        round=round_,
        hospital=consortium.hospital(slug),
        blob_digest=digest,
        blob_size=1,
        num_samples=40,
        proof=bundle,
        proof_status="verified",
    )


def recorded_submission(consortium, round_: Round, slug: str, bundle: dict, key_files: dict) -> Submission:
    """A verified submission whose hospital recorded it on chain with its bundle, found there by the portal."""
    submission = proven_submission(consortium, round_, slug, bundle)
    blob = blobstore.read_bytes(submission.blob_digest)
    submit_as_hospital(key_files[slug], round_, consortium.hospital(slug), blob, bundle)
    chain.record_submission(submission)
    return submission


@pytest.mark.django_db(transaction=True)
def test_with_every_step_proven_the_chain_verifies_a_sample_it_draws_after_the_commitment(
    consortium, chain_on, dev_key, hospital_keys
):
    round_ = proof_round(consortium, dev_key, every_step=True)
    registry = registry_of(round_)
    assert registry.read_round(round_.pk).every_step
    context = ProofContext(
        f"round {round_.pk}|hospital-b",
        round_.pk,
        consortium.hospital_b.chain_address,
        round_.base_model.weights_digest,
    )
    # The node commits to all three proofs, then the chain verifies the one it drew from the commitment's block
    # hash; the portal finds that proof in the upload; the whole bundle stays with the submission to re-verify.
    every_step = prove_training(
        synthetic_trace(3 * DEFAULT_SHAPE.steps), context, 1, dev_key, every_step=True
    )
    assert len(every_step["proofs"]) == 3
    sampled = recorded_submission(consortium, round_, "hospital-b", every_step, hospital_keys)
    on_chain = registry.read_submission(round_.pk, consortium.hospital_b.chain_address)
    assert (on_chain.proof_count, on_chain.verified) == (3, True)
    (position,) = registry.sample_positions(round_.pk, consortium.hospital_b.chain_address)
    assert chain.submission_proofs(sampled, registry) == [bundle_proofs(every_step)[position]]
    assert on_chain.proof_hash == submission_proof_hash(chain.submission_proofs(sampled, registry))
    # Every proof the hospital made is bound on chain by its hash, committed before the sample was drawn.
    assert on_chain.all_proofs_hash == all_proofs_hash(every_step) != on_chain.proof_hash
    events = [e["event"] for e in registry.round_events(round_.pk)]
    assert events == ["RoundOpened", "SubmissionCommitted", "SubmissionRecorded"]
    assert audit.audit_round(round_)["consistent"]


@pytest.mark.django_db(transaction=True)
def test_a_node_that_commits_other_proofs_than_it_uploads_outside_the_chain_sample_is_refused(
    consortium, chain_on, dev_key, hospital_keys
):
    """Every step proven: the chain verifies only the sample, so a node could commit one run's proofs and upload
    others that agree with them on the sample (here: one proof outside it re-made, another proof of the same
    statement). The hash of all the proofs committed on chain tells them apart, and the portal refuses the
    submission naming both hashes; the audit then reports the difference too."""
    round_ = proof_round(consortium, dev_key, every_step=True)
    hospital = consortium.hospital_c
    context = ProofContext(
        f"round {round_.pk}|hospital-c", round_.pk, hospital.chain_address, round_.base_model.weights_digest
    )
    trace = synthetic_trace(3 * DEFAULT_SHAPE.steps)
    recorded = prove_training(trace, context, 1, dev_key, every_step=True)
    submission = proven_submission(consortium, round_, "hospital-c", recorded)
    submit_as_hospital(
        hospital_keys["hospital-c"], round_, hospital, blobstore.read_bytes(submission.blob_digest), recorded
    )
    # Knowing the sample now, the node swaps a proof outside it for another of the same statement.
    registry = registry_of(round_)
    sample = registry.sample_positions(round_.pk, hospital.chain_address)
    outside = next(i for i in range(3) if i not in sample)
    again = prove_training(trace, context, 1, dev_key, every_step=True)
    submission.proof = copy.deepcopy(recorded)
    submission.proof["proofs"][outside] = again["proofs"][outside]
    submission.save(update_fields=["proof"])
    with pytest.raises(ChainRefused, match="records all its proofs as 0x[0-9a-f]+, not its upload's 0x"):
        chain.record_submission(submission)
    assert (
        submission_proof_hash(chain.submission_proofs(submission, registry))
        == registry.read_submission(round_.pk, hospital.chain_address).proof_hash
    )  # the sample alone agrees
    report = audit.audit_round(round_)
    assert any(d["field"] == "all_proofs_hash" for d in report["differences"]), report


@pytest.mark.django_db(transaction=True)
def test_proofs_are_verified_on_chain_and_refusals_come_back_with_the_reason(
    consortium, chain_on, dev_key, hospital_keys
):
    round_ = proof_round(consortium, dev_key)
    deployment = chain.round_transaction(round_, Kind.OPEN).deployment
    assert deployment.verification_key_digest == round_.proof_setup["vkey_sha256"]
    assert deployment.num_public_signals == 5
    registry = registry_of(round_)

    def context(hospital) -> ProofContext:  # what the registry binds each proof to
        text = f"round {round_.pk}|{hospital.slug}"
        return ProofContext(text, round_.pk, hospital.chain_address, round_.base_model.weights_digest)

    bundle = prove_training(
        synthetic_trace(3 * DEFAULT_SHAPE.steps), context(consortium.hospital_a), 1, dev_key
    )
    good = recorded_submission(consortium, round_, "hospital-a", bundle, hospital_keys)
    on_chain = registry.read_submission(round_.pk, consortium.hospital_a.chain_address)
    assert on_chain.proof_count == 1
    assert on_chain.proof_hash == submission_proof_hash(chain.submission_proofs(good, registry))

    # Hospital C records one proof on chain and uploads another of the same run (re-randomised: another proof
    # hash): the portal compares the chain's proof hash with the upload's and refuses to count it.
    trace = synthetic_trace(3 * DEFAULT_SHAPE.steps)
    recorded = prove_training(trace, context(consortium.hospital_c), 1, dev_key)
    uploaded = prove_training(trace, context(consortium.hospital_c), 1, dev_key)
    other = proven_submission(consortium, round_, "hospital-c", uploaded)
    submit_as_hospital(
        hospital_keys["hospital-c"],
        round_,
        consortium.hospital_c,
        blobstore.read_bytes(other.blob_digest),
        recorded,
    )
    with pytest.raises(ChainRefused, match="Hospital C's submission on chain records proofs 0x"):
        chain.record_submission(other)

    # Hospital A's proof sent by hospital B: bound to A, refused.
    with pytest.raises(ChainError, match="proof bound to another round, hospital, model or run: proof 0"):
        submit_as_hospital(hospital_keys["hospital-b"], round_, consortium.hospital_b, b"update", bundle)
    # A bad proof: the statement changed (another batch hash) -> the verifier refuses; the round fails with it.
    bundle = prove_training(
        synthetic_trace(3 * DEFAULT_SHAPE.steps), context(consortium.hospital_b), 1, dev_key
    )
    entry = bundle["proofs"][0]
    forged = {
        **entry,
        "public_signals": [*entry["public_signals"][:2], "12345", *entry["public_signals"][3:]],
    }
    with pytest.raises(ChainError, match="invalid proof 0"):
        submit_as_hospital(
            hospital_keys["hospital-b"],
            round_,
            consortium.hospital_b,
            b"update",
            {**bundle, "proofs": [forged]},
        )
    assert registry.read_submission(round_.pk, consortium.hospital_b.chain_address) is None
    # A submission the chain does not hold is not recorded: the portal waits for it (the task retries).
    waiting = proven_submission(consortium, round_, "hospital-b", bundle)
    with pytest.raises(ChainUnavailable, match="has not recorded its submission on chain yet"):
        chain.record_submission(waiting)
    lifecycle.fail_round(round_, "test: a hospital never recorded its submission")
    assert registry.read_round(round_.pk).state == "cancelled"  # the failed round is cancelled on chain

    # Through the client against the portal's deployment: an unregistered sender, a close from a hospital.
    connection: ChainConnection = chain.connection()
    outsider = connection.dev_accounts[-1]
    proof = SnarkjsProof.from_json(bundle["proofs"][0])
    open_id = round_.pk + 1000
    registry.open_round(open_id, "0x" + "11" * 32, "0x" + "22" * 32, 1)
    with pytest.raises(ChainError, match="sender is not a registered hospital"):
        registry.submit(outsider, open_id, "0x" + "33" * 32, [proof])
    hospital_key = node_keys.load_key(hospital_keys["hospital-a"])
    as_hospital = RoundRegistry(ChainConnection(connection.w3, hospital_key), registry.address)
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.close_round(open_id, "0x" + "44" * 32, [hospital_key.address])


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_chain_fails_the_round_with_the_reason(consortium, settings, chain_on, hospital_keys):
    settings.DH_CHAIN_RPC_URL = f"http://127.0.0.1:{free_port()}"
    round_ = consortium.plan_round()
    lifecycle.approve_round(consortium.coordinator, round_)
    round_.refresh_from_db()
    assert round_.state == S.FAILED
    assert "the chain did not answer" in round_.reason
    assert not ChainTransaction.objects.exists()
