"""The web interface in headless Chromium, against a real portal (HTTP, websocket, Celery worker, nodes).

The portal runs in its own process and SQLite database (serve_portal.py), so the browser, the portal's
threads and the nodes' uploads all see committed data; the browser script (portal_ui.mjs, playwright-core
with the system chromium) drives the coordinator's and a hospital admin's journeys, checks every page at
1360x900 and 390x844 (no wider than the window, its own title, no serious axe-core finding) and saves
screenshots into var/screenshots/.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import REPO_ROOT, require

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("DH_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
HERE = Path(__file__).resolve().parent
AXE = REPO_ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
PORTAL_START_SECONDS = 180
BROWSER_SECONDS = 300


def _portal_environment(work: Path) -> dict[str, str]:
    """A database and data folder of its own; in-memory broker and channel layer even where CI has Redis."""
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="dhportal.settings",
        PYTHONPATH=str(REPO_ROOT),
        DH_DATA_DIR=str(work / "portal"),
        DATABASE_URL=f"sqlite:///{work / 'portal.sqlite3'}",
        DH_NODE_POLL_SECONDS="1",
        DH_PROTECTION="plaintext",
        DH_PROOFS="none",  # proofs of training have their own tests (tests/rounds/test_proofs.py)
        DH_CHAIN="off",  # the chain has its own tests (tests/rounds/test_chain.py)
        DH_LOG_LEVEL="WARNING",
    )
    return env


def _read_ready_line(process: subprocess.Popen, timeout: float) -> dict:
    """The JSON after `READY ` on the portal's stdout, or a failure with what the portal printed."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"the portal was not ready within {timeout} s; it printed: {''.join(seen)}"
            ) from None
        if line is None:
            raise AssertionError(
                f"the portal exited early (code {process.wait()}); it printed: {''.join(seen)}"
            )
        if line.startswith("READY "):
            return json.loads(line[len("READY ") :])
        seen.append(line)


def test_coordinator_and_hospital_admin_in_the_browser(tmp_path, pneumonia_npz):
    node = shutil.which("node")
    require(node is not None, "Node.js is not installed")
    require(CHROMIUM.exists(), f"{CHROMIUM} is absent: apt-get install -y chromium (or set DH_CHROMIUM)")
    require((REPO_ROOT / "node_modules" / "playwright-core").is_dir(), "run `npm ci` at the repository root")
    require(AXE.is_file(), "run `npm --prefix frontend ci` (axe-core checks the pages' accessibility)")

    build = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build_frontend.py")], capture_output=True, text=True
    )
    print(build.stdout, build.stderr)
    assert build.returncode == 0, "the frontend did not build"

    portal_log = tmp_path / "portal.log"
    with portal_log.open("w") as log_file:
        portal = subprocess.Popen(
            [sys.executable, str(HERE / "serve_portal.py"), "--pneumonia", str(pneumonia_npz)],
            cwd=REPO_ROOT,
            env=_portal_environment(tmp_path),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    try:
        fixture = _read_ready_line(portal, PORTAL_START_SECONDS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser = subprocess.run(
            [node, str(HERE / "portal_ui.mjs")],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "DH_BROWSER_FIXTURE": json.dumps(fixture),
                "DH_SCREENSHOT_DIR": str(SCREENSHOTS),
                "DH_CHROMIUM": str(CHROMIUM),
            },
            capture_output=True,
            text=True,
            timeout=BROWSER_SECONDS,
        )
        print(browser.stdout)
        print(browser.stderr, file=sys.stderr)
        print(f"Screenshots: {SCREENSHOTS}")
        assert browser.returncode == 0, (
            f"browser checks failed:\n{browser.stdout[-3000:]}\n{browser.stderr[-3000:]}"
        )
    finally:
        portal.stdin.close()  # serve_portal.py stops when its stdin closes
        try:
            portal.wait(timeout=30)
        except subprocess.TimeoutExpired:
            portal.kill()
            portal.wait()
        log = portal_log.read_text()
        if log.strip():
            print(f"portal log (tail):\n{log[-4000:]}")
