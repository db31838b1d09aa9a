"""REST endpoints for models, rounds, submissions and the audit trail, and the hospital nodes' endpoints."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from dhportal.body_limit import body_limit
from dhportal.errors import InvalidUpload, NotFound, PermissionDenied, UploadTooLarge
from dhportal.serializers import JsonInputSerializer
from fl.models import ARCHITECTURES
from fl.training import DEFAULT_TRAIN_CONFIG, LOSSES, OPTIMISERS
from hospitals import selectors as hospital_selectors
from hospitals.models import Hospital
from hospitals.permissions import IsCoordinator, IsNode, IsPerson
from hospitals.principals import HospitalNode
from rounds import audit, blobstore, committee, proofs, protection, selectors, services
from rounds.models import AuditEvent, GlobalModel, Round, Submission

# --- serializers --------------------------------------------------------------------------------------------


class ModelSerializer(serializers.ModelSerializer):
    architecture = serializers.CharField(source="architecture.key")
    num_classes = serializers.IntegerField(source="architecture.num_classes")
    produced_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = GlobalModel
        fields = [
            "id",
            "architecture",
            "num_classes",
            "version",
            "weights_digest",
            "head_hash",
            "produced_by",
            "metrics",
            "created_at",
        ]


class ModelCreateSerializer(JsonInputSerializer):
    architecture = serializers.ChoiceField(choices=sorted(ARCHITECTURES))
    num_classes = serializers.IntegerField(min_value=2, max_value=16)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)


class TrainingConfigSerializer(JsonInputSerializer):
    loss = serializers.ChoiceField(choices=LOSSES, default=DEFAULT_TRAIN_CONFIG.loss)
    optimiser = serializers.ChoiceField(choices=OPTIMISERS, default=DEFAULT_TRAIN_CONFIG.optimiser)
    lr = serializers.FloatField(min_value=1e-6, max_value=1.0, default=DEFAULT_TRAIN_CONFIG.lr)
    head_lr = serializers.FloatField(min_value=2**-15, max_value=1.0, default=DEFAULT_TRAIN_CONFIG.head_lr)
    local_epochs = serializers.IntegerField(
        min_value=1, max_value=50, default=DEFAULT_TRAIN_CONFIG.local_epochs
    )
    batch_size = serializers.IntegerField(min_value=1, max_value=256, default=DEFAULT_TRAIN_CONFIG.batch_size)
    fedprox_mu = serializers.FloatField(
        min_value=0.0, max_value=10.0, default=DEFAULT_TRAIN_CONFIG.fedprox_mu
    )
    proof_steps = serializers.IntegerField(min_value=1, max_value=32, default=proofs.DEFAULT_STEPS)


class RoundCreateSerializer(JsonInputSerializer):
    base_model = serializers.PrimaryKeyRelatedField(queryset=GlobalModel.objects.all())
    config = TrainingConfigSerializer(default=dict)
    participants = serializers.SlugRelatedField(slug_field="slug", queryset=Hospital.objects.all(), many=True)
    quorum = serializers.IntegerField(min_value=1, max_value=1000)
    deadline = serializers.DateTimeField()
    aggregation = serializers.ChoiceField(choices=sorted(protection.SCHEMES), required=False)
    proof_scheme = serializers.ChoiceField(choices=proofs.SCHEMES, required=False)


class ParticipantSerializer(serializers.Serializer):
    hospital = serializers.CharField(source="hospital.slug")
    hospital_name = serializers.CharField(source="hospital.name")
    opted_out = serializers.BooleanField()


class RoundSerializer(serializers.ModelSerializer):
    architecture = serializers.CharField(source="base_model.architecture.key")
    base_version = serializers.IntegerField(source="base_model.version")
    participants = ParticipantSerializer(many=True)
    submitted = serializers.SerializerMethodField()
    result_model = serializers.SerializerMethodField()
    proof_key = serializers.SerializerMethodField()
    chain = serializers.SerializerMethodField()

    class Meta:
        model = Round
        fields = [
            "id",
            "state",
            "reason",
            "architecture",
            "base_model",
            "base_version",
            "config",
            "config_hash",
            "aggregation",
            "proof_scheme",
            "proof_key",
            "quorum",
            "deadline",
            "participants",
            "submitted",
            "result_model",
            "chain",
            "stage_seconds",
            "created_at",
            "updated_at",
        ]

    def get_proof_key(self, round_: Round) -> dict | None:
        """The round's proving key: who contributed, the beacon and the files' digests (no vkey body)."""
        setup = round_.proof_setup
        return {k: v for k, v in setup.items() if k != "vkey"} if setup else None

    def get_submitted(self, round_: Round) -> list[str]:
        return sorted(round_.submissions.values_list("hospital__slug", flat=True))

    def get_chain(self, round_: Round) -> dict | None:
        """The round's chain transactions (kind, hospital, tx hash, block, gas) and their total gas."""
        return audit.chain_record(round_)

    def get_result_model(self, round_: Round) -> dict | None:
        model = GlobalModel.objects.filter(produced_by=round_).first()
        return None if model is None else {"id": model.pk, "version": model.version, "metrics": model.metrics}


class ChainTxSerializer(serializers.Serializer):
    tx_hash = serializers.CharField()
    block_number = serializers.IntegerField()
    gas_used = serializers.IntegerField()


class SubmissionSerializer(serializers.ModelSerializer):
    hospital = serializers.CharField(source="hospital.slug")
    chain = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "round",
            "hospital",
            "blob_digest",
            "blob_size",
            "num_samples",
            "metrics",
            "proof_status",
            "chain",
            "created_at",
        ]

    @extend_schema_field(ChainTxSerializer(allow_null=True))
    def get_chain(self, submission: Submission) -> dict | None:
        """The transaction that recorded this submission on chain, once mined."""
        tx = selectors.submission_chain_tx(submission)
        return None if tx is None else ChainTxSerializer(tx).data


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "round", "actor", "kind", "from_state", "to_state", "detail", "created_at"]


class CancelSerializer(JsonInputSerializer):
    reason = serializers.CharField(max_length=1000)


class ParticipationSerializer(JsonInputSerializer):
    hospital = serializers.SlugRelatedField(
        slug_field="slug", queryset=Hospital.objects.all(), required=False
    )
    opted_in = serializers.BooleanField()


class NodeTaskSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    state = serializers.CharField()
    submitted = serializers.BooleanField()
    architecture = serializers.DictField()
    model = serializers.DictField()
    config = serializers.DictField()
    protection = serializers.DictField()
    proof = serializers.DictField()
    # Where the round is on chain and who signs this hospital's submission (None when not on chain).
    chain = serializers.DictField(allow_null=True)


class UploadSerializer(serializers.Serializer):
    update = serializers.FileField()
    num_samples = serializers.IntegerField(min_value=1, max_value=10_000_000)
    metrics = serializers.JSONField(required=False, default=dict)
    proof = serializers.JSONField(required=False, allow_null=True, default=None)
    # The final classifier head in the clear, fixed point: {"weight": [[...]], "bias": [...]} (with a proof).
    head = serializers.JSONField(required=False, allow_null=True, default=None)

    def validate_metrics(self, value):
        if not isinstance(value, dict) or len(json.dumps(value)) > 20_000:
            raise serializers.ValidationError("metrics must be a JSON object under 20 kB")
        return value


# --- people -------------------------------------------------------------------------------------------------


class ArchitectureListView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=serializers.ListSerializer(child=serializers.DictField()))
    def get(self, request):
        return Response(
            [
                {"key": key, "description": arch.description, "input_shape": list(arch.input_shape)}
                for key, arch in sorted(ARCHITECTURES.items())
            ]
        )


class RoundPlanOptionsView(APIView):
    """What a round plan may contain: each training setting's default, choices and limits, and the aggregation
    schemes. Read from the serializers that validate a plan, so forms follow the portal's rules."""

    permission_classes = [IsCoordinator]

    @extend_schema(responses=serializers.DictField())
    def get(self, request):
        config_fields = TrainingConfigSerializer().fields.items()
        return Response(
            {
                "config": {name: _field_options(field) for name, field in config_fields},
                "aggregation": {"default": settings.DH_AGGREGATION, "choices": sorted(protection.SCHEMES)},
                "proof_scheme": {"default": settings.DH_PROOFS, "choices": list(proofs.SCHEMES)},
            }
        )


def _field_options(field: serializers.Field) -> dict:
    if isinstance(field, serializers.ChoiceField):
        options = {"type": "choice", "choices": list(field.choices)}
    else:
        options = {"type": "integer" if isinstance(field, serializers.IntegerField) else "number"}
        for limit in ("min_value", "max_value"):
            if getattr(field, limit, None) is not None:
                options[limit] = getattr(field, limit)
    options["default"] = None if field.default is serializers.empty else field.default
    return options


class ModelListView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=ModelSerializer(many=True))
    def get(self, request):
        return Response(ModelSerializer(selectors.models_in_order(), many=True).data)

    @extend_schema(request=ModelCreateSerializer, responses={201: ModelSerializer})
    def post(self, request):
        data = ModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.initialise_model(
            request.user,
            data.validated_data["architecture"],
            data.validated_data["num_classes"],
            data.validated_data["seed"],
        )
        return Response(ModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelWeightsView(APIView):
    """The model's weights: a flat float64 vector in .npy format. For people and nodes."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, model_id: int):
        model = selectors.get_model(model_id)
        response = HttpResponse(
            blobstore.read_bytes(model.weights_digest), content_type="application/octet-stream"
        )
        response["Content-Disposition"] = f'attachment; filename="model-v{model.version}.npy"'
        return response


class RoundListView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=RoundSerializer(many=True))
    def get(self, request):
        return Response(RoundSerializer(selectors.rounds_visible_to(request.user), many=True).data)

    @extend_schema(request=RoundCreateSerializer, responses={201: RoundSerializer})
    def post(self, request):
        if not request.user.is_coordinator:
            raise PermissionDenied("Only the coordinator may plan rounds")
        data = RoundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        round_ = services.create_round(
            request.user,
            values["base_model"],
            dict(values["config"]),
            values["participants"],
            values["quorum"],
            values["deadline"],
            values.get("aggregation"),
            proof_scheme=values.get("proof_scheme"),
        )
        return Response(RoundSerializer(round_).data, status=status.HTTP_201_CREATED)


class RoundDetailView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=RoundSerializer)
    def get(self, request, round_id: int):
        return Response(RoundSerializer(selectors.visible_round(request.user, round_id)).data)


class RoundApproveView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(request=None, responses=RoundSerializer)
    def post(self, request, round_id: int):
        round_ = services.approve_round(request.user, selectors.get_round(round_id))
        return Response(RoundSerializer(selectors.get_round(round_.pk)).data)


class RoundCancelView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(request=CancelSerializer, responses=RoundSerializer)
    def post(self, request, round_id: int):
        data = CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = services.cancel_round(
            request.user, selectors.get_round(round_id), data.validated_data["reason"]
        )
        return Response(RoundSerializer(selectors.get_round(round_.pk)).data)


class RoundParticipationView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(request=ParticipationSerializer, responses=ParticipantSerializer)
    def post(self, request, round_id: int):
        """Opt a hospital in or out; a hospital admin acts for their own hospital."""
        data = ParticipationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hospital = data.validated_data.get("hospital") or request.user.hospital
        if hospital is None:
            raise InvalidUpload("Name the hospital to opt in or out")
        round_ = selectors.visible_round(request.user, round_id)
        participant = services.set_participation(
            request.user, round_, hospital, data.validated_data["opted_in"]
        )
        return Response(ParticipantSerializer(participant).data)


class RoundSubmissionsView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=SubmissionSerializer(many=True))
    def get(self, request, round_id: int):
        round_ = selectors.visible_round(request.user, round_id)
        return Response(
            SubmissionSerializer(selectors.submissions_visible_to(request.user, round_), many=True).data
        )


class RoundEventsView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=EventSerializer(many=True))
    def get(self, request, round_id: int):
        round_ = selectors.visible_round(request.user, round_id)
        return Response(EventSerializer(selectors.events_of(round_), many=True).data)


class AuditDifferenceSerializer(serializers.Serializer):
    field = serializers.CharField()
    hospital = serializers.CharField(required=False)
    database = serializers.JSONField(allow_null=True)
    chain = serializers.JSONField(allow_null=True)


class AuditReportSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    consistent = serializers.BooleanField()
    chain_id = serializers.IntegerField(allow_null=True)
    contract = serializers.CharField(allow_null=True)
    state = serializers.DictField(child=serializers.CharField())
    differences = AuditDifferenceSerializer(many=True)


class RoundAuditView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=AuditReportSerializer)
    def get(self, request, round_id: int):
        """The round on chain against the database: every difference; "consistent" is false if there is any."""
        return Response(audit.audit_round(selectors.visible_round(request.user, round_id)))


class AuditTrailQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=5000, default=500)

    def validate(self, attrs: dict) -> dict:
        if self.initial_data.get("limit") == "":  # DRF reads an empty query value as absent
            raise serializers.ValidationError({"limit": ["A valid integer is required."]})
        return attrs


class AuditTrailView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(parameters=[AuditTrailQuerySerializer], responses=EventSerializer(many=True))
    def get(self, request):
        """The portal's audit trail across all rounds, newest first."""
        query = AuditTrailQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(EventSerializer(selectors.audit_trail(query.validated_data["limit"]), many=True).data)


class HospitalSubmissionsView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=SubmissionSerializer(many=True))
    def get(self, request, hospital_id: int):
        hospital = hospital_selectors.hospitals_visible_to(request.user).filter(pk=hospital_id).first()
        if hospital is None:
            raise NotFound(f"Hospital {hospital_id} does not exist or is not yours")
        return Response(
            SubmissionSerializer(selectors.submissions_of_hospital(request.user, hospital), many=True).data
        )


# --- hospital nodes -----------------------------------------------------------------------------------------


class NodeRoundTaskView(APIView):
    permission_classes = [IsNode]

    @extend_schema(responses=NodeTaskSerializer)
    def get(self, request, round_id: int):
        """What this hospital's node needs to train for the round."""
        node: HospitalNode = request.user
        round_ = selectors.node_round(node.hospital, round_id)
        model = round_.base_model
        return Response(
            {
                "round": round_.pk,
                "state": round_.state,
                "submitted": round_.submissions.filter(hospital=node.hospital).exists(),
                "architecture": {
                    "key": model.architecture.key,
                    "num_classes": model.architecture.num_classes,
                    "hash": model.architecture.architecture_hash,
                },
                "model": {
                    "id": model.pk,
                    "version": model.version,
                    "digest": model.weights_digest,
                    "head_hash": model.head_hash,
                    "weights_url": f"/api/models/{model.pk}/weights/",
                },
                "config": round_.config,
                "protection": protection.get(round_.aggregation).node_material(round_),
                "proof": proofs.node_material(round_, node.hospital),
                "chain": audit.node_chain_task(round_, node.hospital),
            }
        )


class NodeSubmissionView(APIView):
    permission_classes = [IsNode]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: SubmissionSerializer})
    def post(self, request, round_id: int):
        # Refuse an oversize upload from its declared length, before parsing the body (under ASGI,
        # dhportal.body_limit has already refused it, and cut off any chunked body past the limit).
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > body_limit():
            raise UploadTooLarge(f"Upload exceeds the limit of {settings.DH_MAX_UPLOAD_BYTES} bytes")
        data = UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        proof = values["proof"]
        if proof is not None and not isinstance(proof, dict):
            raise InvalidUpload("proof must be a JSON object")
        submission = services.submit_update(
            request.user.hospital,
            round_id,
            values["update"].chunks(),
            values["num_samples"],
            values["metrics"],
            proof,
            values["head"],
        )
        return Response(SubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)


class ProofCommitmentSerializer(JsonInputSerializer):
    merkle_root = serializers.CharField(max_length=80)


class NodeProofCommitmentView(APIView):
    permission_classes = [IsNode]

    @extend_schema(request=ProofCommitmentSerializer, responses=serializers.DictField())
    def post(self, request, round_id: int):
        """Commit to the training run (Merkle root of its head steps) before proving; returns the portal's
        challenge and the round context the proofs must be bound to. Once per hospital and round."""
        data = ProofCommitmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        node: HospitalNode = request.user
        round_ = selectors.node_round(node.hospital, round_id)
        return Response(proofs.commit(round_, node.hospital, data.validated_data["merkle_root"]))


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


class CommitteePublicContextView(APIView):
    """The committee's joint public key as a TenSEAL context (no secret key inside), for nodes to encrypt."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, committee_id: int):
        key_committee = selectors.get_committee(committee_id)
        return HttpResponse(committee.public_context(key_committee), content_type="application/octet-stream")
