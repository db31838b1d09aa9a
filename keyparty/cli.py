"""`dh-keyparty`: a key party of the committee, run by its organisation's operator on its own host.

    dh-keyparty enroll --portal URL --code CODE --listen HOST:PORT --advertise HOST:PORT [--ca-file PEM] [--home DIR]
    dh-keyparty serve [--once] [--home DIR]
    dh-keyparty status [--home DIR]

`enroll` spends the one-time code the coordinator made for this party: it makes the party's TLS identity (an EC
key, mode 0600, and a self-signed CA certificate for MPyC's TLS between parties), registers the certificate and
the address the other parties reach it at (--advertise) with the portal, and writes its configuration (mode
0600) with the token the portal answers. --listen is where its MPyC process listens (e.g. 0.0.0.0:PORT behind a
port mapping; the port the others connect to is --advertise's). `serve` pulls and does the party's work until
stopped (keyparty/service.py). `status` says what a running party is doing and which key shares it holds (exit status 0 while `serve` runs, 3 when it
does not: a container's health check).
Errors are one line saying what to do, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from crypto import keygen, partytls
from keyparty.client import KeyPartyClient
from keyparty.config import (
    IDENTITY_CERT_FILE,
    IDENTITY_KEY_FILE,
    STATUS_FILE,
    TRUSTED_CHAIN_FILE,
    KeyPartyConfig,
    KeyPartyConfigError,
    check_address,
    default_home,
    make_home,
    read_config,
    trust_chain,
    trust_hospital,
    trusted_hospitals,
    write_config,
    write_private,
)
from keyparty.service import KeyPartyService, committee_dir, shares_held
from protocol.transport import PortalError

EXIT_NOT_RUNNING = 3  # `status` when no `serve` runs for the home (a health check fails)


def identity(home: Path, name: str) -> tuple[bytes, bytes]:
    """The party's TLS identity (key, certificate), made once and kept: re-enrolling keeps it."""
    key_path, cert_path = home / IDENTITY_KEY_FILE, home / IDENTITY_CERT_FILE
    if key_path.exists() and cert_path.exists():
        return key_path.read_bytes(), cert_path.read_bytes()
    key_pem, cert_pem = partytls.make_identity(name)
    write_private(key_path, key_pem)
    cert_path.write_bytes(cert_pem)
    os.chmod(cert_path, 0o644)
    return key_pem, cert_pem


def enroll(
    home: Path, portal_url: str, code: str, listen: str, advertise: str, ca_file: str = ""
) -> KeyPartyConfig:
    """Makes the party's TLS identity (kept if the home has one), spends the code, writes the configuration."""
    listen = check_address(listen, "--listen")
    advertise = check_address(advertise, "--advertise")
    if listen.rpartition(":")[2] != advertise.rpartition(":")[2]:
        logging.getLogger(__name__).warning(
            "--listen and --advertise name different ports: the other parties connect to %s, which must reach "
            "port %s here (a port mapping)",
            advertise,
            listen.rpartition(":")[2],
        )
    if ca_file and not Path(ca_file).is_file():
        raise KeyPartyConfigError(f"no CA file at {ca_file}")
    if not portal_url.startswith(("https://", "http://")):
        raise KeyPartyConfigError(f"--portal {portal_url!r} must be the portal's URL (https://...)")
    make_home(home)
    _key, certificate = identity(home, advertise.rpartition(":")[0])
    answer = KeyPartyClient(portal_url, ca_file=ca_file).enroll(code, advertise, certificate.decode())
    config = KeyPartyConfig(
        portal_url=portal_url.rstrip("/"),
        token=answer["token"],
        listen=listen,
        advertise=advertise,
        ca_file=str(Path(ca_file).resolve()) if ca_file else "",
        party_id=int(answer["id"]),
        name=str(answer["name"]),
    )
    write_config(home, config)
    return config


def status_text(home: Path) -> tuple[str, bool]:
    """What `dh-keyparty status` prints, and whether `serve` is running for this home."""
    config = read_config(home)
    certificate = home / IDENTITY_CERT_FILE
    fingerprint = partytls.fingerprint(certificate.read_bytes()) if certificate.exists() else "(none)"
    lines = [
        f"key party {config.name} (id {config.party_id}) at {config.portal_url}",
        f"MPyC: listens on {config.listen}, reached at {config.advertise}; TLS certificate SHA-256 {fingerprint}",
    ]
    held = shares_held(home)
    for committee in held:
        commitment_file = committee_dir(home, committee) / keygen.COMMITMENT_FILE
        commitment = (
            json.loads(commitment_file.read_text())["commitment"] if commitment_file.exists() else "?"
        )
        lines.append(
            f"holds a key share of committee {committee}, commitment {commitment} (hospitals pin it: "
            f"dh-node pin-key-party {commitment})"
        )
    if not held:
        lines.append("holds no key share yet")
    trusted = trusted_hospitals(home)
    if trusted:
        names = ", ".join(
            f"{name} ({address})" for address, name in sorted(trusted.items(), key=lambda i: i[1])
        )
        lines.append(f"opens only uploads signed by the {len(trusted)} hospitals it trusts: {names}")
    else:
        lines.append("trusts the portal's list of hospitals (pin the hospitals' keys: dh-keyparty trust)")
    chain_file = home / TRUSTED_CHAIN_FILE
    if chain_file.exists():
        pinned = json.loads(chain_file.read_text())
        lines.append(
            f"opens only uploads recorded on chain {pinned['chain_id']} ({pinned['rpc_url']}) in its "
            f"{len(pinned['registries'])} pinned registries: {', '.join(pinned['registries'])}"
        )
    else:
        lines.append("reads no chain (pin the round registry: dh-keyparty trust-chain)")
    path = home / STATUS_FILE
    if not path.exists():
        lines.append("not run yet (dh-keyparty serve)")
        return "\n".join(lines), False
    status = json.loads(path.read_text())
    alive = status["state"] != "stopped" and _process_alive(status["pid"])
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status["since"]))
    lines.append(
        f"{'running' if alive else 'not running'} (pid {status['pid']}): {status['state']}"
        + (f", {status['detail']}" if status["detail"] else "")
        + f" since {since}"
    )
    lines.append(
        f"decryption jobs done by the last run: {', '.join(map(str, status['jobs_done'])) or 'none'}"
    )
    if status["last_error"]:
        lines.append(f"last error: {status['last_error']}")
    return "\n".join(lines), alive


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parser() -> argparse.ArgumentParser:
    home_help = "the key party's folder (default: DH_KEYPARTY_HOME or ~/.decentrahealth/keyparty)"
    result = argparse.ArgumentParser(
        prog="dh-keyparty", description="A key party of the DecentraHealth committee."
    )
    result.add_argument("--home", type=Path, default=None, help=home_help)
    result.add_argument("-v", "--verbose", action="store_true", help="log every request and step")
    commands = result.add_subparsers(dest="command", required=True)
    enroll_parser = commands.add_parser(
        "enroll", help="enroll this key party with the code the coordinator gave you"
    )
    enroll_parser.add_argument(
        "--portal", required=True, help="the portal's URL, e.g. https://portal.example.org"
    )
    enroll_parser.add_argument("--code", required=True, help="the one-time enrollment code")
    enroll_parser.add_argument(
        "--listen", required=True, help="HOST:PORT this party's MPyC process listens on (e.g. 0.0.0.0:11365)"
    )
    enroll_parser.add_argument(
        "--advertise",
        required=True,
        help="HOST:PORT the other key parties connect to (registered with the portal)",
    )
    enroll_parser.add_argument(
        "--ca-file", default="", help="PEM file of a private CA the portal's certificate uses"
    )
    run_parser = commands.add_parser(
        "serve", help="pull and do this party's work until stopped (Ctrl-C, SIGTERM)"
    )
    run_parser.add_argument("--once", action="store_true", help="poll once, do what is listed, and stop")
    status_parser = commands.add_parser(
        "status", help="what this key party is doing, and the shares it holds"
    )
    trust_parser = commands.add_parser(
        "trust",
        help="open only uploads signed by the hospitals listed here (each signing address learnt from the "
        "hospital itself, not from the portal)",
    )
    trust_parser.add_argument(
        "address", help="the hospital's signing address (its node prints it at enrollment)"
    )
    trust_parser.add_argument("--name", required=True, help="the hospital's name, for messages")
    trust_parser.add_argument(
        "--chain-address",
        default="",
        help="the address the hospital records its submissions from on chain (its node prints it at enrollment); "
        "with dh-keyparty trust-chain, uploads it has not recorded there are refused",
    )
    chain_parser = commands.add_parser(
        "trust-chain",
        help="open only uploads their hospitals recorded in this round registry, read through your own RPC "
        "endpoint (vet the registry first: python -m contracts.vet_registry)",
    )
    chain_parser.add_argument("--rpc", required=True, help="your own RPC endpoint, not the portal's")
    chain_parser.add_argument("--registry", required=True, help="the round registry's address")
    chain_parser.add_argument(
        "--code-hash", default="", help="the code hash contracts.vet_registry printed: pin only that code"
    )
    for sub in (enroll_parser, run_parser, status_parser, trust_parser, chain_parser):
        sub.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=home_help)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    home = (arguments.home or default_home()).expanduser().resolve()
    logging.basicConfig(
        level=logging.INFO if arguments.verbose or arguments.command == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not arguments.verbose:
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    portal = getattr(arguments, "portal", "") or ""
    try:
        if arguments.command == "enroll":
            config = enroll(
                home,
                arguments.portal,
                arguments.code,
                arguments.listen,
                arguments.advertise,
                arguments.ca_file,
            )
            print(f"enrolled as key party {config.name} with {config.portal_url}; configuration in {home}")
            print("next: dh-keyparty serve" + (f" --home {home}" if arguments.home else ""))
            return 0
        if arguments.command == "trust":
            listed = trust_hospital(home, arguments.address, arguments.name, arguments.chain_address)
            print(
                f"trusted {arguments.name} ({arguments.address}); this key party trusts {len(listed)} hospitals"
            )
            return 0
        if arguments.command == "trust-chain":
            pinned = trust_chain(home, arguments.rpc, arguments.registry, arguments.code_hash)
            print(
                f"pinned registry {arguments.registry} on chain {pinned['chain_id']} (code hash "
                f"{pinned['registries'][arguments.registry.lower()]}); this key party opens only uploads recorded "
                f"in its {len(pinned['registries'])} pinned registries"
            )
            return 0
        if arguments.command == "status":
            text, running = status_text(home)
            print(text)
            return 0 if running else EXIT_NOT_RUNNING
        service = KeyPartyService(home)
        portal = service.config.portal_url
        service.install_signal_handlers()
        service.run(once=arguments.once)
        return 0
    except KeyPartyConfigError as exc:
        print(f"dh-keyparty: {exc}", file=sys.stderr)
        return 2
    except PortalError as exc:
        print(f"dh-keyparty: the portal refused: {exc.detail} (HTTP {exc.status})", file=sys.stderr)
        return 1
    except requests.exceptions.SSLError as exc:
        print(
            f"dh-keyparty: the portal's certificate did not verify ({exc.__class__.__name__}): check the URL, or "
            "give the private CA with --ca-file at enrollment",
            file=sys.stderr,
        )
        return 1
    except (requests.ConnectionError, requests.Timeout):
        print(
            f"dh-keyparty: cannot reach the portal at {portal}: check the URL and the network",
            file=sys.stderr,
        )
        return 1
    except requests.RequestException as exc:
        print(f"dh-keyparty: {portal} is not a usable portal URL ({exc.__class__.__name__})", file=sys.stderr)
        return 1
