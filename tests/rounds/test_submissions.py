"""Bad uploads: each refused with a 4xx and a reason, and nothing already stored changes."""

import io

import pytest

from registry import blobstore
from rounds.models import Round, Submission
from rounds.services import lifecycle
from tests.conftest import plain_update
from web.errors import InvalidInput

pytestmark = [pytest.mark.unit]

S = Round.State


def upload(consortium, round_id, blob, persona="node_hospital-a", num_samples=40):
    return consortium.client(persona).post(
        f"/api/node/rounds/{round_id}/submission/",
        {"update": io.BytesIO(blob), "num_samples": num_samples, "metrics": "{}"},
        format="multipart",
    )


@pytest.fixture
def collecting(consortium):
    round_ = consortium.plan_round()
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    return round_


def stored_state(round_):
    return sorted(Submission.objects.filter(round=round_).values_list("hospital__slug", "blob_digest"))


def test_a_valid_upload_is_stored_content_addressed(consortium, collecting):
    blob = plain_update(consortium.model, 0.5)
    response = upload(consortium, collecting.pk, blob)
    assert response.status_code == 201, response.content
    assert blobstore.read_bytes(response.json()["blob_digest"]) == blob


def test_second_submission_from_the_same_hospital_is_refused(consortium, collecting):
    first = upload(consortium, collecting.pk, plain_update(consortium.model, 0.5))
    assert first.status_code == 201
    before = stored_state(collecting)
    second = upload(consortium, collecting.pk, plain_update(consortium.model, 9.0))
    assert second.status_code == 409
    assert "already submitted" in second.json()["detail"]
    assert stored_state(collecting) == before


def test_submission_to_a_round_that_is_not_collecting_is_refused(consortium):
    round_ = consortium.plan_round()
    response = upload(consortium, round_.pk, plain_update(consortium.model))
    assert response.status_code == 409
    assert "DRAFT, not COLLECTING" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_unknown_round_is_404(consortium):
    response = upload(consortium, 999_999, plain_update(consortium.model))
    assert response.status_code == 404
    assert "999999 does not exist" in response.json()["detail"]


@pytest.mark.parametrize(
    ("blob_of", "reason"),
    [
        (lambda model: plain_update(model)[:-8], "bytes, expected"),
        (lambda model: b"garbage", "shorter than its header"),
        (lambda model: b"X" * 64, "bad magic"),
    ],
)
def test_malformed_update_is_refused(consortium, collecting, blob_of, reason):
    upload(consortium, collecting.pk, plain_update(consortium.model), persona="node_hospital-b")
    before = stored_state(collecting)
    response = upload(consortium, collecting.pk, blob_of(consortium.model))
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert stored_state(collecting) == before


def test_wrong_shape_is_refused(consortium, collecting):
    import numpy as np

    from crypto import plain

    response = upload(consortium, collecting.pk, plain.encode(np.zeros(10)))
    assert response.status_code == 400
    assert "has 10 parameters" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_oversize_upload_is_refused_before_storing(consortium, collecting, settings):
    settings.DH_MAX_UPLOAD_BYTES = 1000
    response = upload(consortium, collecting.pk, plain_update(consortium.model))
    assert response.status_code == 413
    assert "exceeds the limit of 1000 bytes" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_an_update_longer_than_the_models_is_refused_at_the_rounds_own_limit(consortium, collecting):
    blob = plain_update(consortium.model, 0.5)
    response = upload(consortium, collecting.pk, blob + b"\0")
    assert response.status_code == 413
    count = consortium.model.architecture.parameter_count
    assert response.json()["detail"] == (
        f"Upload exceeds the limit of {len(blob)} bytes for round {collecting.pk} (a plaintext update of {count} "
        "parameters takes at most that)"
    )
    assert not Submission.objects.exists()


def test_a_model_whose_updates_exceed_the_portals_limit_cannot_be_planned(consortium, settings):
    settings.DH_MAX_UPLOAD_BYTES = 4096
    rounds_before = Round.objects.count()
    with pytest.raises(InvalidInput, match="over the portal's upload limit DH_MAX_UPLOAD_BYTES \\(4096\\)"):
        consortium.plan_round()
    assert Round.objects.count() == rounds_before


def test_missing_fields_are_named(consortium, collecting):
    response = consortium.client("node_hospital-a").post(
        f"/api/node/rounds/{collecting.pk}/submission/", {"num_samples": 3}, format="multipart"
    )
    assert response.status_code == 400
    assert "update" in response.json()["fields"]


def test_non_participant_node_is_refused(consortium, collecting):
    response = upload(consortium, collecting.pk, plain_update(consortium.model), persona="node_hospital-c")
    assert response.status_code == 403
    assert not Submission.objects.exists()


def test_opted_out_hospital_cannot_submit(consortium, collecting):
    lifecycle.set_participation(consortium.admin_a, collecting, consortium.hospital_a, opted_in=False)
    response = upload(consortium, collecting.pk, plain_update(consortium.model))
    assert response.status_code == 409
    assert "opted out" in response.json()["detail"]
