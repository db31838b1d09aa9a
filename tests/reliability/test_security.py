"""Secrets stay secret: tokens stored hashed and compared in constant time, no secret, key share or patient data
in the logs of a whole demo run at DEBUG, and production settings that refuse development defaults."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT
from crypto import keygen
from hospitals import services as hospital_services
from hospitals import tokens
from hospitals.models import ApiToken, Hospital

# --- tokens -------------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_tokens_are_stored_only_as_their_hash(consortium):
    api_token = hospital_services.issue_api_token(consortium.coordinator, "ci")
    issued = {**consortium.node_tokens, "api": api_token}
    stored = [
        *Hospital.objects.values_list("node_token_prefix", "node_token_hash"),
        *ApiToken.objects.values_list("prefix", "token_hash"),
    ]
    for token in issued.values():
        prefix, _, secret = token.partition(".")
        assert (prefix, hashlib.sha256(token.encode()).hexdigest()) in stored
        assert not any(secret in value for row in stored for value in row)


@pytest.mark.unit
def test_tokens_are_compared_in_constant_time(consortium, monkeypatch):
    compared = []

    def compare_digest(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(tokens.hmac, "compare_digest", compare_digest)
    token = consortium.node_tokens["hospital-a"]
    prefix = token.partition(".")[0]
    good = consortium.client("anonymous")
    good.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert good.get(f"/api/node/rounds/{999}/").status_code == 404  # authenticated, then no such round
    wrong = consortium.client("anonymous")
    wrong.credentials(HTTP_AUTHORIZATION=f"Token {prefix}.{'x' * 43}")  # right prefix, wrong secret
    assert wrong.get("/api/node/rounds/999/").status_code == 401
    stored = Hospital.objects.get(slug="hospital-a").node_token_hash
    assert compared == [
        (tokens.hash_token(token), stored),
        (tokens.hash_token(f"{prefix}.{'x' * 43}"), stored),
    ]


@pytest.mark.unit
@pytest.mark.parametrize("token", ["node_x", "api_1234.\x00", "é.é", "a" * 500, ".secret"])
def test_malformed_tokens_are_refused_without_a_lookup(consortium, token, django_assert_num_queries):
    client = consortium.client("anonymous")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    with django_assert_num_queries(0):
        assert client.get("/api/me/").status_code == 401


# --- logs ---------------------------------------------------------------------------------------------------

DEMO = """
import logging, subprocess, sys
# Every logger emits every record, whatever levels Django, uvicorn or Celery configure later on.
logging.Logger.isEnabledFor = lambda self, level: not self.disabled
subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], check=True)
from demo.launcher import main  # the demo in this process: it sets Django up once its configuration is fixed
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def tiny_medmnist(pneumonia_npz, tmp_path) -> Path:
    """A MedMNIST-format file with 64 training and 32 validation images of the shared PneumoniaMNIST."""
    with np.load(pneumonia_npz) as full:
        arrays = {key: full[key][:64] if key.startswith("train") else full[key][:32] for key in full.files}
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    return path


def windows(data: bytes, count: int, size: int = 24) -> list[bytes]:
    """`count` slices of `size` bytes spread over `data`, starting at multiples of 3 (base64 alignment)."""
    step = max(3, (len(data) - size) // count // 3 * 3)
    return [data[start : start + size] for start in range(0, len(data) - size, step)][:count]


def pixel_row_patterns(images: np.ndarray) -> list[bytes]:
    """Ways a row of pixels could be written out: raw bytes, hex, a Python list, numpy's array print."""
    patterns = []
    for image in images[:8]:
        row = image[14]  # the middle row: varied values
        values = [str(v) for v in row[:10]]
        patterns += [
            re.escape(row.tobytes()),
            re.escape(row.tobytes().hex().encode()),
            re.escape(", ".join(values).encode()),
            r"\s+".join(values).encode(),
        ]
    return patterns


@pytest.mark.mpc
@pytest.mark.slow
def test_a_demo_run_at_debug_logs_no_secret_key_share_or_patient_data(tiny_medmnist, tmp_path):
    data_dir = tmp_path / "portal"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DH_DATA_DIR")
    }
    env.update(
        DH_DATA_DIR=str(data_dir), DH_LOG_LEVEL="DEBUG", DH_CHAIN="off", DH_PROOFS="none", DH_DEBUG="true"
    )
    arguments = ["--hospitals", "2", "--rounds", "1", "--data", str(tiny_medmnist), "--protection", "ckks"]
    result = subprocess.run(
        [sys.executable, "-c", DEMO, *arguments, "--local-epochs", "1", "--verbosity", "2"],
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "dhportal.settings"},
        capture_output=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:].decode(errors="replace")
    # The run did log at DEBUG (every SQL query among others), and finished its round.
    assert output.count(b" DEBUG django.db.backends: ") > 100 and b"COMPLETED" in output
    logs = [output] + [path.read_bytes() for path in data_dir.rglob("*.log")]

    secrets: dict[str, bytes] = {}
    password = (data_dir / "demo" / "credentials.txt").read_text().split()[1]
    secrets["the coordinator's password"] = password.encode()
    for config in (data_dir / "nodes").glob("*.json"):
        secrets[f"node token of {config.stem}"] = json.loads(config.read_text())["token"].encode()
    with sqlite3.connect(data_dir / "portal.sqlite3") as database:
        for (prefix,) in database.execute("SELECT prefix FROM hospitals_apitoken"):
            secrets[f"API token {prefix}"] = f"{prefix}.".encode()  # the prefix alone is public, not the rest
        for (prefix,) in database.execute("SELECT node_token_prefix FROM hospitals_hospital"):
            secrets[f"node token {prefix}"] = f"{prefix}.".encode()
    parties = data_dir / "demo" / "keyparties"  # the key parties' homes (demo/committee.py)
    for config in parties.glob("*/config.json"):
        secrets[f"key party token of {config.parent.name}"] = json.loads(config.read_text())["token"].encode()
    for key in parties.glob("*/tls/identity.key"):  # the TLS identities' private keys (PEM body)
        body = b"".join(key.read_bytes().splitlines()[1:-1])
        secrets[f"TLS key of {key.parent.parent.name}"] = body[16:64]
    with sqlite3.connect(data_dir / "portal.sqlite3") as database:
        for (prefix,) in database.execute("SELECT token_prefix FROM committee_keyparty"):
            secrets[f"key party token {prefix}"] = f"{prefix}.".encode()
    shares = sorted(parties.rglob(keygen.SECRET_SHARE_FILE))
    assert len(shares) == 3
    for share in shares:
        for index, window in enumerate(windows(share.read_bytes(), 16)):
            secrets[f"{share.parent.name} share bytes #{index}"] = window
            secrets[f"{share.parent.name} share hex #{index}"] = window.hex().encode()
            secrets[f"{share.parent.name} share base64 #{index}"] = base64.b64encode(window)
    leaked = [name for name, secret in secrets.items() if any(secret in log for log in logs)]
    assert not leaked, f"found in the logs: {leaked}"

    with np.load(tiny_medmnist) as arrays:
        images = np.concatenate([arrays["train_images"], arrays["val_images"]])
    patterns = pixel_row_patterns(images)
    assert re.search(patterns[0], tiny_medmnist.read_bytes())  # the patterns do find pixels where they are
    leaked_rows = [pattern for pattern in patterns if any(re.search(pattern, log) for log in logs)]
    assert not leaked_rows, f"pixel rows found in the logs: {leaked_rows[:3]}"


# --- production settings ------------------------------------------------------------------------------------

PRODUCTION = {
    "DH_ENV": "production",
    "DH_SECRET_KEY": "k" * 50,
    "DH_DEBUG": "false",
    "DH_PROTECTION": "ckks",
    "DH_CHAIN": "off",
}


def start_settings(**overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **PRODUCTION, **overrides}
    env = {key: value for key, value in env.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "dhportal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"DH_SECRET_KEY": ""}, "DH_SECRET_KEY must be set"),
        ({"DH_SECRET_KEY": "short"}, "DH_SECRET_KEY must be set"),
        ({"DH_DEBUG": "true"}, "DH_DEBUG must be false"),
        ({"DH_DEBUG": ""}, "DH_DEBUG must be false"),  # unset: the development default is on
        ({"DH_PROTECTION": "plaintext"}, "DH_PROTECTION must be ckks"),
        ({"DH_CHAIN": "local"}, "DH_CHAIN=local signs with hardhat's public dev keys"),
    ],
    ids=["default-key", "short-key", "debug-on", "debug-default", "plaintext", "local-chain"],
)
def test_production_refuses_to_start_with_development_defaults(overrides, refusal):
    started = start_settings(**overrides)
    assert started.returncode != 0 and "ImproperlyConfigured" in started.stderr and refusal in started.stderr


@pytest.mark.unit
def test_production_starts_with_safe_settings():
    started = start_settings()
    assert started.returncode == 0 and started.stdout.strip() == "started", started.stderr[-2000:]


# HTTPS behind the proxy: what a production portal answers over plain HTTP and over HTTPS (X-Forwarded-Proto).
HTTPS_CHECK = """
import json, django
django.setup()
from django.conf import settings
from django.core import checks
from django.test import Client
plain, https = Client(), Client(HTTP_X_FORWARDED_PROTO="https")
redirect = plain.get("/api/me/")
secure = https.get("/login")
print(json.dumps({
    "proxy_header": list(settings.SECURE_PROXY_SSL_HEADER),
    "redirect": [redirect.status_code, redirect.get("Location")],
    "probe": plain.get("/health/live/").status_code,
    "headers": {name: secure.get(name) for name in (
        "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
        "Content-Security-Policy")},
    "deploy_warnings": sorted(m.id for m in checks.run_checks(include_deployment_checks=True) if m.level >= checks.WARNING),
}))
"""
# A key as DH_SECRET_KEY should be (Django's deploy check wants 50 or more varied characters).
RANDOM_KEY = "q7Z-vL2m#Rk9xT4wN8pB1sF6hJ3dY0cG5aU2eI4oP7nM9bV6tX1zQ8"


def production_check(**overrides: str) -> dict:
    env = {**os.environ, **PRODUCTION, "DH_SECRET_KEY": RANDOM_KEY, **overrides}
    result = subprocess.run(
        [sys.executable, "-c", HTTPS_CHECK],
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "dhportal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.unit
def test_production_serves_https_only_with_secure_headers():
    found = production_check()
    assert found["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert found["redirect"] == [301, "https://testserver/api/me/"]
    assert found["probe"] == 200  # load balancers probe over plain HTTP
    headers = found["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000"  # no includeSubDomains, no preload
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    # Left on purpose: W005 (HSTS for every subdomain) and W021 (the browsers' preload list) bind other hosts of
    # the domain, a decision for whoever owns it (README, DH_HSTS_*).
    assert found["deploy_warnings"] == ["security.W005", "security.W021"]


@pytest.mark.unit
def test_production_redirect_and_hsts_can_be_left_to_the_proxy():
    found = production_check(DH_SSL_REDIRECT="false", DH_HSTS_SECONDS="0")
    assert found["redirect"][0] == 401  # served over plain HTTP: not logged in, no redirect
    assert found["headers"]["Strict-Transport-Security"] is None
