"""`Authorization: Token keyparty_...` for key parties' services (`dh-keyparty`), and who may call their API.

A key party's token is issued when it enrolls, shown once, stored as a SHA-256 hash and compared in constant
time (hospitals.tokens), like a node token. hospitals.authentication leaves "keyparty_" tokens to this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission

from committee import selectors, services
from committee.models import KeyParty
from hospitals.tokens import split_prefix, token_matches

TOKEN_KIND = "keyparty"


@dataclass(frozen=True)
class KeyPartyPrincipal:
    """The authenticated principal of a key party's service: not a user, only its key party."""

    party: KeyParty
    is_authenticated: bool = True
    is_active: bool = True
    is_coordinator: bool = False
    role: str = "keyparty"

    @property
    def pk(self) -> str:
        return f"keyparty:{self.party.name}"

    def __str__(self) -> str:
        return f"key party {self.party.name}"


class KeyPartyTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if len(header) != 2 or header[0] != self.keyword:
            return None  # not a token, or a malformed header the hospitals' class has refused already
        prefix = split_prefix(header[1])
        if prefix is None or not prefix.startswith(TOKEN_KIND + "_"):
            return None
        party = selectors.key_party_by_token_prefix(prefix)
        if party is None or not token_matches(header[1], party.token_hash):
            raise exceptions.AuthenticationFailed("Invalid or revoked key party token")
        services.record_seen(party, timezone.now())
        return KeyPartyPrincipal(party), None

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsKeyParty(BasePermission):
    message = "This endpoint is for key parties (Authorization: Token <key party token>)"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, KeyPartyPrincipal)
