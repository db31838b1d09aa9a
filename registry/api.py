"""REST endpoints of the model registry: architectures, global model versions and their weights."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fl.export import export_torchscript
from fl.models import ARCHITECTURES
from hospitals.permissions import IsPerson
from registry import blobstore, selectors, services
from registry.models import GlobalModel
from registry.weights import load_weights, state_of
from web.json_input import JsonInputSerializer

ROUND_DETAIL = ("participants", "samples")


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

    def to_representation(self, model: GlobalModel) -> dict:
        """A model made by a round the reader's hospital was not in says nothing of that round: no round id,
        no participants, no sample count (another hospital's count would follow by subtraction)."""
        data = super().to_representation(model)
        hidden = self.context.get("rounds_hidden", set())
        if model.produced_by_id in hidden:
            data["produced_by"] = None
            data["metrics"] = {k: v for k, v in data["metrics"].items() if k not in ROUND_DETAIL}
        return data


class ModelCreateSerializer(JsonInputSerializer):
    architecture = serializers.ChoiceField(choices=sorted(ARCHITECTURES))
    num_classes = serializers.IntegerField(min_value=2, max_value=16)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)


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


class ModelListView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=ModelSerializer(many=True))
    def get(self, request):
        models = selectors.models_in_order()
        hidden = selectors.rounds_hidden_from(request.user)
        return Response(ModelSerializer(models, many=True, context={"rounds_hidden": hidden}).data)

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


class ModelTorchScriptView(APIView):
    """The model as TorchScript, loadable with torch.jit.load alone: float N x C x H x W in [0, 1] -> logits."""

    permission_classes = [IsPerson]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, model_id: int):
        model = selectors.get_model(model_id)
        with tempfile.TemporaryDirectory() as work:
            path = export_torchscript(
                state_of(model.architecture, load_weights(model)),
                model.architecture.key,
                Path(work) / "model.pt",
            )
            response = HttpResponse(path.read_bytes(), content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="model-v{model.version}.pt"'
        return response
