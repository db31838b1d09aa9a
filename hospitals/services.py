"""Writes of hospitals, users and tokens. Plaintext tokens are returned once and never stored."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from events import realtime
from events.services import record_event
from hospitals.models import ApiToken, Hospital, User
from hospitals.tokens import hash_token, issue_token
from web.errors import Conflict, InvalidInput, PermissionDenied


def require_coordinator(user: User) -> None:
    if not getattr(user, "is_coordinator", False):
        raise PermissionDenied("Only the coordinator may do this")


def require_hospital_manager(user: User, hospital: Hospital) -> None:
    """The coordinator, or an admin of this hospital."""
    if getattr(user, "is_coordinator", False):
        return
    if getattr(user, "role", None) == User.Role.HOSPITAL_ADMIN and user.hospital_id == hospital.pk:
        return
    raise PermissionDenied("Only the coordinator or this hospital's admin may do this")


def create_coordinator(username: str, password: str) -> User:
    return User.objects.create_user(username=username, password=password, role=User.Role.COORDINATOR)


@transaction.atomic
def register_hospital(
    actor: User, name: str, admin_username: str, admin_password: str
) -> tuple[Hospital, str]:
    """Registers a hospital and its admin; returns the hospital and its node token (shown once)."""
    require_coordinator(actor)
    slug = slugify(name)[:60]
    if not slug:
        raise InvalidInput("Hospital name must contain letters or digits")
    if Hospital.objects.filter(slug=slug).exists() or Hospital.objects.filter(name=name).exists():
        raise Conflict(f"A hospital named {name!r} is already registered")
    check_new_username(admin_username)
    if User.objects.filter(username__iexact=admin_username).exists():
        raise Conflict(f"User {admin_username!r} already exists")
    check_password_strength(admin_password, admin_username)
    try:
        with transaction.atomic():
            hospital = Hospital.objects.create(name=name, slug=slug)
            User.objects.create_user(
                username=admin_username,
                password=admin_password,
                role=User.Role.HOSPITAL_ADMIN,
                hospital=hospital,
            )
    except IntegrityError:  # registered meanwhile by a concurrent request
        raise Conflict(f"A hospital named {name!r} or user {admin_username!r} already exists") from None
    token = _set_node_token(hospital)
    record_event(None, actor.username, "hospital_registered", {"hospital": slug, "admin": admin_username})
    return hospital, token


# Plain ASCII, lower case: no look-alike of another user's name (Cyrillic "а", "AdminA" beside "adminA"), no markup.
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{2,149}")


def check_new_username(username: str) -> None:
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            f"Username {username!r} is not allowed: use 3 to 150 lower-case ASCII letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )


def check_password_strength(password: str, username: str) -> None:
    """Django's password validators (length, common passwords, all digits, too close to the username)."""
    try:
        validate_password(password, user=User(username=username))
    except ValidationError as exc:
        raise InvalidInput("Password refused: " + " ".join(exc.messages)) from None


def _set_node_token(hospital: Hospital, expires_at: datetime | None = None) -> str:
    issued = issue_token("node")
    hospital.node_token_prefix = issued.prefix
    hospital.node_token_hash = issued.digest
    hospital.node_token_expires_at = expires_at
    hospital.save(update_fields=["node_token_prefix", "node_token_hash", "node_token_expires_at"])
    return issued.plaintext


MAX_NODE_TOKEN_DAYS = 3650


def rotate_node_token(actor: User, hospital: Hospital, expires_in_days: int | None = None) -> str:
    """Issues a new node token; the old one stops working at once. With expires_in_days, the new one is refused
    from that many days on (None: until the next rotation or revocation)."""
    require_hospital_manager(actor, hospital)
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_NODE_TOKEN_DAYS:
        raise InvalidInput(f"expires_in_days must be between 1 and {MAX_NODE_TOKEN_DAYS}")
    expires_at = None if expires_in_days is None else timezone.now() + timedelta(days=expires_in_days)
    token = _set_node_token(hospital, expires_at)
    details = {"hospital": hospital.slug}
    if expires_at is not None:
        details["expires_at"] = expires_at.isoformat()
    record_event(None, actor.username, "node_token_rotated", details)
    return token


def revoke_node_token(actor: User, hospital: Hospital) -> None:
    require_hospital_manager(actor, hospital)
    hospital.node_token_prefix = ""
    hospital.node_token_hash = ""
    hospital.node_token_expires_at = None
    hospital.save(update_fields=["node_token_prefix", "node_token_hash", "node_token_expires_at"])
    record_event(None, actor.username, "node_token_revoked", {"hospital": hospital.slug})


def record_node_seen(hospital: Hospital, when: datetime) -> None:
    # At most one write a minute per node: authentication runs on every request.
    seen = hospital.node_last_seen_at
    if seen is None or (when - seen).total_seconds() > 60:
        Hospital.objects.filter(pk=hospital.pk).update(node_last_seen_at=when)
        hospital.node_last_seen_at = when


def issue_api_token(user: User, name: str) -> str:
    issued = issue_token("api")
    ApiToken.objects.create(user=user, name=name, prefix=issued.prefix, token_hash=issued.digest)
    return issued.plaintext


def reissue_api_token(user: User, name: str) -> str:
    """A token named `name`; an earlier one of that name stops working, so resending the request (its answer
    lost) leaves one live token, not two."""
    with transaction.atomic():
        ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        return issue_api_token(user, name)


def log_out(request: HttpRequest) -> None:
    """Ends the request's session and closes the websockets opened with it; an API token it came with is
    revoked, so logging out with a token ends that token too."""
    session_key = request.session.session_key
    if isinstance(getattr(request, "auth", None), ApiToken):
        revoke_api_token(request.user, request.auth.prefix)
    logout(request)
    if session_key:
        realtime.close_session_sockets(session_key)


def revoke_api_token(user: User, prefix: str) -> None:
    ApiToken.objects.filter(user=user, prefix=prefix, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


ADDRESS_PATTERN = re.compile(r"0x[0-9a-fA-F]{40}")


def issue_enrollment_code(actor: User, hospital: Hospital) -> tuple[str, datetime]:
    """A one-time code for the hospital's node (`dh-node enroll`), shown once and stored hashed; it replaces
    any earlier unused code. Returns the code and when it expires (DH_ENROLLMENT_CODE_HOURS)."""
    require_hospital_manager(actor, hospital)
    code = issue_token("enroll").plaintext
    expires_at = timezone.now() + timedelta(hours=settings.DH_ENROLLMENT_CODE_HOURS)
    hospital.enrollment_code_hash = hash_token(code)
    hospital.enrollment_code_expires_at = expires_at
    hospital.save(update_fields=["enrollment_code_hash", "enrollment_code_expires_at"])
    record_event(
        None,
        actor.username,
        "enrollment_code_issued",
        {"hospital": hospital.slug, "expires_at": expires_at.isoformat()},
    )
    return code, expires_at


def enroll_node(code: str, signing_address: str, chain_address: str) -> tuple[Hospital, str]:
    """Spends a hospital's enrollment code: the node's public addresses are recorded and it gets a new node
    token (the old one stops working). A used, expired or unknown code is refused, the same way for each."""
    for name, address in (("signing_address", signing_address), ("chain_address", chain_address)):
        if not ADDRESS_PATTERN.fullmatch(address):
            raise InvalidInput(f"{name} must be an Ethereum address (0x and 40 hexadecimal digits)")
    with transaction.atomic():
        hospital = (
            Hospital.objects.select_for_update()
            .filter(enrollment_code_hash=hash_token(code), enrollment_code_expires_at__gt=timezone.now())
            .exclude(enrollment_code_hash="")
            .first()
        )
        if hospital is None:
            raise PermissionDenied(
                "Enrollment code refused: it is unknown, already used or expired; ask the coordinator for a new one"
            )
        if Hospital.objects.exclude(pk=hospital.pk).filter(chain_address__iexact=chain_address).exists():
            raise Conflict("This chain address is registered for another hospital: make a new key")
        hospital.enrollment_code_hash = ""
        hospital.enrollment_code_expires_at = None
        hospital.signing_address = signing_address
        hospital.chain_address = chain_address
        hospital.save(
            update_fields=[
                "enrollment_code_hash",
                "enrollment_code_expires_at",
                "signing_address",
                "chain_address",
            ]
        )
        token = _set_node_token(hospital)
    record_event(
        None,
        f"node:{hospital.slug}",
        "node_enrolled",
        {"hospital": hospital.slug, "chain_address": chain_address, "signing_address": signing_address},
    )
    return hospital, token
