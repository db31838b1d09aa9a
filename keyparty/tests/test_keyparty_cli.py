"""`dh-keyparty` without a portal of its own: enrollment against a stand-in HTTP server, the home's file modes,
the TLS identity, and the one-line errors an operator sees."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crypto import keygen, partytls
from crypto.keyparty import free_ports
from keyparty import cli
from keyparty.config import (
    CONFIG_FILE,
    IDENTITY_CERT_FILE,
    IDENTITY_KEY_FILE,
    STATUS_FILE,
    TRUSTED_CHAIN_FILE,
    TRUSTED_HOSPITALS_FILE,
)
from protocol import transport
from protocol.tests.json_server import json_server

pytestmark = [pytest.mark.unit]

ENROLLED = {"token": "keyparty_0a1b2c3d.secret-token-value", "id": 7, "name": "Org A", "poll_seconds": 2}


@contextmanager
def stand_in_portal(status: int, answer: dict) -> Iterator[tuple[str, list[dict]]]:
    """An HTTP server answering every POST with `status` and `answer`; yields its URL and the bodies it got."""
    received: list[dict] = []

    def reply(request: dict) -> tuple[int, dict]:
        received.append(request)
        return status, answer

    with json_server(reply) as url:
        yield url, received


def enroll_arguments(url: str, home: Path, **changes: str) -> list[str]:
    options = {"--portal": url, "--code": "enroll_12345678.code", "--listen": "0.0.0.0:11365"}
    options.update({"--advertise": "kp-a.example.org:11365", "--home": str(home), **changes})
    return ["enroll", *[part for pair in options.items() for part in pair]]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_enroll_makes_a_private_home_identity_and_configuration(tmp_path, capsys):
    home = tmp_path / "home"
    with stand_in_portal(201, ENROLLED) as (url, received):
        assert cli.main(enroll_arguments(url, home)) == 0
    assert "enrolled as key party Org A" in capsys.readouterr().out
    assert mode(home) == 0o700
    config = home / CONFIG_FILE
    assert mode(config) == 0o600 and mode(home / IDENTITY_KEY_FILE) == 0o600
    saved = json.loads(config.read_text())
    assert saved["token"] == ENROLLED["token"] and saved["party_id"] == 7
    assert (saved["listen"], saved["advertise"]) == ("0.0.0.0:11365", "kp-a.example.org:11365")
    [request] = received
    assert request["path"] == "/api/keyparty/enroll/" and request["code"] == "enroll_12345678.code"
    assert request["address"] == "kp-a.example.org:11365"
    assert request["certificate"] == (home / IDENTITY_CERT_FILE).read_text()
    partytls.check_identity(request["certificate"])  # what the portal accepts
    key = (home / IDENTITY_KEY_FILE).read_bytes()
    assert b"PRIVATE KEY" in key and key.decode() not in json.dumps(request)


def test_enrolling_again_keeps_the_identity(tmp_path):
    home = tmp_path / "home"
    with stand_in_portal(201, ENROLLED) as (url, received):
        assert cli.main(enroll_arguments(url, home)) == 0
        assert cli.main(enroll_arguments(url, home, **{"--code": "enroll_87654321.new"})) == 0
    assert received[0]["certificate"] == received[1]["certificate"]


def test_a_refused_code_is_one_line_with_the_portals_reason(tmp_path, capsys):
    home = tmp_path / "home"
    refusal = {
        "error": "forbidden",
        "detail": "Enrollment code refused: it is unknown, already used or expired",
    }
    with stand_in_portal(403, refusal) as (url, _received):
        assert cli.main(enroll_arguments(url, home)) == 1
    error = capsys.readouterr().err.strip()
    assert error == f"dh-keyparty: the portal refused: {refusal['detail']} (HTTP 403)"
    assert not (home / CONFIG_FILE).exists()


def test_an_unreachable_portal_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(transport, "RETRY_DELAYS_SECONDS", ())
    assert cli.main(enroll_arguments("http://127.0.0.1:9", tmp_path / "home")) == 1
    error = capsys.readouterr().err.strip()
    assert (
        error == "dh-keyparty: cannot reach the portal at http://127.0.0.1:9: check the URL and the network"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"--listen": "11365"}, "--listen '11365' must be HOST:PORT"),
        ({"--advertise": "host:99999"}, "--advertise 'host:99999' must be HOST:PORT"),
        ({"--portal": "portal.example.org"}, "must be the portal's URL"),
        ({"--ca-file": "/nonexistent/ca.pem"}, "no CA file at /nonexistent/ca.pem"),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, changes, message):
    assert cli.main(enroll_arguments("http://127.0.0.1:9", tmp_path / "home", **changes)) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("dh-keyparty: ") and message in error and "\n" not in error


@pytest.mark.parametrize("command", ["serve", "status"])
def test_a_missing_home_or_configuration_is_one_line(tmp_path, capsys, command):
    assert cli.main([command, "--home", str(tmp_path / "nowhere")]) == 2
    assert "no key party home at" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["--home", str(tmp_path / "empty"), command]) == 2  # --home before the command works too
    error = capsys.readouterr().err.strip()
    assert error.startswith("dh-keyparty: no key party configuration at") and "enroll first" in error


def test_status_names_the_shares_held_and_whether_serve_runs(tmp_path, capsys):
    home = tmp_path / "home"
    with stand_in_portal(201, ENROLLED) as (url, _received):
        cli.main(enroll_arguments(url, home))
    capsys.readouterr()
    keygen.generate_share(home / "committees" / "3", b"s" * 32)
    assert cli.main(["status", "--home", str(home)]) == cli.EXIT_NOT_RUNNING
    text = capsys.readouterr().out
    assert "key party Org A (id 7)" in text and "holds a key share of committee 3" in text
    assert "not run yet" in text and partytls.fingerprint((home / IDENTITY_CERT_FILE).read_bytes()) in text
    status = {
        "state": "idle",
        "detail": "",
        "pid": os.getpid(),
        "since": 0,
        "jobs_done": [4],
        "last_error": "",
    }
    (home / STATUS_FILE).write_text(json.dumps(status))
    assert cli.main(["status", "--home", str(home)]) == 0
    text = capsys.readouterr().out
    assert f"running (pid {os.getpid()}): idle" in text and "jobs done by the last run: 4" in text
    assert ENROLLED["token"] not in text


@pytest.fixture
def enrolled_home(tmp_path) -> Path:
    home = tmp_path / "home"
    with stand_in_portal(201, ENROLLED) as (url, _received):
        cli.main(enroll_arguments(url, home))
    return home


def test_trust_pins_the_hospitals_whose_uploads_this_party_opens(enrolled_home, capsys):
    home = enrolled_home
    cli.main(["status", "--home", str(home)])
    assert "trusts the portal's list of hospitals" in capsys.readouterr().out
    address = "0x" + "Ab" * 20
    assert cli.main(["trust", address, "--name", "hospital-a", "--home", str(home)]) == 0
    assert "trusts 1 hospitals" in capsys.readouterr().out
    listed = json.loads((home / TRUSTED_HOSPITALS_FILE).read_text())
    assert listed == {"hospitals": {address.lower(): "hospital-a"}, "chain_addresses": {}}
    assert stat.S_IMODE((home / TRUSTED_HOSPITALS_FILE).stat().st_mode) == 0o600
    cli.main(["status", "--home", str(home)])
    assert f"opens only uploads signed by the 1 hospitals it trusts: hospital-a ({address.lower()})" in (
        capsys.readouterr().out
    )
    assert cli.main(["trust", "0x1234", "--name", "bad", "--home", str(home)]) == 2
    assert "is not a signing address" in capsys.readouterr().err
    chain_address = "0x" + "Cd" * 20
    other = "0x" + "Ef" * 20
    arguments = [
        "trust",
        other,
        "--name",
        "hospital-b",
        "--chain-address",
        chain_address,
        "--home",
        str(home),
    ]
    assert cli.main(arguments) == 0
    listed = json.loads((home / TRUSTED_HOSPITALS_FILE).read_text())
    assert listed["chain_addresses"] == {other.lower(): chain_address.lower()}
    assert set(listed["hospitals"]) == {address.lower(), other.lower()}
    assert cli.main([*arguments[:4], "--chain-address", "0x12", "--home", str(home)]) == 2
    assert "is not a chain address" in capsys.readouterr().err
    (home / TRUSTED_HOSPITALS_FILE).write_text("{not json")
    assert cli.main(arguments) == 2
    error = capsys.readouterr().err
    assert f"unreadable {home / TRUSTED_HOSPITALS_FILE}" in error and "fix or remove it" in error


def test_trust_chain_names_an_endpoint_it_cannot_read_and_pins_nothing(enrolled_home, capsys):
    home = enrolled_home
    cli.main(["status", "--home", str(home)])
    assert "reads no chain" in capsys.readouterr().out
    registry = "0x" + "12" * 20
    unreachable = f"http://127.0.0.1:{free_ports(1)[0]}"
    assert cli.main(["trust-chain", "--rpc", unreachable, "--registry", registry, "--home", str(home)]) == 2
    error = capsys.readouterr().err
    assert (
        f"cannot read the chain at {unreachable}" in error and "an RPC endpoint this host can reach" in error
    )
    assert not (home / TRUSTED_CHAIN_FILE).exists()
    assert cli.main(["trust-chain", "--rpc", unreachable, "--registry", "0x12", "--home", str(home)]) == 2
    assert "is not a registry address" in capsys.readouterr().err
