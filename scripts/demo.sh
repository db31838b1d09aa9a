#!/usr/bin/env bash
# The demo: complete secure rounds with several hospitals on real data, on a bare machine (SQLite, no Redis,
# a local chain). Extra arguments go to `python -m demo`, which is `manage.py demo` (see --help), e.g. --rounds 3
# --hospitals 4.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DH_DATA_DIR="${DH_DATA_DIR:-$PWD/var/demo-run}"
rm -rf "$DH_DATA_DIR"
.venv/bin/python manage.py migrate --verbosity 0
exec .venv/bin/python -m demo --json "$DH_DATA_DIR/summary.json" --plot "$DH_DATA_DIR/accuracy.png" "$@"
