"""Helpers for the tests that run the real key-party services (demo.committee starts them): a Celery worker of
the test's own, and the search for key-share bytes in the portal's files."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crypto import keygen, seal_io, wellformed
from demo.embedded import celery_worker
from dhportal.celery import app as celery_app

WINDOW_BYTES = 48
WINDOWS_PER_SHARE = 6


def _reset_celery_connections() -> None:
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def in_memory_worker(queues: tuple[str, ...] = ("portal",)) -> Iterator[None]:
    """The embedded Celery worker (a thread) on an in-memory broker of the test's own, never the environment's
    Redis: the aggregation runs as a task that can wait for the key parties (eager tasks cannot)."""
    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = "memory://"
    _reset_celery_connections()
    try:
        with celery_worker(list(queues)):
            yield
    finally:
        celery_app.conf.broker_url = saved
        _reset_celery_connections()


def share_fragments(homes: list[Path]) -> dict[str, bytes]:
    """Pieces of every key share held in these party homes, as a leak would carry them: windows of the share
    file's bytes, and of the secret's coefficients as crypto.keygen's loader reads them (raw, hex, base64); and
    each party's witness key (which opens the hospitals' shares of their randomness) whole."""
    fragments: dict[str, bytes] = {}
    for home in homes:
        for share_file in sorted(Path(home).rglob(keygen.SECRET_SHARE_FILE)):
            secret = keygen.load_secret_share(share_file.parent)
            coefficients = seal_io.parse_plaintext(seal_io.save_bytes(secret)).data.tobytes()
            for source, data in (("file", share_file.read_bytes()), ("coefficients", coefficients)):
                step = max(1, (len(data) - WINDOW_BYTES) // WINDOWS_PER_SHARE)
                for number, start in enumerate(range(len(data) // 2, len(data) - WINDOW_BYTES, step)):
                    window = data[start : start + WINDOW_BYTES]
                    name = f"{share_file.parent} {source} #{number}"
                    fragments[name + " raw"] = window
                    fragments[name + " hex"] = window.hex().encode()
                    fragments[name + " base64"] = base64.b64encode(window)
            witness_key = (share_file.parent / wellformed.WITNESS_KEY_FILE).read_bytes()  # 32 bytes: whole
            for encoded, data in (("raw", witness_key), ("hex", witness_key.hex().encode())):
                fragments[f"{share_file.parent} witness key {encoded}"] = data
            fragments[f"{share_file.parent} witness key base64"] = base64.b64encode(witness_key).rstrip(b"=")
    return fragments


def files_holding(root: Path, fragments: dict[str, bytes]) -> list[str]:
    """Every file under root holding one of the fragments, with the fragment's name."""
    found = []
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {name}" for name, fragment in fragments.items() if fragment in data]
    return found


def require_postgres() -> None:
    """A live portal with a worker thread writes from several connections at once: SQLite's in-memory test
    database refuses that (table locked), so these tests need PostgreSQL (DATABASE_URL), as CI has."""
    from django.db import connection

    from conftest import require

    require(
        connection.vendor == "postgresql", "set DATABASE_URL (PostgreSQL) for a live portal with a worker"
    )
