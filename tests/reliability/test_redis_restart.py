"""Redis (the broker and the websocket layer) killed and restarted in the middle of a round: the submission made
while it was down is kept, the worker reconnects, the queued tasks survive (Redis persists them, as production
should configure it) and the round completes."""

from __future__ import annotations

import pytest

from events.models import AuditEvent
from registry.models import GlobalModel
from rounds.models import Round, Submission
from rounds.services import lifecycle
from tests.reliability.processes import reached, real_portal, release, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

S = Round.State


@pytest.mark.django_db(transaction=True)
def test_a_redis_restart_mid_round_loses_no_submission_and_the_round_completes(
    hospital_data, settings, tmp_path
):
    with real_portal(settings, tmp_path, nodes=hospital_data, DH_CELERY_VISIBILITY_TIMEOUT="5") as portal:
        portal.start_worker("portal", ["portal"])
        portal.start_node("hospital-b")
        portal.start_node("hospital-a", pause="upload:hospital-a")
        round_ = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, round_)
        wait_until(lambda: reached(tmp_path, "upload:hospital-a"), 120, "hospital A's task to train")
        wait_until(
            lambda: Submission.objects.filter(round=round_).count() == 1, 120, "hospital B's submission"
        )

        portal.redis.kill()
        # Hospital A uploads the round's last update while Redis is down: the submission is stored, and the
        # portal keeps trying to send the aggregation task (task_publish_retry_policy) until Redis is back.
        release(tmp_path, "upload:hospital-a")
        wait_until(
            lambda: Submission.objects.filter(round=round_).count() == 2, 60, "hospital A's submission"
        )
        portal.redis.start()
        wait_until(lambda: Round.objects.get(pk=round_.pk).state in (S.COMPLETED, S.FAILED), 120, "the round")
        logs = [worker.log() for worker in portal.workers]
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    assert all("Connection to broker lost" in log for log in logs)  # the worker saw Redis go, and came back
    assert sorted(GlobalModel.objects.get(produced_by=round_).metrics["participants"]) == [
        "hospital-a",
        "hospital-b",
    ]
    states = list(AuditEvent.objects.filter(round=round_, kind="state").values_list("to_state", flat=True))
    assert states == [S.APPROVED, S.OPEN, S.COLLECTING, S.AGGREGATING, S.COMPLETED]
