"""REST endpoints for rounds: planning, approval, participation, submissions, events and the chain audit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from committee import protection
from events.selectors import audit_trail, events_of
from events.serializers import EventSerializer
from fl.strategy import DEFAULT_SERVER_STRATEGY, SERVER_PARAMETERS
from hospitals import selectors as hospital_selectors
from hospitals.permissions import IsCoordinator, IsPerson
from ledger.selectors import audit_round
from proofs import verification as proofs
from rounds import selectors
from rounds.serializers import (
    AuditReportSerializer,
    CampaignCreateSerializer,
    CampaignSerializer,
    CancelSerializer,
    ParticipantSerializer,
    ParticipationSerializer,
    PublishedProofSerializer,
    RoundCreateSerializer,
    RoundSerializer,
    SubmissionSerializer,
    TrainingConfigSerializer,
)
from rounds.services import campaigns, lifecycle, planning
from web.errors import InvalidInput, NotFound, PermissionDenied


class RoundPlanOptionsView(APIView):
    """What a round plan may contain: each training setting's default, choices and limits, and the protection
    schemes. Read from the serializers that validate a plan, so forms follow the portal's rules."""

    permission_classes = [IsCoordinator]

    @extend_schema(responses=OpenApiTypes.OBJECT)  # a free-form object
    def get(self, request):
        config_fields = TrainingConfigSerializer().fields.items()
        return Response(
            {
                "config": {name: _field_options(field) for name, field in config_fields},
                "protection": {"default": settings.DH_PROTECTION, "choices": sorted(protection.SCHEMES)},
                "proof_scheme": {"default": settings.DH_PROOFS, "choices": list(proofs.SCHEMES)},
                # Each server strategy with its hyperparameters' defaults (fl.strategy).
                "server_strategy": {"default": DEFAULT_SERVER_STRATEGY, "choices": SERVER_PARAMETERS},
            }
        )


def _field_options(field: serializers.Field) -> dict:
    if isinstance(field, serializers.ChoiceField):
        options = {"type": "choice", "choices": list(field.choices)}
    elif isinstance(field, serializers.BooleanField):
        options = {"type": "boolean"}
    else:
        options = {"type": "integer" if isinstance(field, serializers.IntegerField) else "number"}
        for limit in ("min_value", "max_value"):
            if getattr(field, limit, None) is not None:
                options[limit] = getattr(field, limit)
    options["default"] = None if field.default is serializers.empty else field.default
    return options


def _plan_options(values: dict[str, Any]) -> dict[str, Any]:
    """The optional parts of a validated round plan (RoundCreateSerializer), as planning.create_round takes them."""
    return {
        "quorum": values.get("quorum"),
        "protection_scheme": values.get("protection"),
        "proof_scheme": values.get("proof_scheme"),
        "max_samples": values.get("max_samples"),
        "update_norm_bound": values.get("update_norm_bound"),
        "server_strategy": values.get("server_strategy"),
        "dp_noise_multiplier": values.get("dp_noise_multiplier"),
        "dp_delta": values.get("dp_delta"),
    }


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
        round_ = planning.create_round(
            request.user,
            values["base_model"],
            dict(values["config"]),
            values["participants"],
            deadline=values["deadline"],
            **_plan_options(values),
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
        round_ = lifecycle.approve_round(request.user, selectors.get_round(round_id))
        return Response(RoundSerializer(selectors.get_round(round_.pk)).data)


class RoundAggregateView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(request=None, responses=RoundSerializer)
    def post(self, request, round_id: int):
        """Aggregate now: stop collecting once the quorum is met, without waiting for the deadline."""
        round_ = lifecycle.aggregate_now(request.user, selectors.get_round(round_id))
        return Response(RoundSerializer(selectors.get_round(round_.pk)).data)


class RoundCancelView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(request=CancelSerializer, responses=RoundSerializer)
    def post(self, request, round_id: int):
        data = CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = lifecycle.cancel_round(
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
            raise InvalidInput("Name the hospital to opt in or out")
        round_ = selectors.visible_round(request.user, round_id)
        participant = lifecycle.set_participation(
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
        return Response(EventSerializer(events_of(round_.pk), many=True).data)


class RoundAuditView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=AuditReportSerializer)
    def get(self, request, round_id: int):
        """The round on chain against the database: every difference; "consistent" is false if there is any."""
        return Response(audit_round(selectors.visible_round(request.user, round_id)))


class RoundProofsView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=PublishedProofSerializer(many=True))
    def get(self, request, round_id: int):
        """Every proven submission's proof of training as published: the whole bundle (with every step proven,
        every proof, not only the chain's sample) and the round's terms, enough to re-verify it with snarkjs and
        crypto.zk.training_proof.verify_published, without the portal."""
        return Response(proofs.published_proofs(selectors.visible_round(request.user, round_id)))


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
        return Response(EventSerializer(audit_trail(query.validated_data["limit"]), many=True).data)


class CampaignListView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=CampaignSerializer(many=True))
    def get(self, request):
        return Response(CampaignSerializer(selectors.campaigns_visible_to(request.user), many=True).data)

    @extend_schema(request=CampaignCreateSerializer, responses={201: CampaignSerializer})
    def post(self, request):
        if not request.user.is_coordinator:
            raise PermissionDenied("Only the coordinator may plan campaigns")
        data = CampaignCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        campaign = campaigns.create_campaign(
            request.user,
            values["name"],
            values["rounds"],
            values["round_seconds"],
            values.get("target_auc"),
            values["base_model"],
            dict(values["config"]),
            values["participants"],
            epsilon_budget=values.get("epsilon_budget"),
            **_plan_options(values),
        )
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=CampaignSerializer)
    def get(self, request, campaign_id: int):
        return Response(CampaignSerializer(selectors.visible_campaign(request.user, campaign_id)).data)


class CampaignApproveView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(request=None, responses=CampaignSerializer)
    def post(self, request, campaign_id: int):
        campaign = campaigns.approve_campaign(request.user, selectors.get_campaign(campaign_id))
        return Response(CampaignSerializer(campaign).data)


class CampaignStopView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(request=CancelSerializer, responses=CampaignSerializer)
    def post(self, request, campaign_id: int):
        data = CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaigns.stop_campaign(
            request.user, selectors.get_campaign(campaign_id), data.validated_data["reason"]
        )
        return Response(CampaignSerializer(campaign).data)
