"""Portal tasks: thin, take ids, call one service, safe to run twice (acks_late redelivers after a crash)."""

import logging

from celery import Task, shared_task

from ledger.connection import ChainUnavailable
from proofs.ceremony import CeremonyWaiting
from rounds import dispatch
from rounds.services import aggregating, campaigns, chain_records, collecting, lifecycle

log = logging.getLogger(__name__)
CHAIN_RETRIES = 5


def _retry_later(task: Task, error: ChainUnavailable) -> None:
    """The chain's endpoint did not answer: raise Celery's retry (10 s, 20 s, ...) while tries remain; returns
    when they are used up, or at once for an eager task (no broker), which cannot wait."""
    if task.request.retries < CHAIN_RETRIES and not task.request.is_eager:
        raise task.retry(exc=error, countdown=min(300, 10 * 2**task.request.retries))


def _retry_chain(task: Task, round_id: int, error: ChainUnavailable) -> None:
    """Retries later; after the last try the round fails with the reason."""
    _retry_later(task, error)
    lifecycle.fail_round_if_running(round_id, str(error))


@shared_task(name=dispatch.OPEN_ROUND, bind=True, acks_late=True)
def open_round(self: Task, round_id: int) -> None:
    try:
        collecting.open_round(round_id)
    except ChainUnavailable as error:
        _retry_chain(self, round_id, error)
    except CeremonyWaiting as waiting:
        # The hospitals' trusted setup is not ready: the round stays OPEN and a new task looks again (bounded by
        # DH_CEREMONY_TIMEOUT, after which the round fails) - a new task, not a retry, which Celery caps
        # (max_retries) and which the chain's tries count. An eager task cannot wait: a later run opens it.
        log.info("round %s waits: %s", round_id, waiting)
        if not self.request.is_eager:
            open_round.apply_async((round_id,), countdown=waiting.retry_in)


@shared_task(name=dispatch.AGGREGATE_ROUND, bind=True, acks_late=True)
def aggregate_round(self: Task, round_id: int) -> None:
    # Key parties down: the round waits and this task tries again later; eager tasks cannot wait.
    try:
        aggregating.aggregate_round(round_id, wait_for_key_parties=not self.request.is_eager)
    except ChainUnavailable as error:
        _retry_chain(self, round_id, error)
    except aggregating.KeyPartiesWaiting as waiting:
        # Asked again later as a new task, not a retry: Celery caps retries (max_retries), and waiting on the key
        # parties must not use up the chain's (task.request.retries). The task never waits itself.
        aggregate_round.apply_async((round_id,), countdown=waiting.retry_in)


@shared_task(name=dispatch.RECORD_SUBMISSION_ON_CHAIN, bind=True, acks_late=True)
def record_submission_on_chain(self: Task, submission_id: int, round_id: int) -> None:
    try:
        chain_records.record_submission_on_chain(submission_id)
    except ChainUnavailable as error:
        _retry_chain(self, round_id, error)


@shared_task(name=dispatch.CANCEL_ROUND_ON_CHAIN, bind=True, acks_late=True)
def cancel_round_on_chain(self: Task, round_id: int) -> None:
    try:
        chain_records.cancel_round_on_chain(round_id)
    except ChainUnavailable as error:
        _retry_later(self, error)
        log.warning("round %s was not cancelled on chain: %s", round_id, error)


@shared_task(name=dispatch.ADVANCE_CAMPAIGN, acks_late=True)
def advance_campaign(campaign_id: int) -> None:
    log.info("campaign %s: %s", campaign_id, campaigns.advance_campaign(campaign_id))


@shared_task(name="rounds.sweep_deadlines")
def sweep_deadlines() -> list[int]:
    return aggregating.sweep_deadlines()
