"""Phase 1 of the trusted setup: the ptau reader, and the refusal of a single-contributor powers-of-tau file
(production settings at start, and any ceremony where the minimum says so)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.zk.ptau import BEACON, CONTRIBUTION, FormatError, ptau_contribution_count, read_ptau
from proofs import services as ceremonies
from proofs.ceremony import CeremonyError

pytestmark = [pytest.mark.unit]

REPO_ROOT = Path(__file__).resolve().parents[2]
BN254_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583


def fake_ptau(path: Path, contributions: list[tuple[str, int]], power: int = 15) -> Path:
    """A file in the ptau container format whose contributions section lists `contributions` (name, type);
    the points are random bytes: enough for the reader, not for snarkjs."""
    n8 = 32
    header = struct.pack("<I", n8) + BN254_Q.to_bytes(n8, "little") + struct.pack("<II", power, power)
    body = struct.pack("<I", len(contributions))
    points = 3 * 2 * n8 + 2 * 4 * n8 + 6 * 2 * n8 + 3 * 4 * n8 + 216 + 64
    for name, kind in contributions:
        params = b"\x01" + bytes([len(name)]) + name.encode()
        if kind == BEACON:
            params += b"\x02\x0a" + b"\x03\x20" + bytes(range(32))
        body += os.urandom(points) + struct.pack("<II", kind, len(params)) + params
    sections = [(1, header), (2, os.urandom(64)), (7, body)]
    data = b"ptau" + struct.pack("<II", 1, len(sections))
    for kind, section in sections:
        data += struct.pack("<IQ", kind, len(section)) + section
    path.write_bytes(data)
    return path


def test_the_dev_ptau_has_one_contribution(dev_ptau):
    info = read_ptau(dev_ptau)
    assert (info.power, info.ceremony_power) == (15, 15)
    assert [(c.index, c.type, c.name) for c in info.contributions] == [
        (1, CONTRIBUTION, "decentrahealth-dev-15")
    ]
    assert ptau_contribution_count(dev_ptau) == 1


def test_contributions_and_a_final_beacon_are_told_apart(tmp_path):
    path = fake_ptau(
        tmp_path / "p.ptau", [("alice", CONTRIBUTION), ("bob", CONTRIBUTION), ("beacon", BEACON)]
    )
    info = read_ptau(path)
    assert [c.name for c in info.contributions] == ["alice", "bob", "beacon"]
    assert info.secret_contributions == 2 and info.contributions[2].is_beacon
    assert info.contributions[2].beacon_hash == bytes(range(32)).hex()
    assert info.contributions[2].iterations_exp == 10


def test_what_is_not_a_ptau_is_refused(tmp_path, dev_ptau):
    (tmp_path / "zkey").write_bytes(b"zkey" + bytes(100))
    with pytest.raises(FormatError, match="not a ptau file"):
        read_ptau(tmp_path / "zkey")
    truncated = tmp_path / "cut.ptau"
    with open(dev_ptau, "rb") as handle:
        truncated.write_bytes(handle.read(1 << 16))
    with pytest.raises(FormatError, match="runs past the end"):
        read_ptau(truncated)


def test_a_ceremony_refuses_a_ptau_with_too_few_contributions(settings, dev_ptau, tmp_path):
    settings.DH_PTAU_MIN_CONTRIBUTIONS = 2
    with pytest.raises(CeremonyError) as refused:
        ceremonies.checked_ptau(dev_ptau)
    message = str(refused.value)
    assert str(dev_ptau) in message and "1 contribution(s)" in message
    assert "powersOfTau28_hez_final_15.ptau" in message
    two = fake_ptau(tmp_path / "two.ptau", [("a", CONTRIBUTION), ("b", CONTRIBUTION), ("beacon", BEACON)])
    assert ceremonies.checked_ptau(two).secret_contributions == 2
    with pytest.raises(CeremonyError, match="no powers-of-tau file at"):
        ceremonies.checked_ptau(tmp_path / "absent.ptau")


PRODUCTION = {
    "DH_ENV": "production",
    "DH_SECRET_KEY": "k" * 50,
    "DH_DEBUG": "false",
    "DH_PROTECTION": "ckks",
    "DH_PROOFS": "groth16",
    "DH_CHAIN": "off",
}
SHOW = "from django.conf import settings; print(settings.DH_PTAU_PATH, settings.DH_PTAU_MIN_CONTRIBUTIONS)"


def start_production(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DH_PTAU_PATH", "DH_PTAU_MIN_CONTRIBUTIONS")}
    env.update(PRODUCTION, DH_DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="dhportal.settings")
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=REPO_ROOT,
        env={**env, **overrides},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_the_single_contributor_ptau(tmp_path, dev_ptau):
    refused = start_production(tmp_path, DH_PTAU_PATH=str(dev_ptau))
    assert refused.returncode != 0 and "ImproperlyConfigured" in refused.stderr
    # The settings name the file as they resolved it (a shared folder behind a symbolic link shows its target).
    assert f"DH_PTAU_PATH={dev_ptau.resolve()} has 1 contribution(s)" in refused.stderr
    assert "https://storage.googleapis.com/zkevm/ptau/powersOfTau28_hez_final_15.ptau" in refused.stderr
    lowered = start_production(tmp_path, DH_PTAU_MIN_CONTRIBUTIONS="1")
    assert lowered.returncode != 0 and "DH_PTAU_MIN_CONTRIBUTIONS must be at least 2" in lowered.stderr


def test_production_starts_with_a_multi_party_ptau_and_never_defaults_to_the_dev_file(tmp_path):
    public = fake_ptau(
        tmp_path / "public.ptau", [("a", CONTRIBUTION), ("b", CONTRIBUTION), ("beacon", BEACON)]
    )
    started = start_production(tmp_path, DH_PTAU_PATH=str(public))
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.split() == [str(public), "2"]
    # Unset: where the operator puts the Hermez file (absent here: a ceremony would refuse to start, naming it).
    default = start_production(tmp_path)
    assert default.returncode == 0, default.stderr[-2000:]
    assert default.stdout.split()[0] == str(tmp_path / "data" / "zk" / "powersOfTau28_hez_final_15.ptau")
