"""The one function that writes the audit trail."""

from __future__ import annotations

from typing import Any

from events.models import AuditEvent


def record_event(
    round_id: int | None,
    actor: str,
    kind: str,
    detail: dict[str, Any] | None = None,
    from_state: str = "",
    to_state: str = "",
) -> AuditEvent:
    """Appends one event (of a round, or of the portal when round_id is None)."""
    return AuditEvent.objects.create(
        round_id=round_id,
        actor=actor,
        kind=kind,
        detail=detail or {},
        from_state=from_state,
        to_state=to_state,
    )
