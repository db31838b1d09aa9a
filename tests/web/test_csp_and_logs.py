"""The content security policy on the portal's responses (web/csp.py), and DH_LOG_FORMAT=json (web/log_format.py):
one JSON object per line, round and hospital ids from `extra`, and no secret in a DEBUG run's logs."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from web import csp
from web.log_format import JsonFormatter

pytestmark = [pytest.mark.unit]


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.django_db
def test_the_web_interface_has_a_strict_policy(client, settings, tmp_path):
    (tmp_path / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/app.js"></script>'
    )
    settings.FRONTEND_DIST = tmp_path
    policy = directives(client.get("/rounds/1")["Content-Security-Policy"])
    assert policy == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self' ws: wss:",
        "frame-ancestors": "'none'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
    }
    assert "unsafe" not in client.get("/admin/login/")["Content-Security-Policy"]


def test_the_built_index_has_no_inline_script_or_style():
    """What the strict policy would block in the web interface's own page (checked where it is built)."""
    index = REPO_ROOT / "frontend" / "dist" / "index.html"
    if not index.is_file():
        pytest.skip("the web interface is not built (scripts/build_frontend.py)")
    html = index.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline <script>"
    assert "<style" not in html and " style=" not in html


@pytest.mark.django_db
def test_the_api_docs_may_have_inline_styles_but_no_inline_script(client):
    docs = client.get("/api/docs/")
    policy = directives(docs["Content-Security-Policy"])
    assert policy["style-src"] == "'self' 'unsafe-inline'" and policy["script-src"] == "'self'"
    assert "<script>" not in docs.content.decode()  # Swagger UI's start-up script is /api/docs/?script=
    assert client.get("/api/me/")["Content-Security-Policy"] == csp.API_POLICY


def record(message: str = "round %s sealed", *args, **extra) -> logging.LogRecord:
    made = logging.getLogger("rounds.test").makeRecord(
        "rounds.test", logging.WARNING, __file__, 1, message, args or (7,), None, extra=extra or None
    )
    made.created = 1700000000.5
    return made


def test_json_lines_carry_time_level_logger_message_and_context():
    line = JsonFormatter().format(record(round=7, hospital="hospital-a"))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2023-11-14T22:13:20.500+00:00",
        "level": "WARNING",
        "logger": "rounds.test",
        "message": "round 7 sealed",
        "round": 7,
        "hospital": "hospital-a",
    }
    assert "round" not in json.loads(JsonFormatter().format(record()))  # only when the record carries it


def test_json_lines_hold_exceptions_newlines_and_odd_values():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        made = record("odd %s", object(), round=3)
        made.exc_info = sys.exc_info()
    line = JsonFormatter().format(made)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"].startswith("odd <object object at") and entry["round"] == 3
    assert entry["exception"].startswith("Traceback") and "ValueError: bad\nthing" in entry["exception"]


LOGGED_RUN = """
import logging, sys
from django.core.management import call_command
import django
django.setup()
logging.getLogger("django.db.backends").setLevel(logging.DEBUG)  # every SQL query, with its parameters
call_command("migrate", verbosity=0)
from django.test import Client
from hospitals import services
coordinator = services.create_coordinator("coordinator", "pw-Secret-7741-coordinator")
hospital, node_token = services.register_hospital(coordinator, "Hospital A", "admin_a", "pw-Secret-7741-admin")
api_token = services.issue_api_token(coordinator, "ci")
browser = Client()
assert browser.post("/api/auth/login/", {"username": "coordinator", "password": "pw-Secret-7741-coordinator"},
                    content_type="application/json").status_code == 200
assert browser.get("/api/rounds/").status_code == 200
assert Client(HTTP_AUTHORIZATION=f"Token {api_token}").get("/api/hospitals/").status_code == 200
assert Client(HTTP_AUTHORIZATION=f"Token {node_token}").post("/api/node/heartbeat/", {},
              content_type="application/json").status_code < 500
logging.getLogger("rounds.services.aggregating").warning("round %s: waiting", 1, extra={"round": 1})
print("SECRETS", api_token, node_token, file=sys.stdout)
"""


def test_a_debug_run_in_json_logs_only_json_lines_and_no_secret(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="dhportal.settings",
        DH_DATA_DIR=str(tmp_path),
        DH_LOG_FORMAT="json",
        DH_LOG_LEVEL="DEBUG",
        DH_DEBUG="true",
        DH_CHAIN="off",
    )
    result = subprocess.run(
        [sys.executable, "-c", LOGGED_RUN],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    entries = [json.loads(line) for line in result.stderr.splitlines()]  # every line is one JSON object
    loggers = {entry["logger"] for entry in entries}
    assert "django.db.backends" in loggers and len(entries) > 50  # it did log at DEBUG (every SQL query)
    assert {"round": 1, "level": "WARNING"}.items() <= next(e for e in entries if e.get("round")).items()
    secrets = result.stdout.split("SECRETS ")[1].split()
    secrets = [token.partition(".")[2] for token in secrets] + ["pw-Secret-7741"]
    leaked = [secret for secret in secrets if secret in result.stderr]
    assert not leaked, "secrets in the logs"
