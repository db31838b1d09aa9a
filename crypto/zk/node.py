"""A long-lived node process running snarkjs (snarkjs_server.mjs), driven over JSON lines.

One process per Python process, started on first use and reused: snarkjs keeps the BN254 curve and its
worker threads between requests, so a verification costs about 0.1 s instead of about 1 s for the CLI.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = Path(__file__).with_name("snarkjs_server.mjs")


class SnarkjsError(RuntimeError):
    """snarkjs refused a request (e.g. a witness that violates the circuit's constraints)."""


def node_executable() -> str:
    found = os.environ.get("DH_NODE_BIN") or shutil.which("node")
    if not found:
        raise SnarkjsError("node is not installed (set DH_NODE_BIN to its path)")
    return found


class SnarkjsProcess:
    """Sends requests one at a time (a lock serialises threads) to one node process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 0
        self.owner_pid = os.getpid()
        # stderr goes to a file, not a pipe nobody reads (a full pipe would block node); its tail explains crashes.
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        self._process = subprocess.Popen(
            [node_executable(), str(SERVER_SCRIPT)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def request(self, op: str, **arguments: Any) -> Any:
        with self._lock:
            if not self.alive:
                raise SnarkjsError(
                    f"snarkjs process exited ({self._process.returncode}): {self._stderr_tail()}"
                )
            self._next_id += 1
            request_id = self._next_id
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps({"id": request_id, "op": op, **arguments}) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise SnarkjsError(f"snarkjs process died during {op}: {self._stderr_tail()}")
        reply = json.loads(line)
        if reply.get("id") != request_id:
            self._process.kill()  # out of step (an earlier request was abandoned): start afresh next time
            raise SnarkjsError(f"snarkjs answered request {reply.get('id')} instead of {request_id}")
        if not reply["ok"]:
            raise SnarkjsError(f"{op}: {reply['error']}")
        return reply["result"]

    def _stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 2000))
        return self._stderr.read().decode(errors="replace").strip()

    def close(self) -> None:
        if os.getpid() != self.owner_pid:
            return  # a forked child's copy: the process belongs to the parent
        if self.alive:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stderr.close()


_shared: dict[str, SnarkjsProcess] = {}
_shared_lock = threading.Lock()


def snarkjs(role: str = "shared") -> SnarkjsProcess:
    """The process this Python process keeps for `role` (started on first use, closed at exit). Separate roles
    keep separate processes, so that e.g. a portal's verifications never queue behind a node's proving in the
    same process. A forked child (e.g. a Celery worker) starts its own: the parent's pipes are not its to use."""
    with _shared_lock:
        process = _shared.get(role)
        if process is None or not process.alive or process.owner_pid != os.getpid():
            process = _shared[role] = SnarkjsProcess()
            atexit.register(process.close)
        return process
