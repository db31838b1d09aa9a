"""`dh-node` as an admin meets it before anything works: one-line errors that say what to do, no traceback."""

from __future__ import annotations

import pytest

from node import cli
from protocol import transport

pytestmark = [pytest.mark.unit]


def test_run_and_status_without_enrollment_say_how_to_enroll(tmp_path, capsys):
    for command in ("run", "status"):
        assert cli.main(["--home", str(tmp_path / "nowhere"), command]) == 2
        error = capsys.readouterr().err
        assert error.startswith("dh-node: no node configuration at") and "dh-node enroll" in error
        assert "Traceback" not in error


def test_enroll_refuses_missing_data_before_making_anything(tmp_path, capsys):
    home = tmp_path / "home"
    arguments = ["--home", str(home), "enroll", "--portal", "http://127.0.0.1:9", "--code", "c"]
    assert cli.main([*arguments, "--data", str(tmp_path / "missing.npz")]) == 2
    assert "no data at" in capsys.readouterr().err
    assert not home.exists()


def test_enroll_with_an_unreachable_portal_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(transport, "RETRY_DELAYS_SECONDS", ())
    data = tmp_path / "data.npz"
    data.write_bytes(b"")
    arguments = ["--home", str(tmp_path / "home"), "enroll", "--portal", "http://127.0.0.1:9", "--code", "c"]
    assert cli.main([*arguments, "--data", str(data)]) == 1
    assert capsys.readouterr().err.startswith("dh-node: cannot reach the portal")
    # The keys made before the portal answered stay, so enrolling again registers the same ones.
    assert (tmp_path / "home" / "chain.key").stat().st_mode & 0o777 == 0o600
