"""The deployment kit without a Docker daemon: deploy/compose.yaml and deploy/compose.production.yaml
against the Compose Specification's JSON schema (vendored: tests/deploy/README.md), then what the schema
cannot say: who can reach whom, whose volume is whose, that every variable is documented in .env.example,
that the Dockerfiles exist and install only what each party needs, the entry point and the healthcheck.

Each rule is a function that lists the problems it finds; the tests assert the real files have none, and that
each rule finds the problem in a copy broken on purpose (so no rule passes vacuously).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
PRODUCTION = DEPLOY / "compose.production.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
DEPLOY_DOC = REPO_ROOT / "docs" / "DEPLOY.md"
SCHEMA = Path(__file__).with_name("compose-spec.json")
# The vendored schema's digest (tests/deploy/README.md says where it comes from): change both together.
SCHEMA_SHA256 = "46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496"

HOSPITALS = ("hospital-1", "hospital-2", "hospital-3")
KEY_PARTIES = ("keyparty-1", "keyparty-2", "keyparty-3")
PARTIES = HOSPITALS + KEY_PARTIES
PORTAL_BACKEND = ("postgres", "redis")
PORTAL_PROCESSES = ("portal", "worker", "beat", "migrate")
# DH_ names the compose files set that README's settings table does not list, and why.
NOT_PORTAL_SETTINGS = {
    "DH_NODE_HOME": "dh-node's home (node/config.py)",
    "DH_KEYPARTY_HOME": "dh-keyparty's home",
    "DH_HARDHAT_ACCOUNTS": "contracts/hardhat.config.js",
    "DH_ENROLLMENT_CODE_HOURS": "dhportal/settings/base.py",
    "DH_CHAIN_PUBLIC_RPC_URL": "dhportal/settings/base.py",
}

# --- loading and interpolation, as `docker compose` does ----------------------------------------------------

# $$ (a literal $), ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error},
# ${NAME:+alt}, $NAME
VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


class UnsetVariable(ValueError):
    pass


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        document = yaml.safe_load(handle)  # resolves anchors and << merge keys, as compose does
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines (no quotes, no export), as .env.example writes them; a name set twice is an error."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f"{path.name}:{number}: not NAME=value"
        assert name not in values, f"{path.name}:{number}: {name} is set twice"
        values[name] = value
    return values


def interpolate_text(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        present = value is not None
        non_empty = bool(value)
        if op == ":-":
            return value if non_empty else arg
        if op == "-":
            return value if present else arg
        if op == ":?" and not non_empty or op == "?" and not present:
            raise UnsetVariable(f"{name}: {arg}")
        if op == ":+":
            return arg if non_empty else ""
        if op == "+":
            return arg if present else ""
        return value or ""

    return VARIABLE.sub(replace, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Every string value (not the keys), as compose interpolates before it validates."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, str):
        return interpolate_text(node, env)
    return node


def strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)
    elif isinstance(node, str):
        yield node


def referenced_variables(document: dict[str, Any]) -> set[str]:
    names = set()
    for text in strings_in(document):
        for match in VARIABLE.finditer(text):
            if not match["escaped"]:
                names.add(match["braced"] or match["plain"])
    return names


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any], env_example: dict[str, str]) -> dict[str, Any]:
    return interpolate(raw_compose, env_example)


@pytest.fixture(scope="module")
def production(env_example: dict[str, str]) -> dict[str, Any]:
    return interpolate(load_yaml(PRODUCTION), env_example)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    # draft-07, which "$schema" names in a spelling (https, no "#") jsonschema does not recognise by itself
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_problems(validator: jsonschema.protocols.Validator, document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


# --- what services reach and keep ---------------------------------------------------------------------------


def services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return document.get("services") or {}


def networks_of(service: dict[str, Any]) -> set[str]:
    """A service without `networks` (and without network_mode) is on the project's `default` network."""
    if "network_mode" in service:
        return {f"mode:{service['network_mode']}"}
    networks = service.get("networks")
    if networks is None:
        return {"default"}
    return set(networks)


def volume_sources(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each mount, short or long syntax; an anonymous volume has source ''."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) == 1:
                mounts.append(("", parts[0], False))
            else:
                mode = parts[2] if len(parts) > 2 else ""
                mounts.append((parts[0], parts[1], "ro" in mode.split(",")))
        else:
            mounts.append((volume.get("source", ""), volume["target"], bool(volume.get("read_only"))))
    return mounts


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    dependencies = service.get("depends_on") or {}
    if isinstance(dependencies, list):
        return {name: {"condition": "service_started"} for name in dependencies}
    return dependencies


# --- the rules ----------------------------------------------------------------------------------------------


def missing_dockerfiles(document: dict[str, Any], compose_dir: Path = DEPLOY) -> list[str]:
    problems = []
    for name, service in services(document).items():
        build = service.get("build")
        if build is None:
            if "image" not in service:
                problems.append(f"{name}: neither build nor image")
            continue
        if isinstance(build, str):
            build = {"context": build}
        context = (compose_dir / build.get("context", ".")).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not context.is_dir():
            problems.append(f"{name}: build context {context} is not a folder")
        elif not dockerfile.is_file():
            problems.append(f"{name}: {dockerfile} does not exist")
    return problems


def undocumented_variables(documents: list[dict[str, Any]], documented: dict[str, str]) -> list[str]:
    names = set().union(*(referenced_variables(document) for document in documents))
    return sorted(f"${{{name}}} is not in .env.example" for name in names - set(documented))


def reachable_backend(document: dict[str, Any]) -> list[str]:
    """A hospital or key party on a network with PostgreSQL or Redis."""
    found = services(document)
    backend = set().union(*(networks_of(found[name]) for name in PORTAL_BACKEND if name in found))
    return [
        f"{name} shares {sorted(networks_of(found[name]) & backend)} with postgres/redis"
        for name in PARTIES
        if name in found and networks_of(found[name]) & backend
    ]


def parties_reaching_each_other(document: dict[str, Any]) -> list[str]:
    """Two hospitals, or a hospital and a key party, on one network (key parties share theirs on purpose)."""
    found = services(document)
    problems = []
    for index, hospital in enumerate(HOSPITALS):
        for other in HOSPITALS[index + 1 :] + KEY_PARTIES:
            if hospital in found and other in found:
                shared = networks_of(found[hospital]) & networks_of(found[other])
                if shared:
                    problems.append(f"{hospital} and {other} share {sorted(shared)}")
    return problems


def shared_party_volumes(document: dict[str, Any]) -> list[str]:
    """Each party's volumes and bind mounts are its own: no other service mounts them."""
    found = services(document)
    problems = []
    for party in PARTIES:
        if party not in found:
            continue
        own = {source for source, _, _ in volume_sources(found[party]) if source}
        if not any(target == "/var/lib/decentrahealth" for _, target, _ in volume_sources(found[party])):
            problems.append(f"{party}: no volume at its home /var/lib/decentrahealth")
        for other, service in found.items():
            if other != party:
                for source in own & {source for source, _, _ in volume_sources(service)}:
                    problems.append(f"{party} and {other} both mount {source}")
    return problems


def hospital_data_not_read_only(document: dict[str, Any]) -> list[str]:
    found = services(document)
    return [
        f"{hospital}: its data at /data is not mounted read-only"
        for hospital in HOSPITALS
        if hospital in found
        and not any(
            target == "/data" and read_only for _, target, read_only in volume_sources(found[hospital])
        )
    ]


def parties_with_backend_credentials(document: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in services(document).items():
        if name not in PARTIES:
            continue
        if service.get("env_file"):
            problems.append(f"{name}: env_file (it would hand the party the portal's environment)")
        for key, value in environment_of(service).items():
            if key in ("DATABASE_URL", "REDIS_URL") or re.search(r"(postgres(ql)?|rediss?)://", value):
                problems.append(f"{name}: {key} gives it the portal's database or broker")
    return problems


def dependency_problems(document: dict[str, Any], base: dict[str, Any] | None = None) -> list[str]:
    """depends_on names a service; service_healthy, one with a healthcheck; service_completed_successfully,
    one that does not restart."""
    found = services(base or document)
    problems = []
    for name, service in services(document).items():
        for target, rule in depends_on(service).items():
            if target not in found:
                if rule.get("required", True):
                    problems.append(f"{name} depends on {target}, which is not a service")
                continue
            condition = rule.get("condition", "service_started")
            if condition == "service_healthy" and "healthcheck" not in found[target]:
                problems.append(f"{name} waits for {target} to be healthy, which has no healthcheck")
            if condition == "service_completed_successfully" and found[target].get("restart", "no") != "no":
                problems.append(f"{name} waits for {target} to complete, which restarts")
    return problems


def exposure_problems(document: dict[str, Any]) -> list[str]:
    """Only the portal publishes a port, on the loopback only (the TLS proxy is the only way in)."""
    problems = []
    for name, service in services(document).items():
        for port in service.get("ports") or []:
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            if name != "portal":
                problems.append(f"{name} publishes {text}")
            elif not text.startswith("127.0.0.1:"):
                problems.append(f"portal publishes {text} beyond this machine's loopback")
    return problems


def internal_network_problems(document: dict[str, Any]) -> list[str]:
    networks = document.get("networks") or {}
    return [
        f"network {name} is not internal"
        for name in ("backend", "committee")
        if not (networks.get(name) or {}).get("internal")
    ]


def unknown_settings(document: dict[str, Any], readme: str, entrypoint: str) -> list[str]:
    """Every DH_ name a service sets is a setting README lists, a _FILE the entry point reads, or a known
    variable of another program (NOT_PORTAL_SETTINGS)."""
    listed = set(re.findall(r"^\| `(DH_[A-Z0-9_]+)` \|", readme, re.MULTILINE))
    file_secrets = set(
        re.search(r"for name in ([^;]*);", entrypoint, re.DOTALL)[1].replace("\\", " ").split()
    )
    problems = []
    for name, service in services(document).items():
        for key in environment_of(service):
            if not key.startswith("DH_") or key in listed or key in NOT_PORTAL_SETTINGS:
                continue
            if key.endswith("_FILE") and key.removesuffix("_FILE") in file_secrets:
                continue
            problems.append(f"{name}: {key} is no setting README lists")
    return problems


def secret_file_problems(document: dict[str, Any]) -> list[str]:
    """A NAME_FILE=/run/secrets/X must come with secret X, or the entry point stops the container."""
    declared = set(document.get("secrets") or {})
    problems = []
    for name, service in services(document).items():
        mounted = {item if isinstance(item, str) else item["source"] for item in service.get("secrets") or []}
        problems += [f"{name}: secret {secret} is not declared" for secret in mounted - declared]
        for key, value in environment_of(service).items():
            if key.endswith("_FILE") and value.startswith("/run/secrets/"):
                if value.removeprefix("/run/secrets/") not in mounted:
                    problems.append(f"{name}: {key}={value} but the secret is not mounted")
    return problems


# --- schema -------------------------------------------------------------------------------------------------


def test_the_vendored_schema_is_the_recorded_compose_specification() -> None:
    digest = hashlib.sha256(SCHEMA.read_bytes()).hexdigest()
    assert digest == SCHEMA_SHA256, "tests/deploy/compose-spec.json changed: record its origin in the README"
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"
    assert {"services", "networks", "volumes", "secrets"} <= set(schema["properties"])


@pytest.mark.parametrize("path", [COMPOSE, PRODUCTION], ids=lambda path: path.name)
def test_compose_files_follow_the_compose_specification(
    path: Path, env_example: dict[str, str], validator: jsonschema.protocols.Validator
) -> None:
    document = interpolate(load_yaml(path), env_example)
    assert schema_problems(validator, document) == []
    leftover = [text for text in strings_in(document) if "${" in text]
    assert leftover == [], "uninterpolated variables"


@pytest.mark.parametrize(
    "name", ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "DH_PUBLIC_HOSTNAME", "DH_PTAU_PATH"]
)
def test_compose_refuses_to_start_without_a_required_setting(
    name: str, raw_compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    with pytest.raises(UnsetVariable, match=name):
        interpolate(raw_compose, {**env_example, name: ""})


BROKEN_FOR_THE_SCHEMA: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("an unknown service key", lambda doc: doc["services"]["portal"].update(helthcheck={"test": ["NONE"]})),
    (
        "an unknown depends_on condition",
        lambda doc: doc["services"]["hospital-1"]["depends_on"]["portal"].update(condition="service_ready"),
    ),
    ("a volume that is a number", lambda doc: doc["services"]["keyparty-1"].update(volumes=[42])),
    ("internal as a number", lambda doc: doc["networks"]["committee"].update(internal=1)),
    ("restart as a list", lambda doc: doc["services"]["redis"].update(restart=["always"])),
]


@pytest.mark.parametrize("breakage", BROKEN_FOR_THE_SCHEMA, ids=[name for name, _ in BROKEN_FOR_THE_SCHEMA])
def test_the_schema_check_refuses_a_broken_file(
    breakage: tuple[str, Callable[[dict[str, Any]], None]],
    compose: dict[str, Any],
    validator: jsonschema.protocols.Validator,
) -> None:
    broken = copy.deepcopy(compose)
    breakage[1](broken)
    assert schema_problems(validator, broken)


# --- the rules on the real files, and on copies broken on purpose -------------------------------------------


def test_every_service_builds_from_a_dockerfile_that_exists(compose: dict[str, Any]) -> None:
    assert missing_dockerfiles(compose) == []
    built = {service["build"]["dockerfile"] for service in services(compose).values() if "build" in service}
    assert built == {"deploy/portal.Dockerfile", "deploy/node.Dockerfile", "deploy/keyparty.Dockerfile"}
    broken = copy.deepcopy(compose)
    broken["services"]["hospital-2"]["build"]["dockerfile"] = "deploy/hospital.Dockerfile"
    assert missing_dockerfiles(broken) == [
        f"hospital-2: {DEPLOY.parent / 'deploy/hospital.Dockerfile'} does not exist"
    ]


def test_every_variable_the_compose_files_use_is_in_env_example(
    raw_compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    documents = [raw_compose, load_yaml(PRODUCTION)]
    assert undocumented_variables(documents, env_example) == []
    assert "POSTGRES_PASSWORD" in referenced_variables(raw_compose)
    without = {name: value for name, value in env_example.items() if name != "DH_HOSPITAL_2_DATA_DIR"}
    assert undocumented_variables(documents, without) == ["${DH_HOSPITAL_2_DATA_DIR} is not in .env.example"]


def test_hospitals_and_key_parties_cannot_reach_postgres_or_redis(compose: dict[str, Any]) -> None:
    assert set(PARTIES) <= set(services(compose))
    assert reachable_backend(compose) == []
    broken = copy.deepcopy(compose)
    broken["services"]["hospital-3"]["networks"].append("backend")
    assert reachable_backend(broken) == ["hospital-3 shares ['backend'] with postgres/redis"]
    on_default = copy.deepcopy(compose)
    del on_default["services"]["keyparty-2"]["networks"], on_default["services"]["redis"]["networks"]
    assert reachable_backend(on_default) == ["keyparty-2 shares ['default'] with postgres/redis"]


def test_hospitals_reach_neither_each_other_nor_the_key_parties(compose: dict[str, Any]) -> None:
    assert parties_reaching_each_other(compose) == []
    broken = copy.deepcopy(compose)
    broken["services"]["hospital-1"]["networks"].append("hospital-2")
    assert parties_reaching_each_other(broken) == ["hospital-1 and hospital-2 share ['hospital-2']"]


def test_each_hospital_and_key_party_keeps_a_volume_of_its_own(compose: dict[str, Any]) -> None:
    assert shared_party_volumes(compose) == []
    assert hospital_data_not_read_only(compose) == []
    broken = copy.deepcopy(compose)
    broken["services"]["keyparty-3"]["volumes"] = ["keyparty-1-home:/var/lib/decentrahealth"]
    assert shared_party_volumes(broken) == [
        "keyparty-1 and keyparty-3 both mount keyparty-1-home",
        "keyparty-3 and keyparty-1 both mount keyparty-1-home",
    ]
    shared_data = copy.deepcopy(compose)
    shared_data["services"]["hospital-2"]["volumes"][1] = shared_data["services"]["hospital-1"]["volumes"][1]
    assert any("hospital-1 and hospital-2 both mount" in p for p in shared_party_volumes(shared_data))
    writable = copy.deepcopy(compose)
    writable["services"]["hospital-1"]["volumes"][1] = writable["services"]["hospital-1"]["volumes"][1][:-3]
    assert hospital_data_not_read_only(writable) == ["hospital-1: its data at /data is not mounted read-only"]


def test_hospitals_and_key_parties_get_no_database_or_broker_url(compose: dict[str, Any]) -> None:
    assert parties_with_backend_credentials(compose) == []
    broken = copy.deepcopy(compose)
    broken["services"]["hospital-1"]["environment"]["REDIS_URL"] = "redis://redis:6379/0"
    broken["services"]["keyparty-1"]["env_file"] = ["../.env"]
    assert parties_with_backend_credentials(broken) == [
        "keyparty-1: env_file (it would hand the party the portal's environment)",
        "hospital-1: REDIS_URL gives it the portal's database or broker",
    ]


def test_startup_order_waits_for_healthy_services(
    compose: dict[str, Any], production: dict[str, Any]
) -> None:
    assert dependency_problems(compose) == []
    portal = services(compose)["portal"]
    assert "/health/ready/" in " ".join(portal["healthcheck"]["test"])
    assert depends_on(portal)["migrate"]["condition"] == "service_completed_successfully"
    for party in PARTIES:
        assert depends_on(services(compose)[party])["portal"]["condition"] == "service_healthy"
    # production leaves the chain out: the portal's dependency on it is optional
    without_chain = copy.deepcopy(compose)
    del without_chain["services"]["chain"]
    assert dependency_problems(without_chain) == []
    broken = copy.deepcopy(compose)
    del broken["services"]["postgres"]["healthcheck"]
    broken["services"]["migrate"]["restart"] = "unless-stopped"
    assert set(dependency_problems(broken)) == {
        "migrate waits for postgres to be healthy, which has no healthcheck",
        "portal waits for postgres to be healthy, which has no healthcheck",
        "worker waits for postgres to be healthy, which has no healthcheck",
        "beat waits for postgres to be healthy, which has no healthcheck",
        "portal waits for migrate to complete, which restarts",
        "worker waits for migrate to complete, which restarts",
        "beat waits for migrate to complete, which restarts",
    }


def test_only_the_portal_listens_outside_and_only_on_the_loopback(compose: dict[str, Any]) -> None:
    assert exposure_problems(compose) == []
    assert internal_network_problems(compose) == []
    broken = copy.deepcopy(compose)
    broken["services"]["portal"]["ports"] = ["8000:8000"]
    broken["services"]["postgres"]["ports"] = ["5432:5432"]
    broken["networks"]["committee"] = {}
    assert exposure_problems(broken) == [
        "postgres publishes 5432:5432",
        "portal publishes 8000:8000 beyond this machine's loopback",
    ]
    assert internal_network_problems(broken) == ["network committee is not internal"]


def test_the_portal_processes_share_one_configuration(compose: dict[str, Any]) -> None:
    environments = [environment_of(services(compose)[name]) for name in PORTAL_PROCESSES]
    assert all(environment == environments[0] for environment in environments)
    assert environments[0]["DH_DEBUG"] == "false"
    assert environments[0]["DATABASE_URL"].startswith("postgres://")


def test_compose_sets_only_settings_that_exist(compose: dict[str, Any], production: dict[str, Any]) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    entrypoint = ENTRYPOINT.read_text()
    assert unknown_settings(compose, readme, entrypoint) == []
    assert unknown_settings(production, readme, entrypoint) == []
    broken = copy.deepcopy(compose)
    broken["services"]["worker"]["environment"]["DH_CHAIN_RCP_URL"] = "http://chain:8545"
    assert unknown_settings(broken, readme, entrypoint) == [
        "worker: DH_CHAIN_RCP_URL is no setting README lists"
    ]


def test_production_reads_its_secrets_from_files_and_leaves_the_trial_out(production: dict[str, Any]) -> None:
    base = load_yaml(COMPOSE)
    assert set(services(production)) <= set(services(base))
    assert secret_file_problems(production) == []
    for name in PORTAL_PROCESSES:
        environment = environment_of(services(production)[name])
        assert environment["DH_ENV"] == "production"
        assert environment["DH_CHAIN"] == "sepolia"
        assert environment["DH_SECRET_KEY_FILE"] == "/run/secrets/dh_secret_key"
    for name in (*PARTIES, "chain"):
        assert services(production)[name].get("profiles"), f"{name} would start in production"
    assert dependency_problems(production, base) == []
    broken = copy.deepcopy(production)
    broken["services"]["beat"]["environment"]["DH_CHAIN_PRIVATE_KEY_FILE"] = (
        "/run/secrets/dh_chain_private_key"
    )
    assert secret_file_problems(broken) == [
        "beat: DH_CHAIN_PRIVATE_KEY_FILE=/run/secrets/dh_chain_private_key but the secret is not mounted"
    ]


# --- .env.example and .dockerignore -------------------------------------------------------------------------

SECRETS = ("DH_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD")


def test_env_example_holds_placeholders_not_secrets(env_example: dict[str, str]) -> None:
    for name in SECRETS:
        assert env_example[name].startswith("change-me"), f"{name} must be a placeholder"
    assert "DH_CHAIN_PRIVATE_KEY" not in env_example, "the chain key goes in a secret file, never .env"
    assert env_example["DH_METRICS_TOKEN"] == ""
    text = ENV_EXAMPLE.read_text()
    assert not re.search(r"0x[0-9a-fA-F]{64}", text), "something like a private key"
    for name in SECRETS:
        assert re.search(rf"#[^\n]*(openssl rand|secrets\.token)[^\n]*\n(#[^\n]*\n)*{name}=", text), (
            f"{name} has no comment saying how to make one"
        )


def dockerignore_patterns() -> set[str]:
    return {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def test_dockerignore_keeps_secrets_data_and_local_installs_out_of_images() -> None:
    patterns = dockerignore_patterns()
    for pattern in (".env", "**/*.npz", "**/*.ptau", "**/*.key", ".git", ".venv", "node_modules", "var"):
        assert pattern in patterns, f".dockerignore lacks {pattern}"
    assert "!.env.example" in patterns


# --- Dockerfiles --------------------------------------------------------------------------------------------

DOCKERFILES = {
    "portal": DEPLOY / "portal.Dockerfile",
    "node": DEPLOY / "node.Dockerfile",
    "keyparty": DEPLOY / "keyparty.Dockerfile",
}
PORTAL_ONLY_PACKAGES = (
    "django",
    "djangorestframework",
    "celery",
    "redis",
    "channels",
    "channels-redis",
    "daphne",
)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(
        r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
    )
    result = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def installed_requirement_files(path: Path) -> set[str]:
    return {
        match
        for keyword, rest in instructions(path)
        if keyword == "RUN"
        for match in re.findall(r"pip install[^&;]*?-r\s+(\S+)", rest)
    }


def requirement_names(path: Path) -> set[str]:
    """Package names of a requirements file and the files it includes (-r)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= requirement_names(path.parent / line[3:].strip())
        elif line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def dockerfile_problems(path: Path) -> list[str]:
    steps = instructions(path)
    problems = []
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for k, rest in steps if k == "ARG" and "=" in rest}
    stages = [rest for keyword, rest in steps if keyword == "FROM"]
    final_base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], ""), stages[-1].split()[0])
    if not final_base.startswith("python:3.11-slim"):
        problems.append(f"{path.name}: the final stage is {final_base}, not python:3.11-slim")
    users = [rest for keyword, rest in steps if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"{path.name}: runs as root")
    for keyword, rest in steps:
        if keyword == "COPY" and "--from=" not in rest:
            for source in rest.split()[:-1]:
                if not source.startswith("--") and not (REPO_ROOT / source).exists():
                    problems.append(f"{path.name}: COPY {source}: no such file in the repository")
    if "ENTRYPOINT" in dict(steps) and "/app/deploy/docker-entrypoint.sh" not in dict(steps)["ENTRYPOINT"]:
        problems.append(f"{path.name}: another entry point")
    return problems


@pytest.mark.parametrize("role", DOCKERFILES)
def test_each_image_is_python_slim_non_root_and_copies_what_exists(role: str) -> None:
    assert dockerfile_problems(DOCKERFILES[role]) == []


def test_a_dockerfile_running_as_root_or_copying_a_missing_file_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "broken.Dockerfile"
    text = DOCKERFILES["keyparty"].read_text().replace("USER dh", "USER root")
    broken.write_text(
        text.replace("COPY requirements/locks/keyparty.txt", "COPY requirements/locks/keyparties.txt")
    )
    assert dockerfile_problems(broken) == [
        "broken.Dockerfile: runs as root",
        "broken.Dockerfile: COPY requirements/locks/keyparties.txt: no such file in the repository",
    ]


def test_node_and_key_party_images_install_their_own_locked_requirements_only() -> None:
    """Each image installs its own lock (every package pinned, with hashes): the node's and the key party's
    locks, which hold every package they pull in, bring no portal package."""
    for role in ("portal", "node", "keyparty"):
        assert installed_requirement_files(DOCKERFILES[role]) == {f"requirements/locks/{role}.txt"}
        assert "--require-hashes" in DOCKERFILES[role].read_text()
    for role in ("node", "keyparty"):
        names = requirement_names(REPO_ROOT / "requirements" / "locks" / f"{role}.txt")
        assert not names & set(PORTAL_ONLY_PACKAGES), f"requirements/locks/{role}.txt brings portal packages"
        text = DOCKERFILES[role].read_text()
        assert "pip install --no-deps -e ." in text, f"{role}: the project without its dependencies"
    assert "torch" not in requirement_names(REPO_ROOT / "requirements" / "locks" / "keyparty.txt")
    assert "FROM ${NODE_IMAGE}" not in DOCKERFILES["keyparty"].read_text(), "a key party needs no Node.js"
    assert "django" in requirement_names(
        REPO_ROOT / "requirements" / "locks" / "portal.txt"
    )  # the rule sees one


def test_the_portal_image_builds_the_web_interface() -> None:
    steps = instructions(DOCKERFILES["portal"])
    assert ("RUN", "npm run build && test -f dist/index.html") in steps
    assert ("COPY", "--from=frontend /src/frontend/dist ./frontend/dist") in steps


# --- the entry point and the healthcheck script -------------------------------------------------------------


def run_entrypoint(
    tmp_path: Path, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command],
        env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.parametrize("script", [ENTRYPOINT, DEPLOY / "backup.sh"], ids=lambda path: path.name)
def test_the_shell_scripts_parse(script: Path) -> None:
    subprocess.run(["sh", "-n", str(script)], check=True, timeout=10)
    assert script.read_text().startswith("#!/bin/sh\n")
    assert os.access(script, os.X_OK), f"chmod +x {script.relative_to(REPO_ROOT)}"


def test_entrypoint_reads_a_secret_from_its_file_without_printing_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("s3cret-value-from-a-file\n")
    result = run_entrypoint(
        tmp_path, "sh", "-c", 'printf "%s" "$DH_SECRET_KEY"', env={"DH_SECRET_KEY_FILE": str(secret)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "s3cret-value-from-a-file"
    assert "s3cret" not in result.stderr
    missing = run_entrypoint(tmp_path, "true", env={"DH_CHAIN_PRIVATE_KEY_FILE": str(tmp_path / "absent")})
    assert missing.returncode == 1
    assert "DH_CHAIN_PRIVATE_KEY_FILE" in missing.stderr


@pytest.mark.parametrize(
    ("program", "command", "home_variable"),
    [("dh-node", "run", "DH_NODE_HOME"), ("dh-keyparty", "serve", "DH_KEYPARTY_HOME")],
)
def test_entrypoint_starts_an_enrolled_party_and_waits_for_enrollment_otherwise(
    tmp_path: Path, program: str, command: str, home_variable: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / program
    fake.write_text(f'#!/bin/sh\necho "{program} $*"\n')
    fake.chmod(0o755)
    home = tmp_path / "enrolled"
    home.mkdir()
    (home / "config.json").write_text("{}")
    enrolled = run_entrypoint(tmp_path, program, command, env={home_variable: str(home)})
    assert (enrolled.returncode, enrolled.stdout) == (0, f"{program} {command}\n")

    fresh = tmp_path / "fresh"
    (fresh / "tls").mkdir(
        parents=True
    )  # an enrollment that failed half-way leaves a home without config.json
    process = subprocess.Popen(
        ["sh", str(ENTRYPOINT), program, command],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), home_variable: str(fresh)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(1.0)
        assert process.poll() is None, "a party that is not enrolled must wait, not start"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert "Not enrolled yet" in stderr and f"{program} enroll" in stderr
    enroll = run_entrypoint(tmp_path, program, "enroll", "--code", "X", env={home_variable: str(fresh)})
    assert enroll.stdout == f"{program} enroll --code X\n"


def load_healthcheck():
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", DEPLOY / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakePortal(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/health/ready/" else 503)
        self.end_headers()
        self.wfile.write(b'{"status": "..."}')

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        request = json.loads(self.rfile.read(length))
        answer = {"jsonrpc": "2.0", "id": request["id"]}
        answer |= {"result": "0x2a"} if self.path == "/" else {"error": {"code": -32601, "message": "no"}}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_healthcheck_script_tells_up_from_down() -> None:
    healthcheck = load_healthcheck()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePortal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert healthcheck.main([f"{base}/health/ready/"]) == 0
        assert healthcheck.http_ok(f"{base}/health/other/") == "HTTP 503"
        assert healthcheck.main(["--rpc", f"{base}/"]) == 0
        assert healthcheck.rpc_ok(f"{base}/other") == "no block number"
    finally:
        server.shutdown()
        server.server_close()
    assert healthcheck.main([f"{base}/health/ready/"]) == 1  # nothing listens any more


# --- docs/DEPLOY.md names what exists -----------------------------------------------------------------------


def test_the_deployment_guide_names_files_and_services_that_exist(compose: dict[str, Any]) -> None:
    text = DEPLOY_DOC.read_text()
    paths = set(re.findall(r"(?<![\w/.])((?:deploy|docs|requirements)/[\w./-]*\w)", text))
    assert "deploy/compose.yaml" in paths
    assert [path for path in sorted(paths) if not (REPO_ROOT / path).exists()] == []
    # `dc` is the guide's shorthand for `docker compose --env-file .env -f deploy/compose.yaml`
    named = set(re.findall(r"\bdc (?:run --rm|logs)(?: -\w+)* ([a-z][a-z0-9-]*)", text))
    assert {"hospital-1", "keyparty-1", "portal"} <= named
    assert sorted(named - set(services(compose))) == []
