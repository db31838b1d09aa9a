#!/usr/bin/env bash
# The test suite: lint, import rules, then every test. Tests of PostgreSQL, Redis, the Celery worker and the
# browser run when DATABASE_URL (postgres://...) and REDIS_URL are set and Chromium is installed; otherwise they
# are skipped with the reason — except with CI=true, where a missing service is a failure.
#
#   bash scripts/test.sh                   # everything (what CI runs)
#   bash scripts/test.sh tests/rounds -x   # arguments go to pytest
#   bash scripts/test.sh --fast            # everyday loop, under a minute: lint, import rules, `pytest -m unit`
#   bash scripts/test.sh --fast tests/hospitals
#
# --fast skips the set-up (unless a dependency file changed or something is missing), Chromium and the web
# interface's tests; tiers are pytest markers (pyproject.toml): -m "not slow", -m chain, -m zk, ...
set -euo pipefail
cd "$(dirname "$0")/.."

fast=false
if [ "${1:-}" = "--fast" ]; then
  fast=true
  shift
fi

if [ "$fast" = true ]; then
  python_key=$(cat requirements/locks/dev.txt | sha256sum | cut -c1-16)  # as scripts/setup.sh
  if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.dh-stamp 2>/dev/null)" != "$python_key" ] \
    || [ ! -d node_modules ] || [ ! -f frontend/dist/index.html ]; then
    bash scripts/setup.sh
  fi
else
  bash scripts/setup.sh
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "[test] installing Chromium for the browser tests"
      (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "[test] could not install chromium"
    else
      echo "[test] /usr/bin/chromium is absent: browser tests will be skipped (install the chromium package)"
    fi
  fi
fi

echo "[test] locked dependencies match the top-level requirement files (scripts/lock.py --check)"
.venv/bin/python scripts/lock.py --check
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] import rules (lint-imports; contracts in pyproject.toml)"
.venv/bin/lint-imports --no-cache

if [ "$fast" = true ]; then
  exec .venv/bin/python -m pytest -m unit "$@"
fi
echo "[test] web interface unit tests"
npm --prefix frontend ci --no-audit --no-fund --loglevel=error
npm --prefix frontend test --silent
exec .venv/bin/python -m pytest "$@"
