"""The round's state machine and the people's decisions on it: approve, cancel, fail, opt in or out."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from events import realtime
from events.selectors import events_of_kind
from events.services import record_event
from hospitals.models import Hospital, User
from hospitals.services import require_coordinator, require_hospital_manager
from ledger.connection import enabled as chain_enabled
from rounds import dispatch, metrics
from rounds.models import Participant, Round, Submission
from rounds.state_machine import NEEDS_REASON, TERMINAL, check_transition
from web.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)
S = Round.State
RUNNING = (S.APPROVED, S.OPEN, S.COLLECTING, S.AGGREGATING)
AGGREGATE_EARLY = "aggregate_early"


def record(round_: Round, actor: str, kind: str, detail: dict[str, Any] | None = None) -> None:
    """Appends a round event to the audit trail and pushes it to the round's watchers."""
    record_event(round_.pk, actor, kind, detail)
    realtime.publish_round_event(round_.pk, kind, detail or {})


def transition(round_: Round, target: str, actor: str, reason: str = "") -> None:
    """Moves a round to `target` (locked row), logs it and pushes it to websocket clients."""
    if target in NEEDS_REASON and not reason:
        raise InvalidInput(f"A reason is required to make a round {target}")
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        check_transition(locked.state, target)
        previous = locked.state
        locked.state = target
        locked.reason = reason
        locked.save(update_fields=["state", "reason", "updated_at"])
        record_event(
            locked.pk,
            actor,
            "state",
            {"reason": reason} if reason else {},
            from_state=previous,
            to_state=target,
        )
        realtime.publish_round_event(
            locked.pk, "state", {"state": target, "previous": previous, "reason": reason}
        )
        if target in TERMINAL and locked.campaign_id:  # its campaign plans the next round, or ends
            dispatch.after_commit(dispatch.ADVANCE_CAMPAIGN, locked.campaign_id)
    round_.state, round_.reason = target, reason


def locked_state(round_id: int) -> str:
    """The round's state, its row locked until the surrounding transaction ends."""
    return Round.objects.select_for_update().values_list("state", flat=True).get(pk=round_id)


def add_stage_seconds(round_: Round, stage: str, seconds: float) -> None:
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        locked.stage_seconds[stage] = round(locked.stage_seconds.get(stage, 0.0) + seconds, 4)
        locked.save(update_fields=["stage_seconds", "updated_at"])
    round_.stage_seconds = locked.stage_seconds
    metrics.observe_stage(stage, seconds)


def approve_round(actor: User, round_: Round) -> Round:
    require_coordinator(actor)
    transition(round_, S.APPROVED, actor.username)
    dispatch.after_commit(dispatch.OPEN_ROUND, round_.pk)
    return round_


def cancel_round(actor: User, round_: Round, reason: str) -> Round:
    require_coordinator(actor)
    transition(round_, S.CANCELLED, actor.username, reason=reason or "cancelled by the coordinator")
    _cancel_on_chain(round_)
    return round_


def fail_round(round_: Round, reason: str) -> None:
    log.warning("round %s failed: %s", round_.pk, reason)
    transition(round_, S.FAILED, "portal", reason=reason)
    metrics.count_failure(reason)
    _cancel_on_chain(round_)


def exclude_submission(submission: Submission, reason: str) -> None:
    """Leaves an accepted submission out of the round's sum, naming the hospital and the reason in the audit
    trail; the round goes on with the others (aggregation checks the quorum without it). Idempotent."""
    if submission.excluded_reason:
        return
    submission.excluded_reason = reason[:500]
    submission.save(update_fields=["excluded_reason"])
    record(submission.round, "portal", "excluded", {"hospital": submission.hospital.slug, "reason": reason})


def fail_round_if_running(round_id: int, reason: str) -> None:
    round_ = Round.objects.get(pk=round_id)
    if round_.state in RUNNING:
        fail_round(round_, reason)


def _cancel_on_chain(round_: Round) -> None:
    if chain_enabled():
        dispatch.after_commit(dispatch.CANCEL_ROUND_ON_CHAIN, round_.pk)


def set_participation(actor: User, round_: Round, hospital: Hospital, opted_in: bool) -> Participant:
    require_hospital_manager(actor, hospital)
    if round_.state not in (S.DRAFT, S.APPROVED, S.OPEN, S.COLLECTING):
        raise Conflict(f"Participation cannot change once a round is {round_.state}")
    participant = Participant.objects.filter(round=round_, hospital=hospital).first()
    if participant is None:
        raise NotFound(f"{hospital.name} is not invited to round {round_.pk}")
    if Submission.objects.filter(round=round_, hospital=hospital).exists():
        raise Conflict("This hospital has already submitted to the round")
    participant.opted_out = not opted_in
    participant.save(update_fields=["opted_out"])
    record(round_, actor.username, "participation", {"hospital": hospital.slug, "opted_in": opted_in})
    return participant


def aggregate_now(actor: User, round_: Round) -> Round:
    """The coordinator closes collection early once the quorum is met; the audit trail names who is missing."""
    require_coordinator(actor)
    with transaction.atomic():
        state = locked_state(round_.pk)
        if state != S.COLLECTING:
            raise Conflict(
                f"Round {round_.pk} is {state}, not COLLECTING: there is nothing to aggregate early"
            )
        submitted = Submission.objects.filter(round=round_, excluded_reason="").count()
        if submitted < round_.quorum:
            raise Conflict(
                f"Round {round_.pk} has {submitted} of the {round_.quorum} submissions its quorum needs: "
                "it cannot aggregate yet"
            )
        if not events_of_kind(round_.pk, AGGREGATE_EARLY).exists():  # a resent request
            record(round_, actor.username, AGGREGATE_EARLY, {"submitted": submitted, "quorum": round_.quorum})
    dispatch.after_commit(dispatch.AGGREGATE_ROUND, round_.pk)
    return round_
