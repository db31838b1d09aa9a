"""The one place that pushes websocket events. Consumers only authenticate and join groups."""

from __future__ import annotations

import itertools
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

# Per-process sequence: lets a client order events and notice a gap (then it refetches).
_sequence = itertools.count(1)


def round_group(round_id: int) -> str:
    return f"round-{round_id}"


ROUNDS_GROUP = "rounds"


def publish_round_event(round_id: int, kind: str, payload: dict[str, Any]) -> None:
    """Sends {kind, round, ...payload} to the round's group and the all-rounds group after commit."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        message = {
            "type": "round.event",
            "event": {"kind": kind, "round": round_id, "seq": next(_sequence), **payload},
        }
        async_to_sync(layer.group_send)(round_group(round_id), message)
        async_to_sync(layer.group_send)(ROUNDS_GROUP, message)

    # Best effort: a broker outage must not fail the write that was committed (clients refetch on a gap).
    transaction.on_commit(send, robust=True)


def session_group(session_key: str) -> str:
    return f"session-{session_key}"


def close_session_sockets(session_key: str) -> None:
    """Closes every websocket opened with this session (it has logged out)."""
    layer = get_channel_layer()
    if layer is not None and session_key:
        async_to_sync(layer.group_send)(session_group(session_key), {"type": "session.ended"})
