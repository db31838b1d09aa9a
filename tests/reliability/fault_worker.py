"""A Celery worker with one fault-injection point, for the reliability tests only.

    python -m tests.reliability.fault_worker <celery worker options>

With DH_TEST_PAUSE set, the worker stops at that point: it creates <point>.reached in DH_TEST_PAUSE_DIR and
waits there until <point>.release appears (or until the test kills it). Points:

- aggregate      the aggregation task, after the updates are summed and opened, before the model is stored.
- advance        a campaign's next step, after its next round is planned, before that is committed.

(A hospital's node is not a Celery worker: tests/reliability/fault_node.py pauses one.)
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path


def pause(point: str) -> None:
    directory = Path(os.environ["DH_TEST_PAUSE_DIR"])
    name = point.replace(":", "-")
    (directory / f"{name}.reached").touch()
    while not (directory / f"{name}.release").exists():
        time.sleep(0.1)


def install(point: str) -> None:
    if point == "aggregate":
        from rounds import federated

        next_global_vector = federated.next_global_vector

        def pausing_next_global_vector(*args, **kwargs):
            pause(point)
            return next_global_vector(*args, **kwargs)

        federated.next_global_vector = pausing_next_global_vector
    elif point == "advance":
        from rounds.services import campaigns

        plan_after = campaigns._plan_after

        def pausing_plan_after(*args, **kwargs):
            following = plan_after(*args, **kwargs)
            pause(point)
            return following

        campaigns._plan_after = pausing_plan_after
    else:
        raise SystemExit(f"unknown DH_TEST_PAUSE point {point!r}")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhportal.settings")
    from celery.signals import worker_init

    from dhportal.celery import app

    def on_worker_init(**_) -> None:  # Django is set up by now (by the worker, with the portal's logging)
        logging.getLogger("celery").setLevel(logging.INFO)  # the tests read "Task ... received" lines
        if os.environ.get("DH_TEST_PAUSE"):
            install(os.environ["DH_TEST_PAUSE"])

    worker_init.connect(on_worker_init, weak=False)
    app.worker_main(["worker", *sys.argv[1:]])


if __name__ == "__main__":
    main()
