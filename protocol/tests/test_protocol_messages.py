"""The portal-to-node protocol without Django: round trips, and errors that name the field at fault."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest

from protocol.codec import PROTOCOL_VERSION, ProtocolError, UnsupportedVersion
from protocol.node_task import (
    ArchitectureRef,
    ChainMaterial,
    CircuitShapeSpec,
    FileSpec,
    ModelRef,
    NodeTask,
    ProofChallenge,
    ProofCommitment,
    ProofMaterial,
    ProtectionMaterial,
    RoundConfig,
)
from protocol.upload import Head, Upload

pytestmark = [pytest.mark.unit]

PROOF_BASE = "/api/node/rounds/7/proof"


def full_task() -> NodeTask:
    """A task with every part present: CKKS, a prepared Groth16 key, a chain the node signs on."""
    return NodeTask(
        round=7,
        state="COLLECTING",
        submitted=False,
        architecture=ArchitectureRef(key="small_cnn", num_classes=2, hash="ab" * 32),
        model=ModelRef(
            id=3, version=2, digest="cd" * 32, head_hash="123", weights_url="/api/models/3/weights/"
        ),
        config=RoundConfig(
            loss="mse_onehot",
            optimiser="adam",
            lr=1e-3,
            head_lr=0.05,
            local_epochs=1,
            batch_size=8,
            fedprox_mu=0.0,
            proof_steps=4,
        ),
        protection=ProtectionMaterial(
            scheme="ckks",
            key_id="k1",
            public_context_url="/api/committees/1/ctx/",
            witness_keys=["ab" * 32, "cd" * 32, "ef" * 32],
            norm_bound=1e5,
        ),
        proof=ProofMaterial(
            scheme="groth16",
            steps=4,
            lr_q=3276,
            context="decentrahealth|round 7|hospital a",
            commit_url=f"{PROOF_BASE}/commitment/",
            shape=CircuitShapeSpec(features=16, classes=2, batch=8, steps=4),
            circuit_key="c" * 16,
            constraints=12345,
            zkey=FileSpec(sha256="1" * 64, url=f"{PROOF_BASE}/zkey/"),
            wasm=FileSpec(sha256="2" * 64, url=f"{PROOF_BASE}/wasm/"),
            vkey=FileSpec(sha256="3" * 64, url=f"{PROOF_BASE}/vkey/"),
        ),
        chain=ChainMaterial(
            chain_id=31337, contract="0x" + "a" * 40, round=7, address="0x" + "b" * 40, signer="node"
        ),
    )


def plain_task() -> NodeTask:
    """The smallest task: plaintext updates, no proofs, not on chain."""
    task = full_task()
    return NodeTask(
        round=task.round,
        state=task.state,
        submitted=True,
        architecture=task.architecture,
        model=task.model,
        config=task.config,
        protection=ProtectionMaterial(scheme="plaintext"),
        proof=ProofMaterial(scheme="none"),
        chain=None,
    )


def task_json(**changes: Any) -> dict[str, Any]:
    """The full task as the portal sends it, with dotted-path changes (a value of ... deletes the field)."""
    data = copy.deepcopy(full_task().to_json())
    for path, value in changes.items():
        *parents, name = path.split("__")
        target = data
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[name]
        else:
            target[name] = value
    return data


@pytest.mark.parametrize("task", [full_task(), plain_task()], ids=["full", "plain"])
def test_a_task_round_trips_through_json(task):
    sent = json.dumps(task.to_json())
    assert NodeTask.from_json(json.loads(sent)) == task
    assert NodeTask.from_json(sent) == task  # a JSON string is parsed first
    assert json.loads(sent)["version"] == PROTOCOL_VERSION


def test_the_task_json_is_the_wire_format_the_node_reads():
    data = full_task().to_json()
    assert data["proof"]["zkey"] == {"sha256": "1" * 64, "url": f"{PROOF_BASE}/zkey/"}
    assert data["proof"]["shape"] == {"features": 16, "classes": 2, "batch": 8, "steps": 4}
    assert data["chain"]["signer"] == "node"
    assert plain_task().to_json()["proof"]["steps"] is None  # every field is written, None included


def test_unknown_fields_are_ignored_and_integers_count_as_numbers():
    task = NodeTask.from_json(task_json(extra={"new": 1}, config__lr=1, model__future="x"))
    assert task.config.lr == 1.0 and isinstance(task.config.lr, float)


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"state": ...}, "state", "is missing"),
        ({"chain": ...}, "chain", "is missing"),
        ({"model__digest": ...}, "model.digest", "is missing"),
        ({"proof__steps": "4"}, "proof.steps", "must be an integer, got str '4'"),
        ({"round": True}, "round", "must be an integer, got bool"),
        ({"proof__constraints": 1.5}, "proof.constraints", "must be an integer, got float"),
        ({"submitted": "no"}, "submitted", "must be true or false"),
        ({"config__lr": "0.1"}, "config.lr", "must be a number"),
        ({"architecture__key": 5}, "architecture.key", "must be a string"),
        ({"model": []}, "model", "must be a JSON object, got list"),
        ({"proof__vkey__sha256": None}, "proof.vkey.sha256", "must be a string, got NoneType"),
        ({"protection__key_id": None}, "protection.key_id", "is required by the ckks scheme"),
        ({"proof__commit_url": ...}, "proof.commit_url", "is required by the groth16 scheme"),
        ({"proof__wasm": None}, "proof.wasm", "is missing while shape, circuit_key"),
    ],
)
def test_a_bad_field_is_named_in_the_error(changes, field, problem):
    with pytest.raises(ProtocolError) as error:
        NodeTask.from_json(task_json(**changes))
    assert error.value.field == field
    assert problem in str(error.value)
    assert f"'{field}'" in str(error.value)


def test_not_a_json_object_is_refused():
    with pytest.raises(ProtocolError, match="must be a JSON object"):
        NodeTask.from_json([1, 2])
    with pytest.raises(ProtocolError, match="is not valid JSON"):
        NodeTask.from_json("{not json")


def test_a_newer_protocol_version_asks_to_update_the_node():
    data = task_json(version=PROTOCOL_VERSION + 1, round="seven")  # checked before any other field
    with pytest.raises(UnsupportedVersion) as error:
        NodeTask.from_json(data)
    assert "update the node software" in str(error.value)
    assert f"version {PROTOCOL_VERSION + 1}" in str(error.value)


@pytest.mark.parametrize("version", [..., 0])
def test_an_older_or_unversioned_portal_is_refused(version):
    with pytest.raises(UnsupportedVersion, match="the portal is older than this node software"):
        NodeTask.from_json(task_json(version=version))


def test_a_mistyped_version_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="'version' must be an integer"):
        NodeTask.from_json(task_json(version="1"))


def test_protocol_errors_survive_pickling():
    """Celery carries a failed node task's error back as its arguments."""
    for error in (ProtocolError("proof.steps", "is missing"), UnsupportedVersion("update the node software")):
        copied = pickle.loads(pickle.dumps(error))
        assert type(copied) is type(error) and str(copied) == str(error) and copied.field == error.field


def test_proof_commitment_and_challenge_round_trip():
    commitment = ProofCommitment(merkle_root="42", num_steps=2, num_samples=16)
    assert ProofCommitment.from_json(commitment.to_json()) == commitment
    with pytest.raises(ProtocolError, match="'num_steps' is missing"):
        ProofCommitment.from_json({"merkle_root": "42", "num_samples": 16})
    challenge = ProofChallenge(
        challenge="ff" * 32,
        context="ctx|challenge ff",
        round=7,
        sender="0x" + "12" * 20,
        model_hash="ab" * 32,
    )
    assert ProofChallenge.from_json(challenge.to_json()) == challenge
    with pytest.raises(ProtocolError, match="'context' is missing"):
        ProofChallenge.from_json({"challenge": "ff"})


def test_an_upload_becomes_form_fields():
    head = Head(weight=[[1, -2], [3, 4]], bias=[5, 6])
    upload = Upload(num_samples=48, metrics={"train_loss": 0.5}, proof={"proofs": []}, head=head)
    fields = upload.form_fields()
    assert fields == {
        "version": str(PROTOCOL_VERSION),
        "num_samples": "48",
        "metrics": '{"train_loss": 0.5}',
        "proof": '{"proofs": []}',
        "head": '{"weight": [[1, -2], [3, 4]], "bias": [5, 6]}',
    }
    assert Upload.from_json(upload.to_json()) == upload
    assert set(Upload(num_samples=1).form_fields()) == {"version", "num_samples", "metrics"}


def test_a_head_must_hold_integers():
    with pytest.raises(ProtocolError) as error:
        Head.from_json({"weight": [[1, 2.5]], "bias": [0]})
    assert error.value.field == "weight[0][1]"
