"""A hospital's node SIGKILLed after training, before its upload, then the portal's Celery worker in the middle of
the aggregation: the restarted node finds the round still in its work and does it again, the aggregation task
runs again on a fresh worker (acks_late: the unacknowledged message comes back after the visibility timeout), and
the round completes with the same model a round without faults makes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from demo.embedded import free_port, portal_server
from events.models import AuditEvent
from registry.models import GlobalModel
from registry.weights import load_weights
from rounds.models import Round, Submission
from rounds.services import lifecycle
from tests.reliability.processes import reached, real_portal, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

S = Round.State
VISIBILITY_TIMEOUT = "4"


def task_ids(log: str, task: str) -> list[str]:
    return re.findall(rf"Task {re.escape(task)}\[([0-9a-f-]+)\] received", log)


@pytest.mark.django_db(transaction=True)
def test_killed_workers_tasks_run_again_and_the_round_completes_with_the_same_model(
    hospital_data, settings, tmp_path
):
    queues = ["portal"]
    with real_portal(
        settings, tmp_path, nodes=hospital_data, DH_CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT
    ) as portal:
        portal.start_worker("first", queues, pause="aggregate")
        node_b = portal.start_node("hospital-b")
        crashing = portal.start_node("hospital-a", pause="upload:hospital-a")
        round_ = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, round_)
        wait_until(lambda: reached(tmp_path, "upload:hospital-a"), 120, "hospital A's node to train")
        crashing.process.kill()  # hospital A trained but had not uploaded
        crashing.process.wait(timeout=30)
        restarted = portal.start_node("hospital-a")
        wait_until(lambda: reached(tmp_path, "aggregate"), 120, "the aggregation to start")
        round_.refresh_from_db()
        assert round_.state == S.AGGREGATING
        portal.workers[-1].kill()  # the round is AGGREGATING, the sum opened, no model stored

        portal.start_worker("second", queues)
        wait_until(
            lambda: Round.objects.get(pk=round_.pk).state in (S.COMPLETED, S.FAILED), 120, "the round to end"
        )
        first, second = (worker.log() for worker in portal.workers)
        node_logs = [node.log() for node in (crashing, restarted, node_b)]

    logs = "\n".join(f"--- {log[-2500:]}" for log in (first, second, *node_logs))  # for a failure's report
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, f"{round_.reason}\n{logs}"
    # Hospital A's killed node uploaded nothing; the restarted one did the round again and uploaded.
    assert "update uploaded" not in node_logs[0] and f"round {round_.pk}: update uploaded" in node_logs[1], (
        logs
    )
    # The aggregation task was received again by the next worker.
    aggregations = [set(task_ids(log, "rounds.aggregate_round")) for log in (first, second)]
    assert aggregations[0] & aggregations[1], logs
    # Nothing happened twice: one submission per hospital, each state entered once, one model.
    assert sorted(Submission.objects.filter(round=round_).values_list("hospital__slug", flat=True)) == [
        "hospital-a",
        "hospital-b",
    ]
    states = list(AuditEvent.objects.filter(round=round_, kind="state").values_list("to_state", flat=True))
    assert states == [S.APPROVED, S.OPEN, S.COLLECTING, S.AGGREGATING, S.COMPLETED], logs
    model = GlobalModel.objects.get(produced_by=round_)

    # The same round without faults, from the same base model (eager tasks in this process).
    with portal_server(free_port()) as url:
        hospital_data.enroll_nodes(url)
        reference = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, reference)
        hospital_data.run_nodes()
    reference.refresh_from_db()
    assert reference.state == S.COMPLETED, reference.reason
    np.testing.assert_allclose(
        load_weights(model), load_weights(GlobalModel.objects.get(produced_by=reference)), atol=1e-6
    )
