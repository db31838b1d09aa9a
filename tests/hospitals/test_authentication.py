"""hospitals/authentication.py: `Authorization: Token <token>` for node tokens and users' API tokens. A malformed
token is refused before any database lookup; a well-formed but unknown, wrong or revoked one after it."""

from __future__ import annotations

import pytest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient, APIRequestFactory

from hospitals import selectors, services
from hospitals.authentication import TokenAuthentication, authenticate_token
from hospitals.models import Hospital
from hospitals.principals import HospitalNode

pytestmark = [pytest.mark.unit]

MALFORMED = [
    pytest.param("", id="empty"),
    pytest.param("no-dot-at-all", id="no-dot"),
    pytest.param(".secret-without-prefix", id="empty-prefix"),
    pytest.param("node_abcd1234.s\u00e9cret", id="non-ascii"),
    pytest.param("node_abcd1234.se\x00cret", id="nul"),
    pytest.param("api_abcd1234.' OR '1'='1", id="quote"),
    pytest.param("node_abcd1234." + "a" * 300, id="too-long"),
]


@pytest.fixture
def lookups_fail(monkeypatch):
    """Any lookup of a token row fails the test: what is refused here must be refused before the database."""

    def looked_up(prefix):
        raise AssertionError(f"looked up {prefix!r}")

    monkeypatch.setattr(selectors, "hospital_by_node_token_prefix", looked_up)
    monkeypatch.setattr(selectors, "api_token_by_prefix", looked_up)


@pytest.mark.parametrize("token", MALFORMED)
def test_a_malformed_token_is_refused_without_a_database_lookup(
    db, token, lookups_fail, django_assert_num_queries
):
    with django_assert_num_queries(0), pytest.raises(AuthenticationFailed, match="Malformed token"):
        authenticate_token(token)


def test_a_node_token_authenticates_the_hospitals_node_and_records_it_as_seen(north):
    assert Hospital.objects.get(pk=north.hospital.pk).node_last_seen_at is None
    principal, auth = authenticate_token(north.node_token)
    assert isinstance(principal, HospitalNode) and auth is None
    assert principal.hospital.pk == north.hospital.pk
    assert principal.is_authenticated and not principal.is_coordinator and principal.pk == "node:north-clinic"
    assert Hospital.objects.get(pk=north.hospital.pk).node_last_seen_at is not None


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"), id="wrong-secret"),
        pytest.param(lambda token: "node_00000000." + token.partition(".")[2], id="unknown-prefix"),
        pytest.param(lambda token: token.partition(".")[0] + ".", id="prefix-only"),
    ],
)
def test_a_well_formed_but_wrong_node_token_is_refused(north, mangle):
    with pytest.raises(AuthenticationFailed, match="Invalid or revoked node token"):
        authenticate_token(mangle(north.node_token))
    assert Hospital.objects.get(pk=north.hospital.pk).node_last_seen_at is None


def test_another_hospitals_secret_under_this_prefix_is_refused(north, south):
    forged = north.hospital.node_token_prefix + "." + south.node_token.partition(".")[2]
    with pytest.raises(AuthenticationFailed, match="Invalid or revoked node token"):
        authenticate_token(forged)


def test_a_revoked_node_token_is_refused(north):
    services.revoke_node_token(north.admin, north.hospital)
    with pytest.raises(AuthenticationFailed, match="Invalid or revoked node token"):
        authenticate_token(north.node_token)


def test_an_api_token_with_a_node_prefix_does_not_authenticate_as_a_node(north):
    token = services.issue_api_token(north.admin, "ci")
    as_node = "node_" + token.partition(".")[0].removeprefix("api_") + "." + token.partition(".")[2]
    with pytest.raises(AuthenticationFailed, match="node token"):
        authenticate_token(as_node)


def test_a_revoked_api_token_is_refused(north):
    token = services.issue_api_token(north.admin, "ci")
    services.revoke_api_token(north.admin, token.partition(".")[0])
    with pytest.raises(AuthenticationFailed, match="Invalid or revoked API token"):
        authenticate_token(token)


# --- the Authorization header -------------------------------------------------------------------------------


def header_request(value: str | None):
    factory = APIRequestFactory()
    return factory.get("/api/me/", **({"HTTP_AUTHORIZATION": value} if value is not None else {}))


@pytest.mark.parametrize("value", [None, "", "Bearer abc.def", "Basic dXNlcjpwYXNz", "token abc.def"])
def test_a_request_without_a_token_header_is_left_to_the_other_authentication(db, value, lookups_fail):
    assert TokenAuthentication().authenticate(header_request(value)) is None


@pytest.mark.parametrize("value", ["Token", "Token a.b c.d"])
def test_a_token_header_without_exactly_one_token_is_refused(db, value, lookups_fail):
    with pytest.raises(AuthenticationFailed, match="must be 'Token <token>'"):
        TokenAuthentication().authenticate(header_request(value))


def test_the_header_authenticates_a_user_by_api_token(north):
    token = services.issue_api_token(north.admin, "ci")
    user, auth = TokenAuthentication().authenticate(header_request(f"Token {token}"))
    assert user == north.admin and auth.name == "ci"


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_through_the_api_a_malformed_token_is_401_and_asks_for_a_token(db, lookups_fail):
    response = client_with("not a token").get("/api/me/")  # three words: a malformed header
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    response = client_with("node_abc\u00e9.x").get("/api/me/")
    assert response.status_code == 401 and "Malformed token" in response.json()["detail"]


def test_through_the_api_a_node_token_is_not_a_person_and_an_api_token_is(north):
    assert client_with(north.node_token).get("/api/me/").status_code == 403
    response = client_with(services.issue_api_token(north.admin, "ci")).get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {
        "id": north.admin.pk,
        "username": "north_admin",
        "role": "hospital_admin",
        "hospital": "north-clinic",
    }
