"""hospitals/services.py: registering hospitals, issuing, rotating and revoking node and API tokens, and who may
do each. Tokens are checked by what they authenticate, not only by what is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from events.models import AuditEvent
from hospitals import services, tokens
from hospitals.authentication import authenticate_token
from hospitals.models import ApiToken, Hospital, User
from hospitals.principals import HospitalNode
from tests.hospitals.conftest import register
from web.errors import Conflict, InvalidInput, PermissionDenied

pytestmark = [pytest.mark.unit]


def authenticates(token: str) -> bool:
    try:
        authenticate_token(token)
    except AuthenticationFailed:
        return False
    return True


# --- register_hospital --------------------------------------------------------------------------------------


def test_registering_creates_the_hospital_its_admin_and_a_working_node_token(coordinator):
    hospital, token = services.register_hospital(coordinator, "St. Mary's Hospital", "mary", "password-123")
    assert (hospital.name, hospital.slug) == ("St. Mary's Hospital", "st-marys-hospital")
    admin = User.objects.get(username="mary")
    assert admin.role == User.Role.HOSPITAL_ADMIN and admin.hospital == hospital
    assert admin.check_password("password-123") and not admin.is_coordinator
    # The node token is stored as its hash only, and authenticates as the hospital's node.
    stored = Hospital.objects.get(pk=hospital.pk)
    assert token.startswith(stored.node_token_prefix + ".") and stored.node_token_prefix.startswith("node_")
    assert stored.node_token_hash == tokens.hash_token(token)
    assert token.partition(".")[2] not in (stored.node_token_prefix + stored.node_token_hash)
    principal, auth = authenticate_token(token)
    assert principal == HospitalNode(stored) and auth is None


def test_only_the_coordinator_registers_hospitals_and_a_refusal_creates_nothing(north):
    with pytest.raises(PermissionDenied):
        services.register_hospital(north.admin, "Rogue Clinic", "rogue", "password-123")
    assert not Hospital.objects.filter(name="Rogue Clinic").exists()
    assert not User.objects.filter(username="rogue").exists()


@pytest.mark.parametrize("name", ["!!!", "   ", "---"])
def test_a_name_without_letters_or_digits_is_refused(coordinator, name):
    with pytest.raises(InvalidInput, match="letters or digits"):
        services.register_hospital(coordinator, name, "someone", "password-123")
    assert not Hospital.objects.exists() and not User.objects.filter(username="someone").exists()


@pytest.mark.parametrize(
    "name, admin_username, message",
    [
        ("North Clinic", "other_admin", "already registered"),  # same name
        ("north clinic!", "other_admin", "already registered"),  # another name, the same slug
        ("West Clinic", "north_admin", "already exists"),  # the admin's username is taken
        ("West Clinic", "coordinator", "already exists"),  # so is the coordinator's
    ],
)
def test_a_duplicate_hospital_or_admin_is_a_conflict_and_changes_nothing(
    coordinator, north, name, admin_username, message
):
    before = (Hospital.objects.count(), User.objects.count())
    with pytest.raises(Conflict, match=message):
        services.register_hospital(coordinator, name, admin_username, "password-123")
    assert (Hospital.objects.count(), User.objects.count()) == before
    assert authenticates(north.node_token)  # the existing hospital's token is untouched


@pytest.mark.parametrize(
    "admin_username",
    [
        pytest.param("North_Admin", id="upper-case"),
        pytest.param("\uff4e\uff4f\uff52\uff54\uff48_admin", id="fullwidth"),
        pytest.param("\u0430dmin_west", id="cyrillic-a"),
        pytest.param("ab", id="too-short"),
        pytest.param("_west", id="leading-underscore"),
        pytest.param("<b>west</b>", id="markup"),
        pytest.param("w" * 151, id="too-long"),
    ],
)
def test_an_admin_username_outside_lower_case_ascii_is_refused(coordinator, admin_username):
    with pytest.raises(InvalidInput, match="is not allowed"):
        services.register_hospital(coordinator, "West Clinic", admin_username, "admin-password-1")
    assert not Hospital.objects.exists() and User.objects.count() == 1


@pytest.mark.parametrize(
    "password, reason",
    [("12345678", "entirely numeric"), ("password123", "too common"), ("west_admin", "too similar")],
)
def test_a_weak_admin_password_is_refused_with_the_reason(coordinator, password, reason):
    with pytest.raises(InvalidInput, match=reason):
        services.register_hospital(coordinator, "West Clinic", "west_admin", password)
    assert not Hospital.objects.exists() and User.objects.count() == 1


def test_registering_and_token_changes_are_in_the_audit_trail(coordinator, north, south):
    services.rotate_node_token(north.admin, north.hospital)
    services.revoke_node_token(coordinator, north.hospital)
    with pytest.raises(PermissionDenied):
        services.rotate_node_token(south.admin, north.hospital)  # refused: not in the trail
    trail = list(AuditEvent.objects.filter(round=None).values_list("actor", "kind", "detail"))
    assert trail == [
        ("coordinator", "hospital_registered", {"hospital": "north-clinic", "admin": "north_admin"}),
        ("coordinator", "hospital_registered", {"hospital": "south-clinic", "admin": "south_admin"}),
        ("north_admin", "node_token_rotated", {"hospital": "north-clinic"}),
        ("coordinator", "node_token_revoked", {"hospital": "north-clinic"}),
    ]


def test_a_long_name_gets_a_slug_of_at_most_60_characters(coordinator):
    hospital, _ = services.register_hospital(coordinator, "Hospital " + "x" * 150, "long", "password-123")
    assert len(hospital.slug) == 60 and hospital.slug.startswith("hospital-x")


# --- node tokens --------------------------------------------------------------------------------------------


def test_rotating_the_node_token_stops_the_old_one_at_once(north):
    new = services.rotate_node_token(north.admin, north.hospital)
    assert new != north.node_token
    assert not authenticates(north.node_token)
    principal, _ = authenticate_token(new)
    assert principal.hospital.pk == north.hospital.pk


def test_the_coordinator_and_the_hospitals_own_admin_may_rotate_and_revoke_others_may_not(
    coordinator, north, south
):
    with pytest.raises(PermissionDenied):
        services.rotate_node_token(south.admin, north.hospital)
    with pytest.raises(PermissionDenied):
        services.revoke_node_token(south.admin, north.hospital)
    assert authenticates(north.node_token)  # the refusals changed nothing
    by_coordinator = services.rotate_node_token(coordinator, north.hospital)
    assert authenticates(by_coordinator) and not authenticates(north.node_token)


def test_a_node_principal_is_refused_as_an_actor(north):
    node = HospitalNode(north.hospital)
    with pytest.raises(PermissionDenied):
        services.rotate_node_token(node, north.hospital)
    with pytest.raises(PermissionDenied):
        services.register_hospital(node, "Node Clinic", "node_admin", "password-123")


def test_revoking_the_node_token_leaves_the_hospital_without_one_until_it_is_rotated(north, south):
    services.revoke_node_token(north.admin, north.hospital)
    stored = Hospital.objects.get(pk=north.hospital.pk)
    assert (stored.node_token_prefix, stored.node_token_hash) == ("", "")
    assert not authenticates(north.node_token)
    assert authenticates(south.node_token)  # another hospital's token is untouched
    fresh = services.rotate_node_token(north.admin, north.hospital)
    assert authenticates(fresh)


def test_a_node_is_recorded_as_seen_at_most_once_a_minute(north):
    start = timezone.now()
    services.record_node_seen(north.hospital, start)
    services.record_node_seen(north.hospital, start + timedelta(seconds=30))  # within the minute: no write
    assert Hospital.objects.get(pk=north.hospital.pk).node_last_seen_at == start
    later = start + timedelta(seconds=61)
    services.record_node_seen(north.hospital, later)
    assert Hospital.objects.get(pk=north.hospital.pk).node_last_seen_at == later
    assert north.hospital.node_last_seen_at == later


# --- API tokens ---------------------------------------------------------------------------------------------


def test_an_api_token_is_stored_hashed_and_authenticates_as_its_user(north):
    token = services.issue_api_token(north.admin, "ci")
    row = ApiToken.objects.get(user=north.admin)
    assert (row.name, row.revoked_at) == ("ci", None)
    assert token.startswith(row.prefix + ".") and row.prefix.startswith("api_")
    assert row.token_hash == tokens.hash_token(token)
    user, auth = authenticate_token(token)
    assert user == north.admin and auth == row


def test_reissuing_a_token_revokes_the_earlier_one_of_that_name_only(north, south):
    first = services.issue_api_token(north.admin, "ci")
    other_name = services.issue_api_token(north.admin, "backup")
    other_user = services.issue_api_token(south.admin, "ci")
    second = services.reissue_api_token(north.admin, "ci")
    assert not authenticates(first) and authenticates(second)
    assert authenticates(other_name) and authenticates(other_user)
    live = ApiToken.objects.filter(user=north.admin, name="ci", revoked_at__isnull=True)
    assert live.count() == 1 and ApiToken.objects.filter(user=north.admin, name="ci").count() == 2
    # Sent again (the answer lost): still one live token of that name, the newest.
    third = services.reissue_api_token(north.admin, "ci")
    assert [authenticates(t) for t in (first, second, third)] == [False, False, True]
    assert live.count() == 1


def test_revoking_an_api_token_needs_its_owner(north, south):
    token = services.issue_api_token(north.admin, "ci")
    prefix = tokens.split_prefix(token)
    services.revoke_api_token(south.admin, prefix)  # not south's token: nothing happens
    assert authenticates(token)
    services.revoke_api_token(north.admin, prefix)
    assert not authenticates(token)
    assert ApiToken.objects.get(prefix=prefix).revoked_at is not None


def test_an_inactive_users_api_token_is_refused(north):
    token = services.issue_api_token(north.admin, "ci")
    User.objects.filter(pk=north.admin.pk).update(is_active=False)
    with pytest.raises(AuthenticationFailed, match="Invalid or revoked API token"):
        authenticate_token(token)


def test_registered_hospitals_are_independent(coordinator):
    first = register(coordinator, "East Clinic", "east_admin")
    second = register(coordinator, "West Clinic", "west_admin")
    assert first.hospital.node_token_prefix != second.hospital.node_token_prefix
    assert authenticate_token(first.node_token)[0].hospital.slug == "east-clinic"
    assert authenticate_token(second.node_token)[0].hospital.slug == "west-clinic"
