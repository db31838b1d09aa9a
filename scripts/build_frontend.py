#!/usr/bin/env python3
"""Builds the web interface into frontend/dist, once per distinct source: CI and fresh clones reuse the build.

The cache key hashes every file under frontend/ that affects the build (sources, index.html, vite config,
package.json and package-lock.json; not node_modules, dist, unit tests or docs). Builds are kept in
crypto.paths.cache_dir()/frontend/<key>/ and copied to frontend/dist; a stamp in dist skips even the copy
when dist is already current. Only a cache miss needs Node and npm (npm ci when the lockfile changed, then
vite build).

    python scripts/build_frontend.py            # build or reuse; prints what it did
    python scripts/build_frontend.py --force    # rebuild even if cached
    python scripts/build_frontend.py --print-key
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from crypto.paths import cache_dir  # noqa: E402

FRONTEND = REPO_ROOT / "frontend"
DIST = FRONTEND / "dist"
NODE_MODULES = FRONTEND / "node_modules"
STAMP = ".dh-build-key"
LOCK_STAMP = ".dh-lockfile-hash"
KEEP_BUILDS = 5
# Bump when this script changes how it builds, so old cache entries are not reused.
RECIPE_VERSION = "1"
SKIPPED_DIRS = {"node_modules", "dist", ".vite", "coverage", "test"}


def source_files() -> list[Path]:
    """Files that determine the build output, in a stable order."""
    files = []
    for root, dirs, names in os.walk(FRONTEND):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or ".test." in name or name.endswith((".log", ".md")):
                continue
            files.append(Path(root) / name)
    return files


def build_key() -> str:
    digest = hashlib.sha256(f"recipe {RECIPE_VERSION}\n".encode())
    for path in source_files():
        digest.update(path.relative_to(FRONTEND).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """One build at a time per cache (parallel CI jobs, or tests started together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(command: list[str], what: str) -> float:
    started = time.perf_counter()
    npm = shutil.which(command[0])
    if npm is None:
        raise SystemExit(
            f"{what}: `{command[0]}` is not on PATH. Install Node.js 20.19+ with npm to build the frontend "
            "(a cached build needs neither)."
        )
    result = subprocess.run([npm, *command[1:]], cwd=FRONTEND, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"{what} failed (exit {result.returncode}): {' '.join(command)}")
    return time.perf_counter() - started


def install_dependencies() -> float:
    """npm ci, only when node_modules was installed from another lockfile."""
    lock_hash = file_hash(FRONTEND / "package-lock.json")
    if file_hash(NODE_MODULES / LOCK_STAMP) == hashlib.sha256(lock_hash.encode()).hexdigest():
        return 0.0
    seconds = run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], "npm ci")
    (NODE_MODULES / LOCK_STAMP).write_text(lock_hash)
    return seconds


def build_into(entry: Path) -> str:
    """Builds with vite into a temporary folder beside `entry`, then renames it into place."""
    npm_seconds = install_dependencies()
    staging = entry.with_name(f".staging-{entry.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    vite_seconds = run(["npm", "run", "build", "--", "--outDir", str(staging), "--emptyOutDir"], "vite build")
    if not (staging / "index.html").is_file():
        raise SystemExit(f"vite build wrote no index.html into {staging}")
    shutil.rmtree(entry, ignore_errors=True)
    staging.rename(entry)
    installed = f"npm ci {npm_seconds:.1f} s, " if npm_seconds else ""
    return f"{installed}vite build {vite_seconds:.1f} s"


def install_dist(entry: Path, key: str) -> None:
    """Replaces frontend/dist with a copy of the cached build (a copy survives cache pruning)."""
    staging = DIST.with_name(f".dist-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(entry, staging)
    (staging / STAMP).write_text(key)
    if DIST.is_symlink() or DIST.is_file():
        DIST.unlink()
    shutil.rmtree(DIST, ignore_errors=True)
    staging.rename(DIST)


def prune(builds: Path, keep: Path) -> None:
    entries = sorted(
        (p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in entries[KEEP_BUILDS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def ensure_built(force: bool = False) -> str:
    started = time.perf_counter()
    key = build_key()
    builds = cache_dir() / "frontend"
    entry = builds / key
    with locked(builds / ".lock"):
        if not force and (DIST / "index.html").is_file() and (DIST / STAMP).is_file():
            if (DIST / STAMP).read_text().strip() == key:
                return f"frontend: up to date (key {key[:12]}), {time.perf_counter() - started:.2f} s"
        if force or not (entry / "index.html").is_file():
            detail = build_into(entry)
            how = f"built ({detail}), cached in {entry}"
        else:
            how = f"restored from cache {entry}"
        os.utime(entry)
        install_dist(entry, key)
        prune(builds, entry)
    return f"frontend: {how}; {time.perf_counter() - started:.2f} s in all"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when a cached build exists")
    parser.add_argument(
        "--print-key", action="store_true", help="print the cache key of the sources and exit"
    )
    args = parser.parse_args(argv)
    if args.print_key:
        print(build_key())
        return 0
    print(ensure_built(force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
