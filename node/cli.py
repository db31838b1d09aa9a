"""`dh-node`: a hospital's node, run by the hospital's IT admin on the hospital's own machine.

    dh-node enroll --portal URL --code CODE --data PATH [--ca-file PEM] [--home DIR]
    dh-node run [--home DIR] [--once]
    dh-node status [--home DIR]
    dh-node pin-key-party COMMITMENT [--home DIR]

`enroll` spends the one-time code the coordinator made for this hospital: the node makes its own chain and
signing keys, registers their addresses with the portal, and writes its configuration (mode 0600) with the
node token the portal answers. `run` pulls and does the node's work until stopped (node/service.py). `status`
says what a running node is doing. `pin-key-party` pins a key party's commitment, learnt from its operator
(node/protecting.py says what that defends). Errors are one line saying what to do, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import requests

from fl.local_data import describe_local_data
from node import keys
from node.config import (
    CHAIN_KEY_FILE,
    SIGNING_KEY_FILE,
    STATUS_FILE,
    NodeConfig,
    NodeConfigError,
    default_home,
    read_node_config,
    write_node_config,
)
from node.service import NodeService
from protocol.transport import PortalError, PortalSession


def enroll(
    home: Path,
    portal_url: str,
    code: str,
    data_path: str,
    ca_file: str = "",
    seed: int = 0,
    chain_rpc_url: str = "",
    allow_plaintext: bool = False,
) -> NodeConfig:
    """Makes the node's keys (kept if the home already has them), spends the code, writes the configuration."""
    data = Path(data_path).expanduser().resolve()
    if not data.exists():
        raise NodeConfigError(
            f"no data at {data}: --data names this hospital's training data (a file or folder)"
        )
    try:
        describe_local_data(data)  # refused before the one-time code is spent
    except ValueError as exc:
        raise NodeConfigError(f"--data: {exc}") from None
    if ca_file and not Path(ca_file).is_file():
        raise NodeConfigError(f"no CA file at {ca_file}")
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    chain_key = keys.create_key(home / CHAIN_KEY_FILE)
    signing_key = keys.create_key(home / SIGNING_KEY_FILE)
    answer = PortalSession(portal_url, ca_file=ca_file).post_json(
        "/api/node/enroll/",
        {"code": code, "signing_address": signing_key.address, "chain_address": chain_key.address},
    )
    chain = answer.get("chain") or {}
    config = NodeConfig(
        portal_url=portal_url.rstrip("/"),
        token=answer["token"],
        data_path=str(data),
        seed=seed,
        ca_file=str(Path(ca_file).resolve()) if ca_file else "",
        hospital=answer["hospital"]["slug"],
        chain_rpc_url=chain_rpc_url or chain.get("rpc_url", ""),
        chain_key_file=str(home / CHAIN_KEY_FILE),
        signing_key_file=str(home / SIGNING_KEY_FILE),
        allow_plaintext=allow_plaintext,
    )
    write_node_config(home, config)
    return config


def status_text(home: Path) -> str:
    config = read_node_config(home)
    path = home / STATUS_FILE
    pins = (
        f"encrypts only under key committees holding the {len(config.pinned_key_parties)} key part(ies) it pinned"
        if config.pinned_key_parties
        else "takes the key committee's key from the portal (pin key parties: dh-node pin-key-party)"
    )
    if not path.exists():
        return f"enrolled as {config.hospital} with {config.portal_url}; {pins}; not run yet (dh-node run)"
    status = json.loads(path.read_text())
    alive = status["state"] != "stopped" and _process_alive(status["pid"])
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status["since"]))
    lines = [
        f"hospital {config.hospital} at {config.portal_url}",
        pins,
        f"{'running' if alive else 'not running'} (pid {status['pid']}): {status['state']}"
        + (f", {status['detail']}" if status["detail"] else "")
        + f" since {since}",
        f"rounds uploaded by the last run: {', '.join(map(str, status['rounds_done'])) or 'none'}",
    ]
    if status["last_error"]:
        lines.append(f"last error: {status['last_error']}")
    return "\n".join(lines)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog="dh-node", description="A hospital's DecentraHealth node.")
    result.add_argument(
        "--home",
        type=Path,
        default=None,
        help="the node's folder (default: DH_NODE_HOME or ~/.decentrahealth/node)",
    )
    result.add_argument("-v", "--verbose", action="store_true", help="log every request and step")
    commands = result.add_subparsers(dest="command", required=True)
    enroll_parser = commands.add_parser(
        "enroll", help="enroll this node with the code the coordinator gave you"
    )
    enroll_parser.add_argument(
        "--portal", required=True, help="the portal's URL, e.g. https://portal.example.org"
    )
    enroll_parser.add_argument("--code", required=True, help="the one-time enrollment code")
    enroll_parser.add_argument(
        "--data", required=True, help="this hospital's training data (.npz or image folder)"
    )
    enroll_parser.add_argument(
        "--ca-file", default="", help="PEM file of a private CA the portal's certificate uses"
    )
    enroll_parser.add_argument(
        "--seed", type=int, default=0, help="the seed of local training (reproducible runs)"
    )
    enroll_parser.add_argument(
        "--chain-rpc", default="", help="this hospital's chain endpoint (default: the one the portal names)"
    )
    enroll_parser.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="take part in rounds whose updates travel unencrypted (benchmark or test consortia only)",
    )
    run_parser = commands.add_parser(
        "run", help="pull and do this node's work until stopped (Ctrl-C, SIGTERM)"
    )
    run_parser.add_argument("--once", action="store_true", help="poll once, do what is listed, and stop")
    commands.add_parser("status", help="what this node is doing")
    pin_parser = commands.add_parser(
        "pin-key-party",
        help="encrypt only under key committees that hold this key party (its commitment, from its operator)",
    )
    pin_parser.add_argument(
        "commitment", help="the key party's commitment (64 hex digits, as `dh-keyparty status` prints it)"
    )
    return result


def pin_key_party(home: Path, commitment: str) -> NodeConfig:
    """Adds a key party's commitment to the node's pins (kept once)."""
    config = read_node_config(home)
    commitment = commitment.strip().lower()
    if len(commitment) != 64 or any(c not in "0123456789abcdef" for c in commitment):
        raise NodeConfigError(
            f"{commitment!r} is not a commitment: 64 hex digits, as `dh-keyparty status` prints on the key party"
        )
    if commitment not in config.pinned_key_parties:
        config = replace(config, pinned_key_parties=(*config.pinned_key_parties, commitment))
        write_node_config(home, config)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    home = (arguments.home or default_home()).expanduser().resolve()
    logging.basicConfig(
        level=logging.INFO if arguments.verbose or arguments.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not arguments.verbose:
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    try:
        if arguments.command == "enroll":
            config = enroll(
                home,
                arguments.portal,
                arguments.code,
                arguments.data,
                arguments.ca_file,
                arguments.seed,
                arguments.chain_rpc,
                arguments.allow_plaintext,
            )
            print(f"enrolled as hospital {config.hospital} with {config.portal_url}; configuration in {home}")
            print(
                f"data: {describe_local_data(config.data_path)}; each round checks it fits the round's model"
            )
            signing_address = keys.load_key(Path(config.signing_key_file)).address
            chain_address = keys.load_key(Path(config.chain_key_file)).address
            print(
                f"signing address {signing_address}, chain address {chain_address}: give them to the key parties' "
                "operators yourself (not through the portal), who pin them with: dh-keyparty trust "
                f"{signing_address} --name {config.hospital} --chain-address {chain_address}"
            )
            print("next: dh-node run" + (f" --home {home}" if arguments.home else ""))
            return 0
        if arguments.command == "status":
            print(status_text(home))
            return 0
        if arguments.command == "pin-key-party":
            config = pin_key_party(home, arguments.commitment)
            print(
                f"pinned: this node encrypts only under key committees holding the {len(config.pinned_key_parties)} "
                "key part(ies) it pinned, recomputing the joint key from the key ceremony's record"
            )
            return 0
        service = NodeService(home)
        service.install_signal_handlers()
        service.run(once=arguments.once)
        return 0
    except NodeConfigError as exc:
        print(f"dh-node: {exc}", file=sys.stderr)
        return 2
    except PortalError as exc:
        print(f"dh-node: {exc}", file=sys.stderr)
        return 1
    except requests.exceptions.SSLError as exc:
        print(
            f"dh-node: the portal's certificate did not verify ({exc.__class__.__name__}): check the URL, or give "
            "the private CA with --ca-file at enrollment",
            file=sys.stderr,
        )
        return 1
    except requests.ConnectionError:
        print("dh-node: cannot reach the portal: check the URL and the network", file=sys.stderr)
        return 1
