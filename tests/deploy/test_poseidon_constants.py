"""scripts/poseidon_constants.py: a key party's host without Node.js gets Poseidon's constants from circomlibjs'
tarball, and a tarball holding other constants is refused before anything is written."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from crypto.zk.poseidon import CONSTANTS_PATH
from scripts import poseidon_constants

pytestmark = [pytest.mark.unit]


def tarball(path: Path, constants: bytes) -> str:
    """A package tarball laid out as npm's, holding `constants`; its file: URL."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("package/src/poseidon_constants_opt.json")
        info.size = len(constants)
        archive.addfile(info, io.BytesIO(constants))
    path.write_bytes(buffer.getvalue())
    return path.as_uri()


def test_the_constants_are_taken_from_the_tarball_only_when_they_are_circomlibjs(tmp_path) -> None:
    if not CONSTANTS_PATH.exists():
        pytest.skip("node_modules/circomlibjs is not installed here (npm ci)")
    real = CONSTANTS_PATH.read_bytes()
    out = tmp_path / "node_modules" / "circomlibjs" / "src" / "poseidon_constants_opt.json"
    assert poseidon_constants.main(["--url", tarball(tmp_path / "good.tgz", real), "--out", str(out)]) == 0
    assert out.read_bytes() == real
    other = tmp_path / "other.json"
    tampered = real.replace(b'"0x', b'"0x0', 1)
    assert (
        poseidon_constants.main(["--url", tarball(tmp_path / "bad.tgz", tampered), "--out", str(other)]) == 1
    )
    assert not other.exists()
