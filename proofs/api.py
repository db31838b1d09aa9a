"""REST endpoints of the trusted-setup ceremony for hospital nodes (node token; contributors only).

GET  /api/node/ceremonies/<id>/               whose turn, the current zkey's URL and SHA-256, where to upload
GET  /api/node/ceremonies/<id>/zkey/          the current zkey (no secret in it)
POST /api/node/ceremonies/<id>/contribution/  multipart: zkey (the new zkey), previous_zkey_sha256
"""

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
from proofs import selectors, services
from web.body_limit import body_limit
from web.errors import UploadTooLarge


class CeremonyZkeySerializer(serializers.Serializer):
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    contributions = serializers.IntegerField(help_text="contributions it holds")
    url = serializers.CharField()


class CeremonyShapeSerializer(serializers.Serializer):
    features = serializers.IntegerField()
    classes = serializers.IntegerField()
    batch = serializers.IntegerField()


class MadeContributionSerializer(serializers.Serializer):
    hospital = serializers.CharField()
    position = serializers.IntegerField()
    zkey_sha256 = serializers.CharField()
    contribution_hash = serializers.CharField(
        help_text="what `snarkjs zkey contribute` printed (blake2b-512)"
    )
    contributed_at = serializers.DateTimeField(allow_null=True)


class NodeCeremonySerializer(serializers.Serializer):
    ceremony = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["contributing", "finalizing", "ready", "failed"])
    circuit_key = serializers.CharField()
    shape = CeremonyShapeSerializer()
    constraints = serializers.IntegerField()
    ptau_sha256 = serializers.CharField()
    contributors = serializers.ListField(
        child=serializers.CharField(), help_text="hospital slugs, in turn order"
    )
    position = serializers.IntegerField(help_text="this hospital's turn (1-based)")
    turn = serializers.CharField(allow_null=True, help_text="the hospital whose contribution is due, if any")
    your_turn = serializers.BooleanField()
    contributed = serializers.BooleanField()
    name = serializers.CharField(help_text="the name the contribution must carry")
    zkey = CeremonyZkeySerializer(help_text="the current zkey: contribute on top of this one")
    contribution_url = serializers.CharField()
    max_bytes = serializers.IntegerField()
    contributions = MadeContributionSerializer(many=True)


class ContributionUploadSerializer(serializers.Serializer):
    zkey = serializers.FileField(help_text="the zkey made by `snarkjs zkey contribute` from the current zkey")
    previous_zkey_sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$", help_text="SHA-256 of the zkey it was made from (a stale contribution is refused)"
    )


class ContributionSerializer(serializers.Serializer):
    ceremony = serializers.IntegerField()
    hospital = serializers.CharField()
    position = serializers.IntegerField()
    zkey_sha256 = serializers.CharField()
    contribution_hash = serializers.CharField()
    state = serializers.CharField(help_text="the ceremony's state after this contribution")


class NodeCeremonyView(APIView):
    permission_classes = [IsNode]

    @extend_schema(responses=NodeCeremonySerializer)
    def get(self, request, ceremony_id: int):
        """A trusted-setup ceremony this hospital contributes to: whose turn it is and what to download."""
        node: HospitalNode = request.user
        return Response(selectors.node_ceremony(node.hospital, ceremony_id))


class NodeCeremonyZkeyView(APIView):
    permission_classes = [IsNode]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, ceremony_id: int):
        """The ceremony's current zkey; the node checks it against the SHA-256 the ceremony announces."""
        node: HospitalNode = request.user
        path, digest = selectors.current_zkey(node.hospital, ceremony_id)
        response = FileResponse(open(path, "rb"), content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{digest}.zkey"'
        return response


class NodeCeremonyContributionView(APIView):
    permission_classes = [IsNode]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ContributionUploadSerializer},
        responses={201: ContributionSerializer, 200: ContributionSerializer},
    )
    def post(self, request, ceremony_id: int):
        """This hospital's contribution: the new zkey and the SHA-256 of the one it was made from. 201 when
        accepted, 200 for the same upload again (a retried request); refused with the reason otherwise."""
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > body_limit():
            raise UploadTooLarge(f"Upload exceeds the limit of {settings.DH_MAX_UPLOAD_BYTES} bytes")
        data = ContributionUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        node: HospitalNode = request.user
        slot, new = services.accept_contribution(
            node.hospital,
            ceremony_id,
            data.validated_data["previous_zkey_sha256"],
            data.validated_data["zkey"].chunks(),
        )
        ceremony = slot.ceremony
        ceremony.refresh_from_db(fields=["state"])
        body = {
            "ceremony": ceremony.pk,
            "hospital": slot.hospital.slug,
            "position": slot.position,
            "zkey_sha256": slot.zkey_after,
            "contribution_hash": slot.contribution_hash,
            "state": ceremony.state,
        }
        return Response(body, status=status.HTTP_201_CREATED if new else status.HTTP_200_OK)
