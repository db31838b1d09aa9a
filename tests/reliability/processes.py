"""Real processes for the fault tests: a private redis-server, a private PostgreSQL cluster, Celery workers that
can be killed, and the test process's own Celery app pointed at that Redis (the portal in the test process sends
the tasks).

A test takes them all at once with `real_portal(...)`, and starts the workers it needs with
`portal.start_worker(...)`; the pieces below it are for tests that need something else.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import REPO_ROOT, require
from demo.embedded import free_port, portal_server
from demo.processes import PartyProcess, party_processes, start_party
from dhportal.celery import app as celery_app
from tests.conftest import services_configured


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class RedisServer:
    """A redis-server of the test's own on a free port, persisting every write (appendfsync always), as a
    production broker should: a restart, even after SIGKILL, keeps the queued tasks."""

    def __init__(self, directory: Path):
        require(shutil.which("redis-server") is not None, "redis-server is not installed")
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
        ]  # fmt: skip
        with open(self.directory / "redis.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, 20, f"redis-server on port {self.port}")

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill()


@contextmanager
def private_redis(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """A PostgreSQL 15 cluster of the test's own (trust auth, a free port, its socket in its own folder), run as
    the `postgres` OS user when the test runs as root (initdb refuses root). Never the machine's own server."""

    def __init__(self):
        require((POSTGRES_BIN / "pg_ctl").exists(), f"PostgreSQL 15 binaries are not in {POSTGRES_BIN}")
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            require(shutil.which("runuser") is not None, "runuser is missing (initdb refuses to run as root)")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        # Not under pytest's tmp_path: the `postgres` user cannot enter /tmp/pytest-of-root (mode 700).
        self.directory = Path(tempfile.mkdtemp(prefix="dh-postgres-"))
        if self.as_postgres:
            shutil.chown(self.directory, "postgres")
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(POSTGRES_BIN / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back and every client's connection is closed."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private cluster, stopped and its folder removed at the end, whatever happened."""
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            try:
                server.stop()
            except subprocess.SubprocessError:
                pg_ctl = [*server.as_postgres, str(POSTGRES_BIN / "pg_ctl"), "-D", str(server.data)]
                subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=False, timeout=60)
        shutil.rmtree(server.directory, ignore_errors=True)


def _reset_celery_connections() -> None:
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def portal_uses_broker(settings, redis_url: str) -> Iterator[None]:
    """The test process (the portal: views, services) sends its tasks and websocket events through
    `redis_url` while the block runs."""
    services_configured()
    saved = celery_app.conf.broker_url, celery_app.conf.broker_transport_options
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    }
    celery_app.conf.broker_url = redis_url
    celery_app.conf.broker_transport_options = {}
    celery_app.conf.task_always_eager = False
    _reset_celery_connections()
    try:
        yield
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
        celery_app.conf.task_always_eager = True
        _reset_celery_connections()


def worker_environment(settings, redis_url: str, **extra: str) -> dict[str, str]:
    """What a worker process needs to share the test's database, blob store and node configurations."""
    from django.db import connection

    database_url, _ = services_configured()
    return {
        **os.environ,
        "DATABASE_URL": database_url.rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
        "REDIS_URL": redis_url,
        "DH_DATA_DIR": str(settings.DATA_DIR),
        "DH_PROTECTION": settings.DH_PROTECTION,
        "DH_CHAIN": "off",
        "DH_PROOFS": "none",
        **extra,
    }


class Worker:
    """`celery worker` (solo pool) as its own process, optionally with a fault-injection pause
    (tests/reliability/fault_worker.py) and an embedded beat."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        queues: list[str],
        log_dir: Path,
        pause: str | None = None,
        beat: bool = False,
    ):
        self.log_path = log_dir / f"worker-{name}.log"
        env = {**env, "DH_TEST_PAUSE_DIR": str(log_dir)}
        if pause:
            env["DH_TEST_PAUSE"] = pause
        command = [
            sys.executable, "-m", "tests.reliability.fault_worker",
            "-Q", ",".join(queues), "-n", f"{name}@%h", "--pool", "solo", "--loglevel", "INFO",
            "--without-heartbeat", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if beat:
            command += ["--beat", "--schedule", str(log_dir / f"beat-{name}.db")]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, as a crash or an OOM kill."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def workers() -> Iterator[list[Worker]]:
    """Every worker appended to the list is stopped at the end, whatever happened."""
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


class WebServer:
    """The portal's web server (API and websockets) on one port, which a test can stop and start again there."""

    def __init__(self, host: str) -> None:
        self.host, self.port = host, free_port()
        self._stack = ExitStack()
        self.url = self._stack.enter_context(portal_server(self.port, self.host))

    def restart(self) -> None:
        """Stops the server (its connections drop) and serves again on the same port, from the database alone."""
        self._stack.close()
        self._stack = ExitStack()
        self.url = self._stack.enter_context(portal_server(self.port, self.host))

    def close(self) -> None:
        self._stack.close()


@dataclass
class RealPortal:
    """What `real_portal` started: the private Redis, the portal's web server and URL and the workers started so
    far."""

    settings: Any
    redis: RedisServer
    url: str
    log_dir: Path
    worker_env: dict[str, str]
    workers: list[Worker]
    nodes: list[PartyProcess]
    consortium: Any = None  # tests.conftest.Consortium, its nodes enrolled with this portal
    web: WebServer | None = None

    def start_worker(
        self, name: str, queues: list[str], pause: str | None = None, beat: bool = False
    ) -> Worker:
        """A worker process consuming `queues`, its environment made now (from the settings as they are)."""
        env = worker_environment(self.settings, self.redis.url, **self.worker_env)
        worker = Worker(name, env, queues, self.log_dir, pause=pause, beat=beat)
        self.workers.append(worker)
        return worker

    def start_node(self, slug: str, pause: str | None = None) -> PartyProcess:
        """The hospital's node (`dh-node run`) as its own process, optionally paused before its upload
        (tests/reliability/fault_node.py)."""
        extra = {"DH_TEST_PAUSE_DIR": str(self.log_dir)}
        if pause:
            extra["DH_TEST_PAUSE"] = pause
        home = self.consortium.node_homes[slug]
        node = start_party(
            slug,
            "tests.reliability.fault_node",
            ["--home", str(home), "run"],
            self.log_dir / f"node-{len(self.nodes)}-{slug}.log",  # one log per process, a restart included
            extra,
        )
        self.nodes.append(node)
        return node


@contextmanager
def real_portal(
    settings, log_dir: Path, nodes=None, host: str = "127.0.0.1", **worker_env: str
) -> Iterator[RealPortal]:
    """A private redis-server, the portal of the test process on a real socket sending its tasks and events
    through that Redis, and the workers the test starts (each with `worker_env` added to its environment);
    all stopped at the end, whatever happened. With `nodes` (tests.conftest.Consortium), its hospitals' nodes
    are enrolled with the portal, ready for start_node."""
    services_configured()  # skipped (failed in CI) before anything starts
    with (
        private_redis(log_dir / "redis") as redis,
        closing(WebServer(host)) as web,
        portal_uses_broker(settings, redis.url),
        workers() as started,
        party_processes() as node_processes,
    ):
        if nodes is not None:
            nodes.enroll_nodes(web.url)
        yield RealPortal(
            settings, redis, web.url, log_dir, dict(worker_env), started, node_processes, nodes, web
        )


def reached(directory: Path, point: str) -> bool:
    return (directory / f"{point.replace(':', '-')}.reached").exists()


def release(directory: Path, point: str) -> None:
    (directory / f"{point.replace(':', '-')}.release").touch()
