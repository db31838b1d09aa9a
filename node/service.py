"""`dh-node run`: the node's long-running loop. It pulls its work from the portal's REST API (no broker): the
trusted-setup contributions the ceremony waits for, then the rounds it takes part in; does each; and polls
again, backing off while there is nothing to do or the portal does not answer.

A first SIGTERM or Ctrl-C stops the loop once the current step is done (a training run is not cut in half);
a second one stops it at once. What the loop is doing is kept in <home>/status.json for `dh-node status`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from node import ceremony, pipeline
from node.client import PortalClient
from node.config import CONTRIBUTIONS_FILE, STATUS_FILE, NodeConfig, read_node_config, write_private
from protocol.transport import PortalError

log = logging.getLogger(__name__)
MIN_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 30.0  # the longest pause between two polls while the portal does not answer
MAX_RETRY_SECONDS = 300.0  # the longest pause before trying a failed round again


@dataclass
class NodeStatus:
    """What the loop is doing, as `dh-node status` shows it."""

    state: str = "starting"  # starting, idle, contributing, training, waiting (portal unreachable), stopped
    detail: str = ""
    pid: int = field(default_factory=os.getpid)
    since: float = field(default_factory=time.time)
    rounds_done: list[int] = field(default_factory=list)
    last_error: str = ""


class NodeService:
    def __init__(self, home: Path, config: NodeConfig | None = None):
        self.home = Path(home)
        self.config = config or read_node_config(self.home)
        self.client = PortalClient(self.config.portal_url, self.config.token, self.config.ca_file)
        self.status = NodeStatus()
        self.stopping = threading.Event()
        self.handles_signals = False
        # ("round" | "ceremony", id) -> (failures so far, no retry before this time.monotonic())
        self.failures: dict[tuple[str, int], tuple[int, float]] = {}

    # --- status -------------------------------------------------------------------------------------------

    def set_status(self, state: str, detail: str = "", error: str = "") -> None:
        self.status.state, self.status.detail, self.status.since = state, detail, time.time()
        if error:
            self.status.last_error = error
        write_private(self.home / STATUS_FILE, json.dumps(self.status.__dict__, indent=2) + "\n")
        if detail:
            log.info("%s: %s", state, detail)

    # --- signals ------------------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def stop(signum: int, frame: Any) -> None:
            if self.stopping.is_set():
                raise SystemExit(f"stopped by signal {signum}")
            log.warning("stopping after the current step (send the signal again to stop at once)")
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.handles_signals = True

    # --- work ---------------------------------------------------------------------------------------------

    def due(self, key: tuple[str, int]) -> bool:
        """False while a piece of work that failed here waits for its next try."""
        return time.monotonic() >= self.failures.get(key, (0, 0.0))[1]

    def attempt(self, key: tuple[str, int], action: Callable[[], Any]) -> Any:
        """action(), or None after logging its failure and scheduling the next try of `key` (backing off)."""
        try:
            result = action()
        except (PortalError, ValueError, RuntimeError, OSError) as exc:
            failures = self.failures.get(key, (0, 0.0))[0] + 1
            pause = min(MAX_RETRY_SECONDS, 5.0 * 2**failures)
            self.failures[key] = (failures, time.monotonic() + pause)
            log.error("%s %s failed: %s (trying again in %.0f s)", *key, exc, pause)
            self.set_status("idle", error=f"{key[0]} {key[1]}: {exc}")
            return None
        self.failures.pop(key, None)
        return result

    def contribute(self, ceremony_id: int, item: dict[str, Any]) -> None:
        self.set_status("contributing", f"trusted setup, ceremony {ceremony_id}")
        if (
            self.attempt(
                ("ceremony", ceremony_id),
                lambda: ceremony.contribute(self.client, item, self.home / CONTRIBUTIONS_FILE),
            )
            is not None
        ):
            log.info("ceremony %s: contribution accepted", ceremony_id)

    def run_round(self, round_id: int) -> None:
        self.set_status("training", f"round {round_id}")
        result = self.attempt(
            ("round", round_id),
            lambda: pipeline.run_round(self.client, round_id, self.config, self.home),
        )
        if result is None:
            return
        if "bytes" in result:
            self.status.rounds_done.append(round_id)
        else:
            log.info("round %s: %s", round_id, result.get("skipped"))

    def work_once(self, work: dict[str, Any]) -> bool:
        """The contributions and rounds one poll listed, until stopped; True if any was done."""
        due = [("ceremony", item["ceremony"], item) for item in work.get("contributions", [])]
        due += [("round", entry["id"], entry) for entry in work.get("rounds", [])]
        did_work = False
        for kind, ident, item in due:
            if self.stopping.is_set():
                break
            if not self.due((kind, ident)):
                continue
            if kind == "ceremony":
                self.contribute(ident, item)
            else:
                self.run_round(ident)
            did_work = True
        return did_work

    def run(self, once: bool = False) -> None:
        """Polls and works until stopped, or after one poll with once=True. A refused token (401/403) ends the
        loop with PortalError: it will not work on a second try."""
        pause = 0.0
        self.set_status("idle", f"polling {self.config.portal_url}")
        while not self.stopping.is_set():
            try:
                work = self.client.get_json("/api/node/work/")
                did_work = self.work_once(work)
                # Right after work there may be more (the next step of a ceremony, a new round): ask again soon.
                pause = MIN_PAUSE_SECONDS if did_work else float(work.get("poll_seconds", MAX_PAUSE_SECONDS))
                if self.status.state != "idle":
                    self.set_status("idle", "")
            except (requests.ConnectionError, requests.Timeout, PortalError) as exc:
                if isinstance(exc, PortalError) and exc.status in (401, 403):
                    self.set_status("stopped", error=f"the portal refused this node: {exc.detail}")
                    raise
                pause = min(MAX_PAUSE_SECONDS, max(2 * pause, 2.0))
                self.set_status("waiting", f"portal unreachable ({exc}); trying again in {pause:.0f} s")
            if once:
                break
            self.stopping.wait(pause)
        self.set_status("stopped", "")
        if self.handles_signals:  # the loop is over: a further signal ends the process the default way
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
