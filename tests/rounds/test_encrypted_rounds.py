"""Rounds with CKKS updates: summed blind by the portal, decrypted only jointly by three key-party services
(`python -m keyparty serve`, each its own process with its own home, MPyC over TLS between them)."""

from __future__ import annotations

import io
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from committee import selectors as committee_selectors
from committee import services as committee
from committee.models import DecryptionJob, KeyCommittee
from crypto import ckks, keygen
from crypto.tests.signed_jobs import key_oracle_upload
from demo.committee import local_committee, local_committee_parties
from demo.embedded import free_port, portal_server
from events.models import AuditEvent
from fl.fedavg import weighted_update
from hospitals.services import issue_api_token
from registry import blobstore
from registry.models import GlobalModel
from registry.weights import load_weights
from rounds import federated
from rounds.models import DEFAULT_UPDATE_NORM_BOUND, Round, Submission
from rounds.services import lifecycle
from tests.committee.live import files_holding, in_memory_worker, require_postgres, share_fragments
from tests.conftest import encrypt_for, make_consortium, submit_signed, upload_signature
from tests.reliability.processes import wait_until

pytestmark = [pytest.mark.mpc]

S = Round.State
TERMINAL = {S.COMPLETED, S.FAILED, S.CANCELLED}


def state_of(round_: Round) -> str:
    return Round.objects.values_list("state", flat=True).get(pk=round_.pk)


def run_rounds(
    consortium,
    settings,
    aggregation: str,
    rounds: int,
    committee_homes: Path | None = None,
    server_strategy: dict | None = None,
) -> np.ndarray:
    with portal_server(free_port()) as url, ExitStack() as services:
        consortium.enroll_nodes(url)
        if committee_homes is not None:
            require_postgres()  # the key parties decrypt on their own: their services, and a worker
            token = issue_api_token(consortium.coordinator, "committee")  # that can wait for them
            services.enter_context(local_committee(url, token, committee_homes))
            services.enter_context(in_memory_worker())
        for _ in range(rounds):
            round_ = consortium.plan_round(protection_scheme=aggregation, server_strategy=server_strategy)
            lifecycle.approve_round(consortium.coordinator, round_)
            wait_until(lambda r=round_: state_of(r) == S.COLLECTING, 60, "the round to open")
            consortium.run_nodes()
            wait_until(lambda r=round_: state_of(r) in TERMINAL, 120, "the round to end")
            round_.refresh_from_db()
            assert round_.state == S.COMPLETED, round_.reason
            consortium.model = GlobalModel.objects.get(produced_by=round_)
    return load_weights(consortium.model)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "server_strategy", [None, {"name": "fedadam", "eta": 0.01}], ids=["fedavg", "fedadam"]
)
def test_encrypted_rounds_match_the_plaintext_baseline(hospital_data, settings, tmp_path, server_strategy):
    """Same data, same seeds, a fresh portal each: CKKS with threshold decryption vs the plaintext baseline,
    with FedAvg and with FedAdam (whose moments the portal keeps beside each model version between rounds)."""
    encrypted = run_rounds(
        hospital_data,
        settings,
        "ckks",
        rounds=2,
        committee_homes=tmp_path / "keyparties",
        server_strategy=server_strategy,
    )
    if server_strategy:
        last = GlobalModel.objects.order_by("-version").first()
        assert last.server_strategy["name"] == "fedadam" and last.server_state_digest
    stored = list(Submission.objects.values_list("blob_digest", flat=True))
    assert len(stored) == 4
    for digest in stored:  # what the portal stored is ciphertext under the committee's key
        assert blobstore.read_bytes(digest)[:4] == b"DHCB"
    for round_ in Round.objects.all():  # the key parties' part, timed from the job to its opened sum
        assert round_.stage_seconds["decryption"] > 0
    call_command("flush", interactive=False, verbosity=0)
    baseline = run_rounds(
        make_consortium(hospital_data.data_dir),
        settings,
        "plaintext",
        rounds=2,
        server_strategy=server_strategy,
    )
    assert np.array_equal(encrypted, baseline)  # the opened sum, snapped to the update grid, is exact
    assert not any("decryption" in r.stage_seconds for r in Round.objects.all())  # nothing was decrypted


@dataclass
class DecryptedRound:
    round: Round
    updates: list[np.ndarray]
    samples: list[int]
    homes: Path  # the key parties' homes, one folder each
    logs: list[str]  # each party's `serve` log


KEY_ORACLE, SCALED_X100 = "the key oracle", "an update scaled x100"


def attacker_upload(committee: KeyCommittee, length: int, attack: str) -> tuple[bytes, int]:
    """Hospital c's upload and n_h for `attack`: the key oracle (0, Delta) with a witness of its choosing, or a
    model-replacing update x100 the plan's bound, encrypted by a node that ignores the bound."""
    if attack == KEY_ORACLE:
        keys = [bytes.fromhex(key) for key in committee_selectors.witness_keys(committee)]
        context = committee_selectors.public_context(committee)
        return key_oracle_upload(context, keys, length, np.zeros(ckks.POLY_MODULUS_DEGREE, np.int8)), 1000
    direction = np.random.default_rng(7).normal(size=length)
    honest = direction * (0.9 * DEFAULT_UPDATE_NORM_BOUND / np.linalg.norm(direction))
    return encrypt_for(committee, 100 * honest, norm_bound=1e12), 1000


def decrypted_round(consortium, tmp_path: Path, attack_from_c: str | None = None) -> DecryptedRound:
    """A live portal and worker; three `python -m keyparty serve` processes enrolled and made a committee
    through the API; a ckks round whose two updates (on the update grid) they decrypt together. With
    `attack_from_c` (attacker_upload), hospital c is in the round too (quorum 2) and uploads that attack under
    its own signature."""
    require_postgres()
    homes = tmp_path / "keyparties"
    rng = np.random.default_rng(5)
    samples = [40, 17]
    length = consortium.model.architecture.parameter_count
    updates = [weighted_update(rng.normal(size=length) * 0.01, n) for n in samples]
    with portal_server(free_port()) as url, in_memory_worker():
        token = issue_api_token(consortium.coordinator, "committee")
        with local_committee_parties(url, token, homes) as local:
            participants = [consortium.hospital_a, consortium.hospital_b]
            if attack_from_c:
                participants.append(consortium.hospital_c)
            round_ = consortium.plan_round(participants, quorum=2, protection_scheme="ckks")
            assert round_.committee_id == local.id
            for target in (S.APPROVED, S.OPEN, S.COLLECTING):
                lifecycle.transition(round_, target, "test")
            committee = KeyCommittee.objects.get(pk=local.id)
            hospitals = (consortium.hospital_a, consortium.hospital_b)
            for hospital, update, n in zip(hospitals, updates, samples, strict=True):
                blob = encrypt_for(committee, update)
                submit_signed(hospital, round_.pk, blob, n)
            if attack_from_c:
                submit_signed(
                    consortium.hospital_c, round_.pk, *attacker_upload(committee, length, attack_from_c)
                )
            wait_until(lambda: state_of(round_) in TERMINAL, 90, "the round to end")
            logs = [party.log() for party in local.parties]
    round_.refresh_from_db()
    return DecryptedRound(round_, updates, samples, homes, logs)


def assert_model_of_the_honest_updates(consortium, done: DecryptedRound) -> None:
    """The round completed with exactly the model the plaintext FedAvg of its honest updates gives."""
    assert done.round.state == S.COMPLETED, done.round.reason
    expected = federated.next_global_vector(
        consortium.model.architecture, load_weights(consortium.model), sum(done.updates), sum(done.samples)
    ).vector
    assert np.array_equal(load_weights(GlobalModel.objects.get(produced_by=done.round)), expected)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_round_is_decrypted_by_three_key_party_services_over_tls(consortium, tmp_path):
    """The new model is exactly the one the plaintext sum gives; every party posted the same opened vector,
    having talked MPyC over TLS."""
    done = decrypted_round(consortium, tmp_path)
    assert_model_of_the_honest_updates(consortium, done)
    job = DecryptionJob.objects.get(name=f"round-{done.round.pk}")
    assert job.state == "done" and job.attempt == 1 and len(job.results) == 3
    reports = [result["report"] for result in job.results.values()]
    assert all(report["tls"] and report["mpc_bytes_sent"] > 0 for report in reports)
    assert all("opened sum posted" in log and "(TLS)" in log for log in done.logs), done.logs


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("attack", "reason"),
    [(KEY_ORACLE, "not a well-formed encryption"), (SCALED_X100, "above the round plan's update_norm_bound")],
)
def test_a_hospital_uploading_an_attack_is_excluded_and_named_and_the_round_completes(
    consortium, tmp_path, attack, reason
):
    """Hospital c uploads, under its own signature, the key oracle (0, Delta) with a witness of its choosing, or
    an update scaled x100 to replace the model: the key parties find it before using their shares (not well
    formed; or its norm, compared in MPC, above the plan's bound) and name it; the portal excludes it (audit
    trail) and the parties open the sum of a and b alone, which gives exactly the model of a and b."""
    done = decrypted_round(consortium, tmp_path, attack_from_c=attack)
    assert_model_of_the_honest_updates(consortium, done)
    refused = DecryptionJob.objects.get(name=f"round-{done.round.pk}")
    assert refused.state == "failed" and refused.results == {}  # nothing was opened
    assert f"{consortium.hospital_c.slug}'s upload" in refused.failures[-1]["reason"]
    assert reason in refused.failures[-1]["reason"]
    excluded = Submission.objects.get(round=done.round, hospital=consortium.hospital_c)
    assert excluded.excluded_reason.startswith("key parties:") and reason in excluded.excluded_reason
    events = AuditEvent.objects.filter(round_id=done.round.pk, kind="excluded")
    assert [event.detail["hospital"] for event in events] == [consortium.hospital_c.slug]
    model = GlobalModel.objects.get(produced_by=done.round)
    assert sorted(model.metrics["participants"]) == sorted(
        [consortium.hospital_a.slug, consortium.hospital_b.slug]
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_no_file_of_the_portal_holds_a_key_share(consortium, settings, tmp_path):
    """After a committee is made and a decryption job done, every file under the portal's DATA_DIR is searched
    for pieces of each party's key share (as its home holds it, and as crypto.keygen loads it)."""
    done = decrypted_round(consortium, tmp_path)
    assert done.round.state == S.COMPLETED, done.round.reason
    fragments = share_fragments(sorted(done.homes.iterdir()))
    assert len({name.split(" ")[0] for name in fragments}) == 3  # a share in each party's home
    assert any(Path(settings.DATA_DIR).rglob("*"))  # the portal did store blobs, contexts, contributions
    assert files_holding(settings.DATA_DIR, fragments) == []
    leak = tmp_path / "would-be-leak"  # and the search does find a share where there is one
    leak.mkdir()
    leak.joinpath("copy").write_bytes(next(done.homes.rglob(keygen.SECRET_SHARE_FILE)).read_bytes())
    assert files_holding(leak, fragments)


def test_a_committee_needs_an_honest_majority(consortium):
    from web.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at least 3"):
        committee.create_committee(consortium.coordinator, [1, 2])


def test_ckks_round_needs_a_committee(consortium):
    from web.errors import InvalidInput

    with pytest.raises(InvalidInput, match="needs an active key committee"):
        consortium.plan_round(protection_scheme="ckks")


@pytest.fixture
def collecting_ckks(consortium, key_committee):
    round_ = consortium.plan_round(protection_scheme="ckks")
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    return round_


def upload(consortium, round_id, blob):
    signature = upload_signature(consortium.hospital_a, round_id, blob, 40)
    return consortium.client("node_hospital-a").post(
        f"/api/node/rounds/{round_id}/submission/",
        {"update": io.BytesIO(blob), "num_samples": 40, "metrics": "{}", "signature": signature},
        format="multipart",
    )


def encrypted_update(key_committee: KeyCommittee, length: int) -> bytes:
    return encrypt_for(key_committee, np.full(length, 0.25))


def test_valid_ciphertext_is_accepted(consortium, collecting_ckks, key_committee):
    length = consortium.model.architecture.parameter_count
    response = upload(consortium, collecting_ckks.pk, encrypted_update(key_committee, length))
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda blob, other: blob[: len(blob) // 2], "truncated"),
        (lambda blob, other: blob + b"\0" * 100, ""),
        (lambda blob, other: other, "another key"),
        (lambda blob, other: b"DHCB" + b"\0" * 60, ""),
    ],
    ids=["truncated", "oversize", "other-key", "garbage"],
)
def test_bad_ciphertexts_are_refused_and_nothing_changes(
    consortium, collecting_ckks, key_committee, tmp_path, mangle, reason
):
    length = consortium.model.architecture.parameter_count
    other_context, _ = keygen.create_local_committee(tmp_path / "other", parties=3)
    other = ckks.encrypt_vector(other_context, np.zeros(length))
    response = upload(consortium, collecting_ckks.pk, mangle(encrypted_update(key_committee, length), other))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Encrypted update refused")
    assert reason in response.json()["detail"]
    assert not Submission.objects.exists()


def test_an_upload_without_a_witness_share_for_every_key_party_is_refused(
    consortium, collecting_ckks, key_committee
):
    """The key parties would refuse it (nothing shows it is a well-formed encryption): the portal refuses it first,
    with the reason, and stores nothing."""
    from crypto import wellformed

    length = consortium.model.architecture.parameter_count
    context = committee_selectors.public_context(key_committee)
    keys = [bytes.fromhex(key) for key in committee_selectors.witness_keys(key_committee)]
    for blob, reason in (
        (ckks.encrypt_vector(context, np.full(length, 0.25)), "it carries no witness"),
        (
            wellformed.encrypt_vector(context, np.full(length, 0.25), keys[:2], DEFAULT_UPDATE_NORM_BOUND),
            "witness shares for 2 key parties",
        ),
    ):
        response = upload(consortium, collecting_ckks.pk, blob)
        assert response.status_code == 400
        assert (
            reason in response.json()["detail"]
            and "the committee has 3 key parties" in response.json()["detail"]
        )
        assert not Submission.objects.exists()


def test_wrong_number_of_ciphertexts_is_refused(consortium, collecting_ckks, key_committee):
    length = consortium.model.architecture.parameter_count
    # Fewer ciphertexts than the model needs: the ciphertext check refuses it.
    response = upload(consortium, collecting_ckks.pk, encrypted_update(key_committee, length - 5000))
    assert response.status_code == 400
    assert "Encrypted update refused" in response.json()["detail"]
    # More: longer than any update of the model, refused at the round's own upload limit before being parsed.
    response = upload(consortium, collecting_ckks.pk, encrypted_update(key_committee, length + 5000))
    assert response.status_code == 413
    assert (
        f"for round {collecting_ckks.pk} (a ckks update of {length} parameters" in response.json()["detail"]
    )
    assert not Submission.objects.exists()


def test_plaintext_blob_is_refused_in_an_encrypted_round(consortium, collecting_ckks):
    from crypto import plain

    response = upload(
        consortium, collecting_ckks.pk, plain.encode(np.zeros(consortium.model.architecture.parameter_count))
    )
    assert response.status_code == 400
    assert not Submission.objects.exists()
