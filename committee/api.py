"""REST endpoint of the aggregation committee: its joint public key, for nodes to encrypt under."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from committee import selectors


class CommitteePublicContextView(APIView):
    """The committee's joint public key as a TenSEAL context (no secret key inside), for nodes to encrypt."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, committee_id: int):
        key_committee = selectors.get_committee(committee_id)
        return HttpResponse(selectors.public_context(key_committee), content_type="application/octet-stream")
