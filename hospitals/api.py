"""REST endpoints for accounts, hospitals and tokens. Views validate and call one service or selector."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from hospitals import selectors, services
from hospitals.models import Hospital, User
from hospitals.permissions import IsNode, IsPerson
from hospitals.throttling import (
    FailedEnrollmentThrottle,
    FailedLoginThrottle,
    record_failed_enrollment,
    record_failed_login,
)
from web.errors import InvalidInput, PermissionDenied
from web.json_input import JsonInputSerializer


class UserSerializer(serializers.ModelSerializer):
    hospital = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = ["id", "username", "role", "hospital"]


class HospitalSerializer(serializers.ModelSerializer):
    node_online = serializers.SerializerMethodField()
    node_status = serializers.SerializerMethodField()
    node_token_active = serializers.SerializerMethodField()

    class Meta:
        model = Hospital
        fields = [
            "id",
            "name",
            "slug",
            "created_at",
            "node_last_seen_at",
            "node_online",
            "node_status",
            "node_token_active",
            "node_token_expires_at",
            "chain_address",
            "signing_address",
        ]

    def get_node_online(self, hospital: Hospital) -> bool:
        return selectors.node_is_online(hospital)

    def get_node_status(self, hospital: Hospital) -> str:
        """never_connected, online or offline (see node_last_seen_at)."""
        return selectors.node_status(hospital)

    def get_node_token_active(self, hospital: Hospital) -> bool:
        """Issued, not revoked and not expired."""
        return bool(hospital.node_token_hash) and not selectors.node_token_expired(hospital)


class CredentialsSerializer(JsonInputSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, trim_whitespace=False)


class TokenRequestSerializer(CredentialsSerializer):
    name = serializers.CharField(max_length=100, default="automation")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once; store it safely.")


class HospitalCreateSerializer(JsonInputSerializer):
    name = serializers.CharField(max_length=200)
    admin_username = serializers.CharField(max_length=150)
    admin_password = serializers.CharField(min_length=8, max_length=200)


class HospitalCreatedSerializer(serializers.Serializer):
    hospital = HospitalSerializer()
    node_token = serializers.CharField(help_text="Shown once; configure it on the hospital's node.")


def _checked_credentials(request) -> User:
    data = CredentialsSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    user = authenticate(request, **data.validated_data)
    if user is None:
        record_failed_login(request)
        raise PermissionDenied("Wrong username or password")
    return user


# Documented on the two views that take a password: web/api_errors.py gives it the error shape and Retry-After.
THROTTLED = OpenApiResponse(description="Too many failed logins for this username from this address.")


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [FailedLoginThrottle]

    @extend_schema(request=CredentialsSerializer, responses={200: UserSerializer, 429: THROTTLED})
    def post(self, request):
        user = _checked_credentials(request)
        login(request, user)
        return Response(UserSerializer(user).data)


class LogoutView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        """Ends the session (and closes its websockets); a request authenticated by an API token revokes it."""
        services.log_out(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [FailedLoginThrottle]

    @extend_schema(request=TokenRequestSerializer, responses={201: TokenSerializer, 429: THROTTLED})
    def post(self, request):
        """A new API token named `name`; the user's earlier token of that name, if any, stops working."""
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _checked_credentials(request)
        token = services.reissue_api_token(user, data.validated_data["name"])
        return Response({"token": token}, status=status.HTTP_201_CREATED)


class MeView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=UserSerializer)
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class HospitalListView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=HospitalSerializer(many=True))
    def get(self, request):
        return Response(HospitalSerializer(selectors.hospitals_visible_to(request.user), many=True).data)

    @extend_schema(request=HospitalCreateSerializer, responses={201: HospitalCreatedSerializer})
    def post(self, request):
        if not request.user.is_coordinator:
            raise PermissionDenied("Only the coordinator may register hospitals")
        data = HospitalCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hospital, token = services.register_hospital(request.user, **data.validated_data)
        return Response(
            {"hospital": HospitalSerializer(hospital).data, "node_token": token},
            status=status.HTTP_201_CREATED,
        )


def _visible_hospital(request, hospital_id: int) -> Hospital:
    return get_object_or_404(selectors.hospitals_visible_to(request.user), pk=hospital_id)


class HospitalDetailView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=HospitalSerializer)
    def get(self, request, hospital_id: int):
        return Response(HospitalSerializer(_visible_hospital(request, hospital_id)).data)


class NodeTokenRotationSerializer(JsonInputSerializer):
    expires_in_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=services.MAX_NODE_TOKEN_DAYS,
        help_text="The new token is refused from this many days on (401 'node token expired: rotate it'); "
        "omitted: it works until the next rotation or revocation.",
    )


class NodeTokenView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        request=NodeTokenRotationSerializer,
        responses={201: TokenSerializer},
        examples=[
            OpenApiExample("Expiring in 90 days", value={"expires_in_days": 90}, request_only=True),
            OpenApiExample("No expiry", value={}, request_only=True),
            OpenApiExample(
                "The new token (shown once)",
                value={"token": "node_1a2b3c4d.<43 characters of base64url>"},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, hospital_id: int):
        """Rotate: a new node token, optionally expiring; the old one stops working at once."""
        data = NodeTokenRotationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.rotate_node_token(
            request.user,
            _visible_hospital(request, hospital_id),
            data.validated_data.get("expires_in_days"),
        )
        return Response({"token": token}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, hospital_id: int):
        services.revoke_node_token(request.user, _visible_hospital(request, hospital_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EnrollmentCodeSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Shown once: give it to the hospital's IT admin for `dh-node enroll`"
    )
    expires_at = serializers.DateTimeField()


class EnrollmentCodeView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(request=None, responses={201: EnrollmentCodeSerializer})
    def post(self, request, hospital_id: int):
        """A one-time enrollment code for the hospital's node (coordinator or the hospital's admin); an earlier
        unused code stops working."""
        code, expires_at = services.issue_enrollment_code(
            request.user, _visible_hospital(request, hospital_id)
        )
        return Response({"code": code, "expires_at": expires_at}, status=status.HTTP_201_CREATED)


class NodeEnrollmentSerializer(JsonInputSerializer):
    code = serializers.CharField(max_length=200)
    signing_address = serializers.RegexField(
        r"^0x[0-9a-fA-F]{40}$", help_text="address of the node's own signing key"
    )
    chain_address = serializers.RegexField(
        r"^0x[0-9a-fA-F]{40}$", help_text="address of the node's own chain key: it signs its submissions"
    )


class NodeEnrolledSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="the node token (shown once)")
    hospital = serializers.DictField()
    chain = serializers.DictField(allow_null=True, help_text="the chain the node submits to, if any")
    poll_seconds = serializers.IntegerField()


class NodeEnrollView(APIView):
    """`dh-node enroll`: the enrollment code is the credential (no token yet); failures are throttled."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [FailedEnrollmentThrottle]

    @extend_schema(
        request=NodeEnrollmentSerializer,
        responses={201: NodeEnrolledSerializer},
        examples=[
            OpenApiExample(
                "Enrollment",
                value={
                    "code": "enroll_1a2b3c4d.<43 characters of base64url>",
                    "signing_address": "0x" + "1" * 40,
                    "chain_address": "0x" + "2" * 40,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = NodeEnrollmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            hospital, token = services.enroll_node(**data.validated_data)
        except (PermissionDenied, InvalidInput):
            record_failed_enrollment(request)
            raise
        chain = None
        if settings.DH_CHAIN != "off":
            chain = {"rpc_url": settings.DH_CHAIN_PUBLIC_RPC_URL, "chain_id": settings.DH_CHAIN_ID}
        return Response(
            {
                "token": token,
                "hospital": {"id": hospital.pk, "name": hospital.name, "slug": hospital.slug},
                "chain": chain,
                "poll_seconds": settings.DH_NODE_POLL_SECONDS,
            },
            status=status.HTTP_201_CREATED,
        )


class NodeHeartbeatView(APIView):
    """A node says it is up (its token's authentication records when it was last seen); nothing else."""

    permission_classes = [IsNode]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        return Response(status=status.HTTP_204_NO_CONTENT)
