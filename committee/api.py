"""REST endpoints of the aggregation committee.

For nodes: the committee's joint public key. For the coordinator: key parties (add one, a new enrollment code,
the list), committees (make one of enrolled parties, see its key ceremony). For key parties' services
(`dh-keyparty`, token "keyparty_..."): enrollment, their work, the key ceremony's commitment and contribution,
and decryption jobs (description, ciphertexts, public context, the opened vector or a failure).
"""

from __future__ import annotations

import io
import json

import numpy as np
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from committee import decryption, selectors, services
from committee.authentication import IsKeyParty
from committee.models import KeyParty
from hospitals.permissions import IsCoordinator
from hospitals.throttling import FailedEnrollmentThrottle, record_failed_enrollment
from registry import blobstore
from web.errors import InvalidInput, InvalidUpload, PermissionDenied
from web.json_input import JsonInputSerializer

MAX_CONTRIBUTION_BYTES = 256 * 1024  # a contribution is 196 680 bytes
NPY_HEADER_ALLOWANCE = 4096
MAX_REPORT_CHARS = 4000


class OctetStreamParser(BaseParser):
    """A raw body of at most MAX_CONTRIBUTION_BYTES, as bytes."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        data = stream.read(MAX_CONTRIBUTION_BYTES + 1) if stream is not None else b""
        if len(data) > MAX_CONTRIBUTION_BYTES:
            raise InvalidUpload(f"the body is over {MAX_CONTRIBUTION_BYTES} bytes")
        return data


# --- for nodes ------------------------------------------------------------------------------------------------


class CommitteePublicContextView(APIView):
    """The committee's joint public key as a TenSEAL context (no secret key inside), for nodes to encrypt."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, committee_id: int):
        key_committee = selectors.get_committee(committee_id)
        return HttpResponse(selectors.public_context(key_committee), content_type="application/octet-stream")


class CommitteeContributionsView(APIView):
    """The committee's key ceremony in public: the seed and each party's commitment and revealed contribution, so
    that a node that pinned a key party's commitment (`dh-node pin-key-party`) recomputes the joint key and the
    witness keys itself instead of taking the portal's word for them."""

    @extend_schema(
        responses={200: OpenApiResponse(description="seed and parties (index, commitment, contribution)")}
    )
    def get(self, request, committee_id: int):
        return Response(selectors.revealed_contributions(selectors.get_committee(committee_id)))


# --- for the coordinator ----------------------------------------------------------------------------------------


class KeyPartySerializer(serializers.ModelSerializer):
    enrolled = serializers.BooleanField(read_only=True)
    certificate_sha256 = serializers.CharField(source="certificate_fingerprint", read_only=True)

    class Meta:
        model = KeyParty
        fields = [
            "id",
            "name",
            "enrolled",
            "address",
            "certificate_sha256",
            "enrolled_at",
            "last_seen_at",
            "enrollment_code_expires_at",
            "created_at",
        ]


class KeyPartyCreateSerializer(JsonInputSerializer):
    name = serializers.CharField(max_length=100)


class KeyPartyEnrollmentCodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    enrollment_code = serializers.CharField(
        help_text="Shown once: give it to the key party's operator for `dh-keyparty enroll`"
    )
    expires_at = serializers.DateTimeField()


def _code_answer(party: KeyParty, code: str, expires_at) -> Response:
    return Response(
        {"id": party.pk, "name": party.name, "enrollment_code": code, "expires_at": expires_at},
        status=status.HTTP_201_CREATED,
    )


class KeyPartyListView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(responses=KeyPartySerializer(many=True))
    def get(self, request):
        """Every key party: enrolled or not, the address its MPyC process is reached at, when last seen."""
        return Response(KeyPartySerializer(selectors.key_parties(), many=True).data)

    @extend_schema(request=KeyPartyCreateSerializer, responses={201: KeyPartyEnrollmentCodeSerializer})
    def post(self, request):
        """A new key party and its one-time enrollment code (shown once; DH_ENROLLMENT_CODE_HOURS)."""
        data = KeyPartyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        party, code, expires_at = services.create_key_party(request.user, data.validated_data["name"])
        return _code_answer(party, code, expires_at)


class KeyPartyEnrollmentCodeView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(request=None, responses={201: KeyPartyEnrollmentCodeSerializer})
    def post(self, request, party_id: int):
        """A new one-time code for the party (an earlier unused one stops working; its token works until the
        new code is used)."""
        party = selectors.get_key_party(party_id)
        code, expires_at = services.issue_enrollment_code(request.user, party)
        return _code_answer(party, code, expires_at)


class CommitteeCreateSerializer(JsonInputSerializer):
    parties = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=services.MIN_PARTIES,
        max_length=services.MAX_PARTIES,
        help_text="ids of enrolled key parties; a party's index in the committee is its position here",
    )

    def validate_parties(self, value):
        if any(isinstance(item, bool) or not isinstance(item, int) for item in self.initial_data["parties"]):
            raise serializers.ValidationError("Must be a list of integers.")
        return value


class CommitteeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField(help_text="keygen, active or retired")
    seed = serializers.CharField()
    key_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    parties = serializers.ListField(child=serializers.DictField())


class CommitteeListView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(responses=CommitteeSerializer(many=True))
    def get(self, request):
        return Response([selectors.committee_record(c) for c in selectors.committees()])

    @extend_schema(request=CommitteeCreateSerializer, responses={201: CommitteeSerializer})
    def post(self, request):
        """A new committee of enrolled key parties with a fresh public seed: its parties make their shares at
        home and commit, then reveal (their work); it is active once every party has revealed."""
        data = CommitteeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        committee = services.create_committee(request.user, data.validated_data["parties"])
        return Response(selectors.committee_record(committee), status=status.HTTP_201_CREATED)


class CommitteeDetailView(APIView):
    permission_classes = [IsCoordinator]

    @extend_schema(responses=CommitteeSerializer)
    def get(self, request, committee_id: int):
        return Response(selectors.committee_record(selectors.get_committee(committee_id)))


# --- for key parties -------------------------------------------------------------------------------------------


class KeyPartyEnrollmentSerializer(JsonInputSerializer):
    code = serializers.CharField(max_length=200)
    address = serializers.CharField(
        max_length=260, help_text="host:port the other parties' MPyC processes connect to"
    )
    certificate = serializers.CharField(
        max_length=8192, trim_whitespace=False, help_text="the party's TLS identity: a self-signed CA (PEM)"
    )


class KeyPartyEnrolledSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="the key party's token (shown once)")
    id = serializers.IntegerField()
    name = serializers.CharField()
    poll_seconds = serializers.IntegerField()


THROTTLED = OpenApiResponse(description="Too many failed enrollments from this address.")


class KeyPartyEnrollView(APIView):
    """`dh-keyparty enroll`: the enrollment code is the credential (no token yet); failures are throttled."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [FailedEnrollmentThrottle]

    @extend_schema(
        request=KeyPartyEnrollmentSerializer, responses={201: KeyPartyEnrolledSerializer, 429: THROTTLED}
    )
    def post(self, request):
        data = KeyPartyEnrollmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            party, token = services.enroll_key_party(**data.validated_data)
        except (PermissionDenied, InvalidInput):
            record_failed_enrollment(request)
            raise
        return Response(
            {
                "token": token,
                "id": party.pk,
                "name": party.name,
                "poll_seconds": settings.DH_KEYPARTY_POLL_SECONDS,
            },
            status=status.HTTP_201_CREATED,
        )


class KeyPartyWorkSerializer(serializers.Serializer):
    party = serializers.DictField(help_text="{id, name}")
    keygen = serializers.ListField(
        child=serializers.DictField(), help_text="key ceremony steps due: [{committee, index, seed, step}]"
    )
    decryptions = serializers.ListField(
        child=serializers.DictField(), help_text="decryption jobs due: [{job, name, committee, attempt}]"
    )
    poll_seconds = serializers.IntegerField(help_text="how long to wait before polling again when idle")


class KeyPartyWorkView(APIView):
    permission_classes = [IsKeyParty]

    @extend_schema(responses=KeyPartyWorkSerializer)
    def get(self, request):
        """What this key party must do now (`dh-keyparty serve` polls it): commit or reveal in a key ceremony,
        take part in a decryption job's current attempt."""
        party = request.user.party
        return Response(
            {
                "party": {"id": party.pk, "name": party.name},
                "keygen": selectors.keygen_steps(party),
                "decryptions": decryption.pending_jobs_for(party),
                "poll_seconds": settings.DH_KEYPARTY_POLL_SECONDS,
            }
        )


class CommitmentSerializer(JsonInputSerializer):
    commitment = serializers.CharField(max_length=64, help_text="SHA-256 of the contribution, hex")


class KeygenCommitmentView(APIView):
    permission_classes = [IsKeyParty]

    @extend_schema(request=CommitmentSerializer, responses={200: CommitteeSerializer})
    def post(self, request, committee_id: int):
        data = CommitmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.post_commitment(request.user.party, committee_id, data.validated_data["commitment"])
        return Response(selectors.committee_record(selectors.get_committee(committee_id)))


class KeygenContributionView(APIView):
    permission_classes = [IsKeyParty]
    parser_classes = [OctetStreamParser]

    @extend_schema(request={"application/octet-stream": bytes}, responses={200: CommitteeSerializer})
    def post(self, request, committee_id: int):
        """The party's public contribution (crypto.keygen's bytes), after every party has committed."""
        contribution = request.data if isinstance(request.data, bytes) else b""
        committee = services.post_contribution(request.user.party, committee_id, contribution)
        return Response(selectors.committee_record(committee))


class JobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.CharField(help_text="pending, done or failed")
    committee = serializers.IntegerField()
    key_id = serializers.CharField()
    index = serializers.IntegerField(help_text="this party's index in the committee")
    parties = serializers.IntegerField()
    attempt = serializers.IntegerField()
    starts_in = serializers.FloatField(help_text="seconds until the attempt starts (0: it has)")
    seconds_left = serializers.FloatField(help_text="seconds until the attempt's deadline")
    vector_length = serializers.IntegerField()
    sum_digest = serializers.CharField(help_text="SHA-256 of the portal's sum blob: recompute and compare")
    blobs = serializers.ListField(child=serializers.CharField(), help_text="SHA-256 of each ciphertext blob")
    round = serializers.IntegerField(help_text="the round whose uploads these are (each signature names it)")
    min_hospitals = serializers.IntegerField(
        help_text="the round's quorum: the sum needs this many hospitals"
    )
    submissions = serializers.ListField(
        child=serializers.DictField(),
        help_text="per blob, in order: {hospital, signer, num_samples, signature}, the hospital's signature over "
        "(round, the blob's SHA-256, num_samples) with its enrolled signing key: check each before decrypting",
    )
    peers = serializers.ListField(
        child=serializers.DictField(),
        help_text="every party in index order: {index, name, address, certificate}",
    )


class JobView(APIView):
    permission_classes = [IsKeyParty]

    @extend_schema(responses=JobSerializer)
    def get(self, request, job_id: int):
        """The job's current attempt, for this party (the portal records that it fetched it)."""
        return Response(decryption.describe_job(request.user.party, job_id))


class JobBlobView(APIView):
    permission_classes = [IsKeyParty]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, job_id: int, number: int):
        digest = decryption.job_blob_digest(request.user.party, job_id, number)
        return HttpResponse(blobstore.read_bytes(digest), content_type="application/octet-stream")


class JobContextView(APIView):
    permission_classes = [IsKeyParty]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, job_id: int):
        """The committee's public context (joint public key), to check the job's ciphertexts against."""
        return HttpResponse(
            decryption.job_context(request.user.party, job_id), content_type="application/octet-stream"
        )


class JobResultSerializer(serializers.Serializer):
    attempt = serializers.IntegerField(min_value=1)
    vector = serializers.FileField(help_text="the opened vector: a float64 .npy of vector_length values")
    report = serializers.CharField(
        required=False, max_length=MAX_REPORT_CHARS, help_text="JSON object: this party's timings"
    )


class JobStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField(help_text="pending, done or failed")
    attempt = serializers.IntegerField()


def _job_state(job) -> Response:
    return Response({"id": job.pk, "state": job.state, "attempt": job.attempt})


def _load_vector(upload, max_bytes: int) -> np.ndarray:
    if upload.size > max_bytes:
        raise InvalidUpload(f"the result has {upload.size} bytes; at most {max_bytes} for this job")
    try:
        vector = np.load(io.BytesIO(upload.read()), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidUpload(f"the result is not a .npy array: {exc}") from None
    if not isinstance(vector, np.ndarray):
        raise InvalidUpload("the result is not a .npy array")
    return vector


class JobResultView(APIView):
    permission_classes = [IsKeyParty]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": JobResultSerializer}, responses={200: JobStateSerializer})
    def post(self, request, job_id: int):
        """This party's opened vector for the attempt. The job is done when every party has posted the same
        one; a vector differing from another party's is refused (409) and the attempt fails."""
        data = JobResultSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        party = request.user.party
        length = decryption.job_vector_length(party, job_id)
        vector = _load_vector(data.validated_data["vector"], 8 * length + NPY_HEADER_ALLOWANCE)
        report = {}
        if data.validated_data.get("report"):
            try:
                report = json.loads(data.validated_data["report"])
            except ValueError:
                raise InvalidUpload("report must be a JSON object") from None
            if not isinstance(report, dict):
                raise InvalidUpload("report must be a JSON object")
        job = decryption.post_result(party, job_id, data.validated_data["attempt"], vector, report)
        return _job_state(job)


class JobFailureSerializer(JsonInputSerializer):
    attempt = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=decryption.MAX_REASON_CHARS)
    # The upload (index in the job's blobs) this party found not a well-formed encryption, when that is why.
    refused_upload = serializers.IntegerField(min_value=0, required=False)


class JobFailedView(APIView):
    permission_classes = [IsKeyParty]

    @extend_schema(request=JobFailureSerializer, responses={200: JobStateSerializer})
    def post(self, request, job_id: int):
        """This party could not finish the attempt: the next one starts shortly."""
        data = JobFailureSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = decryption.post_failure(
            request.user.party,
            job_id,
            data.validated_data["attempt"],
            data.validated_data["reason"],
            data.validated_data.get("refused_upload"),
        )
        return _job_state(job)
