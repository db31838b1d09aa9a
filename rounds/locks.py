"""One worker at a time on a round's step, across processes, and free again when the holder dies.

A task can run twice at once: Redis redelivers a message whose worker looks lost (visibility timeout), the
deadline sweep sends a step again, a retry overlaps a late original. The services stay correct under reruns,
but two runs of one aggregation at the same time would do the work twice and race on the key parties' job. So
a step takes a PostgreSQL session-level advisory lock: the second run finds it held and leaves; a worker
killed mid-step loses its connection, PostgreSQL releases the lock, and the redelivered task takes it.
SQLite (the demo's single process, some tests) has no such lock: there the embedded worker runs one task at a
time anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# First key of the two-integer advisory lock: which step; the second is the round's id.
STEPS = {"open": 0x44480001, "aggregate": 0x44480002}


@contextmanager
def round_step(step: str, round_id: int) -> Iterator[bool]:
    """Yields True if this process now holds the round's `step`, False if another process does."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = [STEPS[step], round_id]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
