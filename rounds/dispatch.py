"""Starts a portal task once the current transaction commits.

Services start the next step of a round (open it, aggregate it, record on chain) by the task's registered
name: the task modules import the services, so the services never import them. rounds.apps imports the
task modules when Django starts, so every name is registered in every process.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

OPEN_ROUND = "rounds.open_round"
AGGREGATE_ROUND = "rounds.aggregate_round"
RECORD_SUBMISSION_ON_CHAIN = "rounds.record_submission_on_chain"
CANCEL_ROUND_ON_CHAIN = "rounds.cancel_round_on_chain"
ADVANCE_CAMPAIGN = "rounds.advance_campaign"


def after_commit(task_name: str, *args: int) -> None:
    transaction.on_commit(lambda: current_app.tasks[task_name].delay(*args))
