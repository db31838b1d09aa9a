#!/usr/bin/env sh
# Compiles circuits/head_step.circom into the cache (and, with --ptau, runs a ceremony): crypto/zk/build.py.
#   circuits/build.sh                                   default HeadSteps(16, 2, 8, 4)
#   circuits/build.sh --batch 32 --steps 1
#   circuits/build.sh --ptau ../shared/zk/pot15_dev_final.ptau --participant hospital-a --beacon <hex> --solidity V.sol
cd "$(dirname "$0")/.." || exit 1
PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" -m crypto.zk.build "$@"
