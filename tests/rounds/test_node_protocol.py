"""The portal speaks protocol/: the node task it serves parses as a NodeTask, and its serializers match the
protocol's dataclasses field for field."""

import dataclasses
import io

import pytest

from protocol.codec import PROTOCOL_VERSION, field_types
from protocol.node_task import NodeTask, ProofChallenge, ProofCommitment
from protocol.upload import UPDATE_FIELD, Upload
from rounds.models import Round
from rounds.serializers import (
    NodeTaskSerializer,
    ProofChallengeSerializer,
    ProofCommitmentSerializer,
    UploadSerializer,
)
from rounds.services import lifecycle
from tests.conftest import plain_update

pytestmark = [pytest.mark.unit]

S = Round.State


def names(message) -> set[str]:
    return {spec.name for spec in dataclasses.fields(message)}


def test_the_serializers_have_the_protocol_fields():
    assert set(NodeTaskSerializer().fields) == names(NodeTask)
    assert set(NodeTaskSerializer().fields["proof"].fields) == names(field_types(NodeTask)["proof"])
    assert set(ProofChallengeSerializer().fields) == names(ProofChallenge)
    assert set(ProofCommitmentSerializer().fields) == names(ProofCommitment)
    assert set(UploadSerializer().fields) == names(Upload) | {UPDATE_FIELD}


def test_the_node_task_parses_as_the_protocol_says(consortium):
    round_ = consortium.plan_round()
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    response = consortium.client("node_hospital-a").get(f"/api/node/rounds/{round_.pk}/")
    assert response.status_code == 200, response.content
    task = NodeTask.from_json(response.json())
    assert (task.version, task.round, task.state, task.submitted) == (
        PROTOCOL_VERSION,
        round_.pk,
        S.COLLECTING,
        False,
    )
    assert task.model.digest == consortium.model.weights_digest
    assert task.config.proof_steps == round_.config["proof_steps"]
    assert (task.protection.scheme, task.proof.scheme, task.chain) == ("plaintext", "none", None)


def test_an_upload_of_another_protocol_version_is_refused(consortium):
    round_ = consortium.plan_round()
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    fields = Upload(num_samples=40, version=PROTOCOL_VERSION + 1).form_fields()
    response = consortium.client("node_hospital-a").post(
        f"/api/node/rounds/{round_.pk}/submission/",
        {**fields, UPDATE_FIELD: io.BytesIO(plain_update(consortium.model))},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert f"node protocol version {PROTOCOL_VERSION}" in str(response.json())
    assert not round_.submissions.exists()
