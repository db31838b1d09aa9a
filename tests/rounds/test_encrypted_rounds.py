"""Rounds with CKKS updates: summed blind by the portal, decrypted only jointly by three key-party processes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command

from committee import selectors as committee_selectors
from committee import services as committee
from committee.models import KeyCommittee
from crypto import ckks, keygen
from demo.embedded import free_port, portal_server
from hospitals.models import User
from registry import blobstore
from registry.models import GlobalModel
from registry.weights import load_weights
from rounds.models import Round, Submission
from rounds.services import aggregating, lifecycle
from tests.conftest import make_consortium

pytestmark = [pytest.mark.mpc]

S = Round.State


def run_rounds(consortium, settings, aggregation: str, rounds: int) -> np.ndarray:
    with portal_server(free_port()) as url:
        consortium.write_node_configs(url, settings.DH_NODE_CONFIG_DIR)
        for _ in range(rounds):
            round_ = consortium.plan_round(protection_scheme=aggregation)
            lifecycle.approve_round(consortium.coordinator, round_)
            round_.refresh_from_db()
            assert round_.state == S.COMPLETED, round_.reason
            consortium.model = GlobalModel.objects.get(produced_by=round_)
    return load_weights(consortium.model)


@pytest.mark.django_db(transaction=True)
def test_encrypted_rounds_match_the_plaintext_baseline(hospital_data, key_committee, settings):
    """Same data, same seeds, a fresh portal each: CKKS with threshold decryption vs the plaintext baseline."""
    encrypted = run_rounds(hospital_data, settings, "ckks", rounds=2)
    stored = list(Submission.objects.values_list("blob_digest", flat=True))
    assert len(stored) == 4
    for digest in stored:  # what the portal stored is ciphertext under the committee's key
        assert blobstore.read_bytes(digest)[:4] == b"DHCB"
    call_command("flush", interactive=False, verbosity=0)
    baseline = run_rounds(make_consortium(hospital_data.data_dir), settings, "plaintext", rounds=2)
    assert np.array_equal(encrypted, baseline)  # the opened sum, snapped to the update grid, is exact


def test_local_committee_ceremony_keeps_shares_with_the_parties(consortium, settings):
    created = committee.setup_local_committee(consortium.coordinator, parties=3)
    assert len(created.parties) == 3 and len({p["commitment"] for p in created.parties}) == 3
    context = committee_selectors.public_context(created)
    assert ckks.load_public_context(context)  # refuses a context holding a secret key
    for party in created.parties:
        share = keygen.load_secret_share(party["location"])
        assert share is not None
    # Nothing the portal stores is a secret share: only digests, commitments and share folder locations.
    assert not list((settings.DATA_DIR / "blobs").rglob("*secret*"))


def test_a_committee_needs_an_honest_majority(consortium):
    from web.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at least 3"):
        committee.setup_local_committee(consortium.coordinator, parties=2)


def test_ckks_round_needs_a_committee(consortium):
    from web.errors import InvalidInput

    with pytest.raises(InvalidInput, match="keyparty setup-local"):
        consortium.plan_round(protection_scheme="ckks")


@pytest.fixture
def collecting_ckks(consortium, key_committee):
    round_ = consortium.plan_round(protection_scheme="ckks")
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    return round_


def upload(consortium, round_id, blob):
    return consortium.client("node_hospital-a").post(
        f"/api/node/rounds/{round_id}/submission/",
        {"update": io.BytesIO(blob), "num_samples": 40, "metrics": "{}"},
        format="multipart",
    )


def encrypted_update(key_committee: KeyCommittee, length: int) -> bytes:
    return ckks.encrypt_vector(committee_selectors.public_context(key_committee), np.full(length, 0.25))


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


def test_wrong_number_of_ciphertexts_is_refused(consortium, collecting_ckks, key_committee):
    length = consortium.model.architecture.parameter_count
    response = upload(consortium, collecting_ckks.pk, encrypted_update(key_committee, length + 5000))
    assert response.status_code == 400
    assert "Encrypted update refused" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_plaintext_blob_is_refused_in_an_encrypted_round(consortium, collecting_ckks):
    from crypto import plain

    response = upload(
        consortium, collecting_ckks.pk, plain.encode(np.zeros(consortium.model.architecture.parameter_count))
    )
    assert response.status_code == 400
    assert not Submission.objects.exists()


def test_a_missing_key_party_fails_the_round_with_its_name(
    consortium, collecting_ckks, key_committee, settings
):
    """A key party whose share is gone refuses; the round fails with the reason instead of hanging."""
    settings.DH_DECRYPTION_TIMEOUT = 120
    length = consortium.model.architecture.parameter_count
    for persona in ("node_hospital-a", "node_hospital-b"):
        blob = encrypted_update(key_committee, length)
        response = consortium.client(persona).post(
            f"/api/node/rounds/{collecting_ckks.pk}/submission/",
            {"update": io.BytesIO(blob), "num_samples": 40, "metrics": "{}"},
            format="multipart",
        )
        assert response.status_code == 201
    key_committee.parties = [
        *key_committee.parties[:2],
        {"index": 2, "commitment": "", "location": "/nonexistent"},
    ]
    key_committee.save()
    aggregating.aggregate_round(collecting_ckks.pk)
    collecting_ckks.refresh_from_db()
    assert collecting_ckks.state == S.FAILED
    assert "aggregation failed" in collecting_ckks.reason and "party" in collecting_ckks.reason
    assert User.objects.exists()
