"""`Authorization: Token <token>` for users' API tokens and hospital nodes' tokens."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from hospitals import selectors, services
from hospitals.principals import HospitalNode
from hospitals.tokens import split_prefix, token_matches


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <token>'")
        return authenticate_token(header[1])

    def authenticate_header(self, request) -> str:
        return self.keyword


def authenticate_token(token: str):
    prefix = split_prefix(token)
    if prefix is None:
        raise exceptions.AuthenticationFailed("Malformed token")
    if prefix.startswith("keyparty_"):
        return None  # a key party's token: committee.authentication's class decides
    if prefix.startswith("node_"):
        hospital = selectors.hospital_by_node_token_prefix(prefix)
        if hospital is None or not token_matches(token, hospital.node_token_hash):
            raise exceptions.AuthenticationFailed("Invalid or revoked node token")
        now = timezone.now()
        if selectors.node_token_expired(hospital, now):
            raise exceptions.AuthenticationFailed("node token expired: rotate it")
        services.record_node_seen(hospital, now)
        return HospitalNode(hospital), None
    api_token = selectors.api_token_by_prefix(prefix)
    if api_token is None or not token_matches(token, api_token.token_hash) or not api_token.user.is_active:
        raise exceptions.AuthenticationFailed("Invalid or revoked API token")
    return api_token.user, api_token
