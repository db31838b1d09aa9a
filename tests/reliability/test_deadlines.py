"""A hospital that never submits: at the deadline (celery beat's sweep) the round aggregates the others if the
quorum is met, else fails with the reason; the hospital takes part in the next round as usual."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import AuditEvent
from registry.models import GlobalModel
from rounds.models import Round, Submission
from rounds.services import aggregating, lifecycle
from rounds.services import collecting as collecting_service
from tests.conftest import plain_update
from tests.reliability.processes import real_portal, wait_until

S = Round.State


def ended(round_: Round) -> bool:
    return Round.objects.get(pk=round_.pk).state in (S.COMPLETED, S.FAILED, S.CANCELLED)


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_at_the_deadline_the_round_aggregates_without_the_silent_hospital_which_joins_the_next(
    hospital_data, settings, tmp_path
):
    with real_portal(settings, tmp_path, nodes=hospital_data, DH_DEADLINE_SWEEP_SECONDS="1") as portal:
        # The portal's worker with celery beat, and the nodes of hospitals A and C; hospital B's node is down.
        portal.start_worker("portal", ["portal"], beat=True)
        portal.start_node("hospital-a")
        portal.start_node("hospital-c")
        everyone = [hospital_data.hospital_a, hospital_data.hospital_b, hospital_data.hospital_c]
        first = hospital_data.plan_round(everyone, quorum=2)
        lifecycle.approve_round(hospital_data.coordinator, first)
        wait_until(
            lambda: Submission.objects.filter(round=first).count() == 2,
            180,
            "hospitals A and C's submissions",
        )
        assert Round.objects.get(pk=first.pk).state == S.COLLECTING  # still waiting for hospital B
        Round.objects.filter(pk=first.pk).update(deadline=timezone.now())  # the deadline passes
        wait_until(lambda: ended(first), 60, "the sweep to close the round")
        first.refresh_from_db()
        assert first.state == S.COMPLETED, first.reason
        model = GlobalModel.objects.get(produced_by=first)
        assert model.metrics["participants"] == ["hospital-a", "hospital-c"]
        assert AuditEvent.objects.get(round=first, kind="partial").detail == {"missing": ["hospital-b"]}

        # Hospital B's node is back: the closed round is not in its work any more; it takes the next one.
        node_b = portal.start_node("hospital-b")
        hospital_data.model = model
        second = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, second)
        wait_until(lambda: ended(second), 120, "the second round to end")
        node_b_log = node_b.log()
    second.refresh_from_db()
    assert second.state == S.COMPLETED, second.reason
    assert sorted(GlobalModel.objects.get(produced_by=second).metrics["participants"]) == [
        "hospital-a",
        "hospital-b",
    ]
    assert f"round {second.pk}: update uploaded" in node_b_log
    assert f"round {first.pk}" not in node_b_log


@pytest.fixture
def collecting(consortium):
    round_ = consortium.plan_round()  # A and B, quorum 2
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    collecting_service.submit_update(
        consortium.hospital_a, round_.pk, [plain_update(consortium.model)], 10, {}, None
    )
    return round_


@pytest.mark.unit
def test_without_quorum_the_round_fails_with_the_reason_and_late_updates_are_refused(consortium, collecting):
    assert aggregating.sweep_deadlines() == []  # before the deadline nothing happens
    assert aggregating.sweep_deadlines(now=collecting.deadline + timedelta(seconds=1)) == [collecting.pk]
    collecting.refresh_from_db()
    assert collecting.state == S.FAILED
    assert collecting.reason == "deadline passed with 1 of 2 required submissions"
    late = consortium.client("node_hospital-b").post(
        f"/api/node/rounds/{collecting.pk}/submission/",
        {"update": io.BytesIO(plain_update(consortium.model)), "num_samples": 10, "metrics": "{}"},
        format="multipart",
    )
    assert late.status_code == 409 and "FAILED, not COLLECTING" in late.json()["detail"]
    # The silent hospital is invited to, and submits to, the next round.
    following = consortium.plan_round()
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(following, target, "test")
    collecting_service.submit_update(
        consortium.hospital_b, following.pk, [plain_update(consortium.model)], 10, {}, None
    )
    assert Submission.objects.filter(round=following, hospital=consortium.hospital_b).exists()


@pytest.mark.unit
def test_the_sweep_sends_again_an_aggregation_lost_while_the_broker_was_down(
    consortium, collecting, settings, django_capture_on_commit_callbacks
):
    """Every submission in, but the trigger to aggregate never reached a worker: the sweep sends it."""
    Submission.objects.create(
        round=collecting,
        hospital=consortium.hospital_b,
        blob_digest=Submission.objects.get(round=collecting).blob_digest,
        blob_size=1,
        num_samples=10,
    )
    assert aggregating.sweep_deadlines() == []  # the normal trigger may still be on its way
    later = timezone.now() + timedelta(seconds=2 * settings.DH_DEADLINE_SWEEP_SECONDS + 60)
    with django_capture_on_commit_callbacks(execute=True):
        assert aggregating.sweep_deadlines(now=later) == [collecting.pk]
    collecting.refresh_from_db()
    assert collecting.state == S.COMPLETED, collecting.reason
