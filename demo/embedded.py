"""The portal's HTTP/websocket server and a Celery worker inside one process, for the demo and tests on a
bare machine (no Redis). Production runs daphne and `celery worker` as separate services instead."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the portal did not start listening on port {port}")


@contextmanager
def portal_server(port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """Serves the ASGI app (HTTP and websockets) on host:port in a background thread; yields its URL on
    127.0.0.1. Uvicorn rather than daphne here: its server can be started again in the same process (tests)."""
    import uvicorn

    from dhportal.asgi import application

    config = uvicorn.Config(application, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="portal-server", daemon=True)
    thread.start()
    _wait_for_port(port, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def celery_worker(queues: list[str]) -> Iterator[None]:
    """A Celery worker thread on the in-memory broker, consuming `queues`; tasks are asynchronous as with
    Redis, so a request never waits for a task that itself calls the portal."""
    from celery.contrib.testing.worker import start_worker

    from dhportal.celery import app

    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", queues=queues, perform_ping_check=False, shutdown_timeout=60):
            yield
    finally:
        app.conf.task_always_eager = True


@contextmanager
def deadline_sweeper(interval_seconds: float) -> Iterator[None]:
    """What celery beat does in production, for the embedded worker: sends the deadline sweep every
    `interval_seconds` (rounds past their deadline aggregate or fail)."""
    from rounds.tasks import sweep_deadlines

    stop = threading.Event()

    def send_sweeps() -> None:
        while not stop.wait(interval_seconds):
            sweep_deadlines.delay()

    thread = threading.Thread(target=send_sweeps, name="deadline-sweeper", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
