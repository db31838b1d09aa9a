"""The locked dependencies (every package, pinned, with its hashes) made from the top-level requirement files.

    python scripts/lock.py            # regenerate requirements/locks/*.txt (needs pip-tools: pip install pip-tools)
    python scripts/lock.py --check    # exit 1 naming each lock whose top-level files changed since it was made

Four locks: portal.txt (requirements.txt: the portal's image), dev.txt (the portal with the test tools:
requirements-dev.txt, what scripts/setup.sh installs), node.txt (a hospital's node: requirements/node.txt) and
keyparty.txt (a key party: requirements/keyparty.txt).
Each lock records the SHA-256 of its top-level files (and the files they include with -r), which --check
compares: the test command runs it, so a lock left stale fails the tests.

torch is locked as its CPU build for Linux x86-64, "torch==X+cpu" (PyPI's Linux wheel of X brings CUDA, several
GB, and packages the lock does not hold). These machines have that wheel at hand (pip's find-links); elsewhere
pip finds it on PyTorch's CPU index: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu (README).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {
    "portal": ROOT / "requirements.txt",
    "dev": ROOT / "requirements-dev.txt",
    "node": ROOT / "requirements" / "node.txt",
    "keyparty": ROOT / "requirements" / "keyparty.txt",
}
LOCK_DIR = ROOT / "requirements" / "locks"
DIGEST_LINE = re.compile(r"^# top-level files sha256: ([0-9a-f]{64})$", re.MULTILINE)
INCLUDE = re.compile(r"^\s*-r\s+(\S+)", re.MULTILINE)


def input_files(top: Path) -> list[Path]:
    """The file and every file it includes with -r, depth first, each once."""
    files, pending = [], [top]
    while pending:
        path = pending.pop(0)
        if path in files:
            continue
        files.append(path)
        pending += [(path.parent / name).resolve() for name in INCLUDE.findall(path.read_text())]
    return files


def inputs_digest(top: Path) -> str:
    digest = hashlib.sha256()
    for path in input_files(top):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def stale_locks(lock_dir: Path | None = None, locks: dict[str, Path] | None = None) -> list[str]:
    """Why each lock is stale or missing (empty when all match their top-level files); by default the
    project's LOCKS in LOCK_DIR."""
    lock_dir, locks = lock_dir or LOCK_DIR, locks or LOCKS
    problems = []
    for name, top in locks.items():
        lock = lock_dir / f"{name}.txt"
        if not lock.exists():
            problems.append(f"{lock} is missing")
            continue
        recorded = DIGEST_LINE.search(lock.read_text())
        if recorded is None or recorded.group(1) != inputs_digest(top):
            changed = " or ".join(p.name for p in input_files(top))
            problems.append(f"{lock} is stale: {changed} changed since it was made")
    return problems


def make_lock(name: str, top: Path) -> Path:
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        output = Path(work) / f"{name}.txt"
        subprocess.run(
            [
                "pip-compile", "--quiet", "--generate-hashes", "--allow-unsafe", "--no-strip-extras",
                "--no-emit-index-url", "--no-emit-find-links", "--no-header",
                "--output-file", str(output), str(top.relative_to(ROOT)),
            ],
            cwd=ROOT,
            check=True,
        )  # fmt: skip
        body = output.read_text()
    lock = LOCK_DIR / f"{name}.txt"
    header = (
        f"# Locked from {top.relative_to(ROOT).as_posix()} by scripts/lock.py: every package pinned, with hashes.\n"
        f"# top-level files sha256: {inputs_digest(top)}\n"
    )
    lock.write_text(header + body)
    return lock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that every lock is up to date")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale_locks()
        for problem in problems:
            print(f"locks: {problem}; run: python scripts/lock.py (needs pip-tools)", file=sys.stderr)
        return 1 if problems else 0
    for name, top in LOCKS.items():
        print(f"locked {make_lock(name, top).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
