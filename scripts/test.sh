#!/usr/bin/env bash
# The test suite: lint, then every test. Tests of PostgreSQL, Redis, the Celery worker and the browser run
# when DATABASE_URL (postgres://...) and REDIS_URL are set and Chromium is installed; otherwise they are
# skipped with the reason — except with CI=true, where a missing service is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[test] installing Chromium for the browser tests"
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "[test] could not install chromium"
  else
    echo "[test] /usr/bin/chromium is absent: browser tests will be skipped (install the chromium package)"
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] web interface unit tests"
npm --prefix frontend ci --no-audit --no-fund --loglevel=error
npm --prefix frontend test --silent
exec .venv/bin/python -m pytest "$@"
