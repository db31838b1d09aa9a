"""Which round state may follow which. Anything else is refused with the list of what is allowed."""

from __future__ import annotations

from rounds.models import Round
from web.errors import Conflict

S = Round.State
TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.APPROVED, S.CANCELLED},
    S.APPROVED: {S.OPEN, S.CANCELLED, S.FAILED},
    S.OPEN: {S.COLLECTING, S.CANCELLED, S.FAILED},
    S.COLLECTING: {S.AGGREGATING, S.CANCELLED, S.FAILED},
    S.AGGREGATING: {S.COMPLETED, S.FAILED, S.CANCELLED},  # cancel: a coordinator stops a stuck aggregation
    S.COMPLETED: set(),
    S.FAILED: set(),
    S.CANCELLED: set(),
}
TERMINAL = {S.COMPLETED, S.FAILED, S.CANCELLED}
NEEDS_REASON = {S.FAILED, S.CANCELLED}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def check_transition(current: str, target: str) -> None:
    allowed = TRANSITIONS[current]
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "none (the round is finished)"
        raise IllegalTransition(f"A round in state {current} cannot become {target}; allowed: {options}")
