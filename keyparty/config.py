"""A key party's home: its configuration, TLS identity, key shares and job folders, all private to the party
(files 0600 in folders 0700).

    <home>/config.json                portal URL, token, listen and advertised addresses (dh-keyparty enroll)
    <home>/tls/identity.key, .crt     its TLS identity: key (never leaves the home) and self-signed CA certificate
    <home>/committees/<id>/           its key share of committee <id> (secret_share.seal), its witness key
                                      (witness.key: opens the hospitals' shares of their encryption randomness,
                                      crypto.wellformed), contribution, commitment
    <home>/jobs/<id>/                 a decryption job: the description, ciphertexts, each attempt's MPC log
    <home>/status.json                what `dh-keyparty serve` is doing, for `dh-keyparty status`
    <home>/trusted_hospitals.json     if present, the only hospitals' signing keys whose uploads it opens
                                      (dh-keyparty trust), each learnt from the hospital out of band, with the
                                      address each records its submissions from on chain (--chain-address)
    <home>/trusted_chain.json         if present, the chain its jobs must be recorded on: the party's own RPC
                                      endpoint, the chain id, and the round registries vetted, each with the
                                      hash of its code (dh-keyparty trust-chain)

The home is DH_KEYPARTY_HOME, else ~/.decentrahealth/keyparty, unless --home names another.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from crypto.decryption_job import read_trusted_hospitals
from protocol.chain_records import ChainReader, ChainReadError

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
TRUSTED_HOSPITALS_FILE = "trusted_hospitals.json"
TRUSTED_CHAIN_FILE = "trusted_chain.json"
IDENTITY_KEY_FILE = "tls/identity.key"
IDENTITY_CERT_FILE = "tls/identity.crt"
COMMITTEES_DIR = "committees"
JOBS_DIR = "jobs"
ADDRESS = re.compile(r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(?P<port>[0-9]{1,5})")


class KeyPartyConfigError(Exception):
    """The party's home or configuration is missing or unusable; the message says what to do."""


@dataclass(frozen=True)
class KeyPartyConfig:
    portal_url: str
    token: str
    listen: str  # host:port this party's MPyC process listens on
    advertise: str  # host:port the other parties connect to (registered with the portal)
    ca_file: str = ""  # a PEM bundle to verify the portal's certificate against; empty: the system's CAs
    party_id: int = 0
    name: str = ""

    def __repr__(self) -> str:  # never print the token
        return f"KeyPartyConfig(portal_url={self.portal_url!r}, name={self.name!r}, advertise={self.advertise!r})"


def default_home() -> Path:
    raw = os.environ.get("DH_KEYPARTY_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".decentrahealth" / "keyparty"


def check_address(value: str, option: str) -> str:
    match = ADDRESS.fullmatch(value.strip())
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise KeyPartyConfigError(
            f"{option} {value!r} must be HOST:PORT (a host name or IPv4 address, port 1-65535)"
        )
    return f"{match['host']}:{int(match['port'])}"


def make_home(home: Path) -> Path:
    """The home folder, created 0700 (an existing one is made 0700)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    return home


def write_private(path: Path, data: str | bytes) -> None:
    """Writes `data` to `path` readable by its owner only (created 0600, never readable by others meanwhile)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def write_config(home: Path, config: KeyPartyConfig) -> Path:
    path = Path(home) / CONFIG_FILE
    write_private(path, json.dumps(asdict(config), indent=2) + "\n")
    return path


def read_config(home: Path) -> KeyPartyConfig:
    path = Path(home) / CONFIG_FILE
    if not Path(home).is_dir():
        raise KeyPartyConfigError(
            f"no key party home at {home}: enroll first (dh-keyparty enroll --portal URL --code CODE --listen "
            "HOST:PORT --advertise HOST:PORT), or name the home with --home or DH_KEYPARTY_HOME"
        )
    if not path.exists():
        raise KeyPartyConfigError(
            f"no key party configuration at {path}: enroll first (dh-keyparty enroll ...), or name the home "
            "with --home or DH_KEYPARTY_HOME"
        )
    try:
        raw = json.loads(path.read_text())
        known = {field.name for field in fields(KeyPartyConfig)}
        config = KeyPartyConfig(**{key: value for key, value in raw.items() if key in known})
    except (OSError, ValueError, TypeError) as exc:
        raise KeyPartyConfigError(f"unreadable key party configuration {path}: {exc}") from None
    if not config.portal_url or not config.token:
        raise KeyPartyConfigError(f"{path} has no portal URL or token: enroll again")
    return config


def trusted_hospitals(home: Path) -> dict[str, str]:
    """The hospitals' signing addresses this party trusts (address -> name); empty when it keeps no list."""
    path = Path(home) / TRUSTED_HOSPITALS_FILE
    return read_trusted_hospitals(path) if path.exists() else {}


def _read_pins(path: Path) -> dict:
    """A pin file's JSON object ({} when there is none yet)."""
    if not path.exists():
        return {}
    try:
        pins = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeyPartyConfigError(f"unreadable {path}: {exc}; fix or remove it, then pin again") from None
    if not isinstance(pins, dict):
        raise KeyPartyConfigError(f"{path} holds no JSON object; fix or remove it, then pin again")
    return pins


def _check_hex_address(value: str, what: str) -> str:
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise KeyPartyConfigError(f"{value!r} is not {what} (0x and 40 hex digits)")
    return value.lower()


def trust_hospital(home: Path, address: str, name: str, chain_address: str = "") -> dict[str, str]:
    """Adds a hospital's signing address (0x and 40 hex digits) to the party's list, with the address it records
    its submissions from on chain when given; returns the list (signing address -> name)."""
    address = _check_hex_address(address, "a signing address")
    path = Path(home) / TRUSTED_HOSPITALS_FILE
    kept = _read_pins(path)
    listed = {**trusted_hospitals(home), address: name}
    chain_addresses = dict(kept.get("chain_addresses", {}))
    if chain_address:
        chain_addresses[address] = _check_hex_address(chain_address, "a chain address")
    write_private(
        path, json.dumps({"hospitals": listed, "chain_addresses": chain_addresses}, indent=2) + "\n"
    )
    return listed


def trust_chain(home: Path, rpc_url: str, registry: str, vetted_hash: str = "") -> dict:
    """Pins the chain this party checks jobs against: its own RPC endpoint, the chain's id and the round registry
    its operator vetted, with the keccak-256 of the registry's code now (a job is refused if it ever differs),
    which must be `vetted_hash` when given (the hash contracts.vet_registry printed). Another registry on the same
    chain is added; another endpoint or chain replaces the pins. Returns them."""
    registry = _check_hex_address(registry, "a registry address")
    reader = ChainReader(rpc_url)
    try:
        chain_id, code_hash = reader.chain_id(), reader.code_hash(registry)
    except ChainReadError as exc:
        raise KeyPartyConfigError(f"{exc}: name an RPC endpoint this host can reach") from None
    if not code_hash:
        raise KeyPartyConfigError(f"no contract at {registry} on chain {chain_id} ({rpc_url})")
    if vetted_hash and code_hash != vetted_hash.lower():
        raise KeyPartyConfigError(
            f"the code at {registry} hashes to {code_hash}, not the vetted {vetted_hash}: not pinned"
        )
    path = Path(home) / TRUSTED_CHAIN_FILE
    pinned = _read_pins(path)
    same_chain = pinned.get("rpc_url") == rpc_url and pinned.get("chain_id") == chain_id
    registries = {**(pinned.get("registries", {}) if same_chain else {}), registry: code_hash}
    pinned = {"rpc_url": rpc_url, "chain_id": chain_id, "registries": registries}
    write_private(path, json.dumps(pinned, indent=2) + "\n")
    return pinned
