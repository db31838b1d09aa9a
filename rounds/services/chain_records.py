"""A round's chain transactions that run as their own tasks: each submission's record, and the cancellation."""

from __future__ import annotations

import logging

from ledger import services as ledger
from ledger.connection import ChainRefused
from rounds.models import Round, Submission
from rounds.services.lifecycle import exclude_submission

log = logging.getLogger(__name__)
S = Round.State


def record_submission_on_chain(submission_id: int) -> None:
    """Finds an accepted submission on chain (a rerun sends nothing twice); a refusal (the chain records another
    update or other proofs) excludes the submission, and the round goes on with the others."""
    submission = Submission.objects.select_related("round__base_model", "hospital").get(pk=submission_id)
    if submission.round.state not in (S.COLLECTING, S.AGGREGATING):
        return
    try:
        ledger.record_submission(submission)
    except ChainRefused as exc:
        exclude_submission(submission, f"chain: {exc}")


def cancel_round_on_chain(round_id: int) -> None:
    """Cancels a failed or cancelled round on chain if it was opened there; a refusal is only logged."""
    try:
        ledger.record_cancel(Round.objects.get(pk=round_id))
    except ChainRefused as exc:
        log.warning("round %s could not be cancelled on chain: %s", round_id, exc)
