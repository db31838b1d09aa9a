"""REST endpoints of the hospital nodes: the round task, the proof commitment and files, the upload."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from hospitals.permissions import IsNode
from hospitals.principals import HospitalNode
from proofs import selectors as ceremony_selectors
from proofs import verification as proofs
from registry import blobstore
from rounds import selectors
from rounds.serializers import (
    NodeTaskSerializer,
    ProofChallengeSerializer,
    ProofCommitmentSerializer,
    SubmissionSerializer,
    UploadSerializer,
)
from rounds.services import collecting
from web.body_limit import body_limit
from web.errors import InvalidUpload, NotFound, UploadTooLarge


class NodeWorkSerializer(serializers.Serializer):
    rounds = serializers.ListField(
        child=serializers.DictField(), help_text="rounds to train for now: [{id, task_url}]"
    )
    contributions = serializers.ListField(
        child=serializers.DictField(), help_text="trusted-setup contributions the ceremony waits for"
    )
    poll_seconds = serializers.IntegerField(help_text="how long to wait before polling again when idle")


class NodeWorkView(APIView):
    permission_classes = [IsNode]

    @extend_schema(responses=NodeWorkSerializer)
    def get(self, request):
        """What this hospital's node should do now (`dh-node run` polls it): nodes pull their work, the portal
        never pushes to a hospital."""
        hospital = request.user.hospital
        return Response(
            {
                "rounds": selectors.node_work(hospital),
                "contributions": ceremony_selectors.contributions_due(hospital),
                "poll_seconds": settings.DH_NODE_POLL_SECONDS,
            }
        )


class NodeRoundTaskView(APIView):
    permission_classes = [IsNode]

    @extend_schema(responses=NodeTaskSerializer)
    def get(self, request, round_id: int):
        """What this hospital's node needs to train for the round."""
        node: HospitalNode = request.user
        round_ = selectors.node_round(node.hospital, round_id)
        collecting.record_task_fetched(round_, node.hospital)
        return Response(selectors.node_task(round_, node.hospital).to_json())


class NodeSubmissionView(APIView):
    permission_classes = [IsNode]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: SubmissionSerializer})
    def post(self, request, round_id: int):
        # Refuse an oversize upload from its declared length, before parsing the body (under ASGI,
        # web.body_limit has already refused it, and cut off any chunked body past the limit).
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > body_limit():
            raise UploadTooLarge(f"Upload exceeds the limit of {settings.DH_MAX_UPLOAD_BYTES} bytes")
        data = UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        proof = values["proof"]
        if proof is not None and not isinstance(proof, dict):
            raise InvalidUpload("proof must be a JSON object")
        submission = collecting.submit_update(
            request.user.hospital,
            round_id,
            values["update"].chunks(),
            values["num_samples"],
            values["metrics"],
            proof,
            values["head"],
            values["signature"],
        )
        return Response(SubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)


class NodeProofCommitmentView(APIView):
    permission_classes = [IsNode]

    @extend_schema(request=ProofCommitmentSerializer, responses=ProofChallengeSerializer)
    def post(self, request, round_id: int):
        """Commit to the training run (Merkle root of its head steps, step count, sample count) before proving;
        returns the portal's challenge and the round context the proofs must be bound to. Once per hospital and
        round; the upload's num_samples and its proof's step count must be the committed ones."""
        data = ProofCommitmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        node: HospitalNode = request.user
        round_ = selectors.node_round(node.hospital, round_id)
        values = data.validated_data
        challenge = collecting.commit_training_run(
            round_, node.hospital, values["merkle_root"], values["num_steps"], values["num_samples"]
        )
        return Response(challenge.to_json())


class NodeProofFileView(APIView):
    """One of the round's proving-key files (zkey, wasm, vkey), from the blob store by the digest recorded on
    the round; nodes check the digest and cache the file under it."""

    permission_classes = [IsNode]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, round_id: int, kind: str):
        node: HospitalNode = request.user
        digest = proofs.artifact_digest(selectors.node_round(node.hospital, round_id), kind)
        path = blobstore.path_of(digest)
        if not path.exists():
            raise NotFound(f"The round's {kind} file is missing from the blob store")
        response = FileResponse(open(path, "rb"), content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{digest}.{kind}"'
        return response
