"""The hospital node reads the portal only through protocol/: typed tasks, refused versions, no Django."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from fl.models import architecture_hash
from fl.training import LocalResult, TrainConfig
from node import pipeline, protecting, proving
from node.client import PortalClient
from protocol.codec import PROTOCOL_VERSION, ProtocolError, UnsupportedVersion
from protocol.node_task import ArchitectureRef, ChainMaterial, ProofMaterial, ProtectionMaterial, RoundConfig
from protocol.upload import Head, Upload

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
# The portal's Django apps and the frameworks only the portal runs.
PORTAL_ONLY = {
    "django",
    "rest_framework",
    "drf_spectacular",
    "celery",
    "channels",
    "dhportal",
    "hospitals",
    "rounds",
    "registry",
    "committee",
    "proofs",
    "ledger",
    "events",
    "web",
    "demo",
}


def imported_packages(path: Path) -> set[str]:
    packages = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            packages |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            packages.add(node.module.split(".")[0])
    return packages


@pytest.mark.parametrize("package", ["node", "protocol"])
def test_node_and_protocol_never_import_the_portal(package):
    offending = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & PORTAL_ONLY)
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: names for path, names in offending.items() if names} == {}


class FakeResponse:
    def __init__(self, body: object, status_code: int = 200):
        self.body, self.status_code = body, status_code

    def json(self) -> object:
        return self.body


class FakeSession:
    """requests.Session's request(), answering with one canned body and keeping what was sent."""

    def __init__(self, body: object):
        self.body = body
        self.headers: dict[str, str] = {}
        self.sent: list[tuple[str, str, dict]] = []

    def request(self, method: str, url: str, timeout: float, **kwargs) -> FakeResponse:
        self.sent.append((method, url, kwargs))
        return FakeResponse(self.body)


def client_answering(body: object) -> PortalClient:
    client = PortalClient("http://portal.test", "token")
    client.session = FakeSession(body)
    return client


def test_the_node_refuses_a_task_of_a_newer_protocol_version():
    client = client_answering({"version": PROTOCOL_VERSION + 1, "round": 1})
    with pytest.raises(UnsupportedVersion, match="update the node software"):
        client.round_task(1)


def test_the_node_refuses_a_task_with_a_mistyped_field():
    client = client_answering({"version": PROTOCOL_VERSION, "round": "1"})
    with pytest.raises(ProtocolError, match="'round' must be an integer"):
        client.round_task(1)


def test_an_upload_sends_the_protocol_form_fields():
    client = client_answering({"id": 1})
    head = Head(weight=[[1, 2]], bias=[3])
    client.upload(4, b"blob", Upload(num_samples=16, metrics={"loss": 1.0}, proof={"proofs": []}, head=head))
    method, url, sent = client.session.sent[0]
    assert (method, url) == ("POST", "http://portal.test/api/node/rounds/4/submission/")
    assert sent["data"]["version"] == str(PROTOCOL_VERSION) and sent["data"]["num_samples"] == "16"
    assert json.loads(sent["data"]["head"]) == {"weight": [[1, 2]], "bias": [3]}
    assert sent["files"]["update"][1] == b"blob"


def test_a_commitment_returns_the_typed_challenge():
    client = client_answering(
        {
            "challenge": "ab",
            "context": "ctx|challenge ab",
            "round": 7,
            "sender": "0x" + "12" * 20,
            "model_hash": "cd" * 32,
        }
    )
    challenge = client.commit_run("/api/node/rounds/4/proof/commitment/", 12345, num_steps=2, num_samples=16)
    assert challenge.context == "ctx|challenge ab"
    assert client.session.sent[0][2]["json"] == {"merkle_root": "12345", "num_steps": 2, "num_samples": 16}


def test_the_round_config_becomes_the_local_training_options():
    options = {
        "loss": "mse_onehot",
        "optimiser": "sgd",
        "lr": 0.01,
        "head_lr": 0.05,
        "local_epochs": 2,
        "batch_size": 8,
        "fedprox_mu": 0.1,
    }
    config = RoundConfig(**options, proof_steps=4, augment="shift", sampling="balanced")
    assert pipeline.train_config(config) == TrainConfig(**options, augment="shift", sampling="balanced")
    # A plan made before augmentation and sampling were choices trains as it did then.
    older = RoundConfig.from_json({**options, "proof_steps": 4})
    assert pipeline.train_config(older) == TrainConfig(**options, augment="none", sampling="proportional")


def test_who_signs_on_chain():
    chain = ChainMaterial(chain_id=1, contract="0x1", round=1, address="0x2", signer="node")
    assert pipeline.signs_on_chain(chain)
    assert not pipeline.signs_on_chain(ChainMaterial(1, "0x1", 1, "0x2", "portal"))
    with pytest.raises(ValueError, match="update the node software"):
        pipeline.signs_on_chain(ChainMaterial(1, "0x1", 1, "0x2", "notary"))


def test_unknown_schemes_ask_to_update_the_node():
    with pytest.raises(ValueError, match="update the node software"):
        protecting.protect(ProtectionMaterial(scheme="paillier"), np.zeros(3), client_answering({}))
    result = LocalResult(state={}, num_samples=1, metrics={}, head_trace=[])
    with pytest.raises(ValueError, match="update the node software"):
        proving.prove(ProofMaterial(scheme="stark"), result, client_answering({}), Path("none.json"))
    assert (
        proving.prove(ProofMaterial(scheme="none"), result, client_answering({}), Path("none.json")) is None
    )


def test_proving_waits_for_the_rounds_key():
    material = ProofMaterial(scheme="groth16", steps=1, lr_q=3276, context="ctx", commit_url="/commit/")
    with pytest.raises(ValueError, match="proving key is not prepared yet"):
        proving.proving_key(material, client_answering({}), Path("none.json"))


def test_a_model_defined_otherwise_on_the_portal_is_refused_before_training():
    own = architecture_hash("cnn28-d16")
    template = pipeline.model_template(ArchitectureRef(key="cnn28-d16", num_classes=3, hash=own))
    assert template["head.weight"].shape == (3, 16)
    with pytest.raises(ValueError, match="defined differently on the portal"):
        pipeline.model_template(ArchitectureRef(key="cnn28-d16", num_classes=3, hash="ab" * 32))
    with pytest.raises(ValueError, match="unknown architecture 'vgg16'"):
        pipeline.model_template(ArchitectureRef(key="vgg16", num_classes=3, hash=own))
