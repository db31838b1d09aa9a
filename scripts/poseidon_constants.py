"""Fetch Poseidon's constants for a machine without Node.js (a key party's host or image).

    python scripts/poseidon_constants.py [--url URL] [--out PATH]

The key parties hash each hospital's proven head with the circuits' Poseidon inside MPC (crypto.keyparty), with
the constants of circomlibjs 0.1.7 (the release package-lock.json pins). Where `npm ci` ran, they are already in
node_modules; elsewhere this takes the one file from the package's tarball on the npm registry and writes it where
crypto.zk.poseidon reads it (node_modules/circomlibjs/src/, or $DH_POSEIDON_CONSTANTS). Whoever serves the
tarball, the file is checked against its SHA-256 before it is written (crypto.zk.poseidon.CONSTANTS_SHA256).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto.zk.poseidon import CONSTANTS_SHA256, constants_path  # noqa: E402

TARBALL_URL = "https://registry.npmjs.org/circomlibjs/-/circomlibjs-0.1.7.tgz"
MEMBER = "package/src/poseidon_constants_opt.json"


def fetch_constants(url: str, out: Path) -> Path:
    """Writes the checked constants file to `out`; raises ValueError when the tarball's file is not the one."""
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (https, or file: in tests)
        tarball = response.read()
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            raise ValueError(f"{url} holds no {MEMBER}")
        data = member.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != CONSTANTS_SHA256:
        raise ValueError(
            f"{MEMBER} from {url} has SHA-256 {digest}, not circomlibjs 0.1.7's {CONSTANTS_SHA256}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=TARBALL_URL, help=f"the circomlibjs 0.1.7 tarball (default {TARBALL_URL})"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"where to write it (default {constants_path()})"
    )
    args = parser.parse_args(argv)
    try:
        written = fetch_constants(args.url, args.out or constants_path())
    except (OSError, ValueError, tarfile.TarError) as exc:
        print(f"poseidon_constants: {exc}", file=sys.stderr)
        return 1
    print(f"Poseidon's constants (SHA-256 {CONSTANTS_SHA256[:16]}...) written to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
