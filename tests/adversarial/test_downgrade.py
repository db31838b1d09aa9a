"""Attack 6, downgrade: a portal (or a coordinator) plans a round with updates in the clear or without proofs
of training, hoping hospitals follow.

Defence: in production (DH_ENV=production sets DH_REQUIRE_SECURE_ROUNDS) such a plan is refused, not only the
defaults; and a hospital node refuses a plaintext round unless its own configuration allows it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from node import protecting
from node.config import NodeConfig, read_node_config, write_node_config
from protocol.node_task import ProtectionMaterial
from rounds.models import Round

pytestmark = [pytest.mark.unit]

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DH_ENV": "production",
    "DH_SECRET_KEY": "k" * 50,
    "DH_DEBUG": "false",
    "DH_PROTECTION": "ckks",
    "DH_PROOFS": "groth16",
    "DH_CHAIN": "off",
}


def plan(consortium, **body):
    return consortium.client("coordinator").post(
        "/api/rounds/",
        {
            "base_model": consortium.model.pk,
            "participants": ["hospital-a", "hospital-b"],
            "quorum": 2,
            "deadline": "2999-01-01T00:00:00Z",
            **body,
        },
        format="json",
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"protection": "plaintext"}, "Protection 'plaintext' is refused in production"),
        ({"protection": "ckks", "proof_scheme": "none"}, "Proof scheme 'none' is refused in production"),
    ],
    ids=["plaintext", "no-proof"],
)
def test_production_refuses_a_downgraded_plan(consortium, settings, body, reason):
    settings.DH_REQUIRE_SECURE_ROUNDS = True
    before = Round.objects.count()
    response = plan(consortium, **body)
    assert response.status_code == 400, response.content
    assert reason in response.json()["detail"]
    assert Round.objects.count() == before


def test_outside_production_the_baseline_can_still_be_planned(consortium):
    response = plan(consortium, protection="plaintext", proof_scheme="none")
    assert response.status_code == 201, response.content


def test_production_settings_require_secure_rounds_and_proofs():
    def start(**overrides: str) -> subprocess.CompletedProcess:
        env = {**os.environ, **PRODUCTION, **overrides, "DJANGO_SETTINGS_MODULE": "dhportal.settings"}
        code = "import django; django.setup(); from django.conf import settings; print(settings.DH_REQUIRE_SECURE_ROUNDS)"
        return subprocess.run(
            [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    started = start()
    assert started.returncode == 0 and started.stdout.strip() == "True", started.stderr[-2000:]
    refused = start(DH_PROOFS="none")
    assert refused.returncode != 0 and "DH_PROOFS must be groth16 in production" in refused.stderr


def test_a_node_refuses_a_plaintext_round_unless_its_config_allows_it(tmp_path):
    material = ProtectionMaterial(scheme="plaintext")
    update = np.ones(4)
    with pytest.raises(protecting.PlaintextRefused, match="does not allow it: set allow_plaintext"):
        protecting.protect(material, update, client=None)
    assert protecting.protect(material, update, client=None, allow_plaintext=True).startswith(b"DHPLAIN1")


def test_node_configs_default_to_refusing_plaintext(tmp_path):
    write_node_config(tmp_path / "h", NodeConfig("http://portal", "token", "/data.npz"))
    assert read_node_config(tmp_path / "h").allow_plaintext is False
    # A configuration written before the option existed reads as refusing plaintext too.
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(
        json.dumps({"portal_url": "u", "token": "t", "data_path": "d"})
    )
    assert read_node_config(tmp_path / "old").allow_plaintext is False
