#!/usr/bin/env bash
# Installs what the project needs, once per change of its dependency files: a Python virtual environment
# (.venv), the Node tools (node_modules: circom, snarkjs, solc, hardhat, playwright-core) and the built web
# interface. Needs Python 3.11 and Node 20.19 or later with npm; everything else comes from the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
if ! "$python_bin" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
command -v npm >/dev/null 2>&1 || { echo "error: Node 20.19 or later with npm is required" >&2; exit 1; }
# Vite (the web interface's build) and the Node tools need Node 20.19 or later (README).
node_version=$(node --version 2>/dev/null || echo none)
if ! echo "$node_version" | awk -F'[v.]' '{ exit !($2 > 20 || ($2 == 20 && $3 >= 19)) }'; then
  echo "error: Node 20.19 or later is required (found $node_version): install it, or put it first on PATH" >&2
  exit 1
fi

stamp() { cat "$@" | sha256sum | cut -c1-16; }

# From the lock (every package pinned, with hashes; scripts/lock.py makes it from requirements-dev.txt).
python_key=$(stamp requirements/locks/dev.txt)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.dh-stamp 2>/dev/null)" != "$python_key" ]; then
  echo "[setup] Python environment (.venv)"
  [ -x .venv/bin/python ] || "$python_bin" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/locks/dev.txt
  echo "$python_key" > .venv/.dh-stamp
fi
# The project itself, editable, for its commands (dh-node, dh-keyparty; pyproject.toml [project.scripts]).
if [ ! -x .venv/bin/dh-node ] || [ ! -x .venv/bin/dh-keyparty ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
fi

node_key=$(stamp package.json package-lock.json)
if [ ! -d node_modules ] || [ "$(cat node_modules/.dh-stamp 2>/dev/null)" != "$node_key" ]; then
  echo "[setup] Node tools (node_modules)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$node_key" > node_modules/.dh-stamp
fi

echo "[setup] web interface"
.venv/bin/python scripts/build_frontend.py
