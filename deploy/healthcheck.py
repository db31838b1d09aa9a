"""Container healthchecks of deploy/compose.yaml, with the standard library only (the images carry no curl).

    python deploy/healthcheck.py http://127.0.0.1:8000/health/ready/   # exit 0 on a 2xx answer
    python deploy/healthcheck.py --rpc http://127.0.0.1:8545           # exit 0 when eth_blockNumber answers

Prints one line saying what failed, never the answer's body.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 5.0


def http_ok(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError as exc:
        return type(exc).__name__


def rpc_ok(url: str) -> str | None:
    body = json.dumps({"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": 1}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            answer = json.loads(response.read(64 * 1024))
    except (OSError, ValueError) as exc:
        return type(exc).__name__
    result = answer.get("result") if isinstance(answer, dict) else None
    return None if isinstance(result, str) and result.startswith("0x") else "no block number"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rpc", action="store_true", help="an Ethereum JSON-RPC endpoint, not an HTTP probe")
    args = parser.parse_args(argv)
    problem = rpc_ok(args.url) if args.rpc else http_ok(args.url)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
