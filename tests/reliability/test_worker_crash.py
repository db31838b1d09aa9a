"""A Celery worker SIGKILLed in the middle of a hospital's task, then of the aggregation: each task runs again
on a fresh worker (acks_late: the unacknowledged message comes back after the visibility timeout) and the round
completes with the same model a round without faults makes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from demo.embedded import free_port, portal_server
from events.models import AuditEvent
from hospitals.tasks import hospital_queue
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
    queues = ["portal"] + [hospital_queue(slug) for slug in ("hospital-a", "hospital-b")]
    with real_portal(
        settings, tmp_path, nodes=hospital_data, DH_CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT
    ) as portal:
        portal.start_worker("first", queues, pause="upload:hospital-a")
        round_ = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, round_)
        wait_until(lambda: reached(tmp_path, "upload:hospital-a"), 120, "hospital A's task to train")
        portal.workers[-1].kill()  # hospital A trained but had not uploaded

        portal.start_worker("second", queues, pause="aggregate")
        wait_until(lambda: reached(tmp_path, "aggregate"), 120, "the aggregation to start")
        round_.refresh_from_db()
        assert round_.state == S.AGGREGATING
        portal.workers[-1].kill()  # the round is AGGREGATING, the sum opened, no model stored

        portal.start_worker("third", queues)
        wait_until(
            lambda: Round.objects.get(pk=round_.pk).state in (S.COMPLETED, S.FAILED), 120, "the round to end"
        )
        first, second, third = (worker.log() for worker in portal.workers)

    logs = "\n".join(f"--- {log[-2500:]}" for log in (first, second, third))  # for a failure's report
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, f"{round_.reason}\n{logs}"
    # Hospital A's task and the aggregation task were each received again by the next worker.
    node_tasks = [set(task_ids(log, "hospitals.run_node_round")) for log in (first, second)]
    assert node_tasks[0] & node_tasks[1], logs
    aggregations = [set(task_ids(log, "rounds.aggregate_round")) for log in (second, third)]
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
        hospital_data.write_node_configs(url, settings.DH_NODE_CONFIG_DIR)
        reference = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, reference)
    reference.refresh_from_db()
    assert reference.state == S.COMPLETED, reference.reason
    np.testing.assert_allclose(
        load_weights(model), load_weights(GlobalModel.objects.get(produced_by=reference)), atol=1e-6
    )
