"""Writes of the aggregation committee: key parties and their enrollment, committees and their dealer-free key
ceremony (decryption jobs: committee.decryption).

The portal never holds a key share and never runs a key party. Each party is a `dh-keyparty` service on its own
organisation's host (keyparty/): the coordinator adds it here and hands its operator a one-time enrollment code;
`dh-keyparty enroll` spends the code, registering the address its MPyC process is reached at and its TLS identity
certificate, and gets the party's token. A committee is made of enrolled parties: each party, polling its work,
generates its share at home, posts a commitment to its public contribution, then (once all have committed)
reveals the contribution; the portal combines the reveals into the joint public key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from committee.models import CommitteeMember, KeyCommittee, KeyParty
from crypto import ckks, keygen, partytls
from events.services import record_event
from hospitals.models import User
from hospitals.services import require_coordinator
from hospitals.tokens import hash_token, issue_token
from registry import blobstore
from web.errors import Conflict, InvalidInput, NotFound, PermissionDenied

MIN_PARTIES = 3  # MPyC's honest majority needs at least 3
MAX_PARTIES = 16
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")
HOST_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
COMMITMENT_PATTERN = re.compile(r"[0-9a-f]{64}")
SEEN_WRITE_SECONDS = 30  # at most one write of last_seen_at per party this often


# --- key parties --------------------------------------------------------------------------------------------


def _new_code(party: KeyParty) -> tuple[str, datetime]:
    code = issue_token("enroll").plaintext
    expires_at = timezone.now() + timedelta(hours=settings.DH_ENROLLMENT_CODE_HOURS)
    party.enrollment_code_hash = hash_token(code)
    party.enrollment_code_expires_at = expires_at
    return code, expires_at


def create_key_party(actor: User, name: str) -> tuple[KeyParty, str, datetime]:
    """A new key party and its one-time enrollment code (shown once, stored hashed); returns (party, code,
    expiry). The code is for the party's operator: `dh-keyparty enroll --code ...` on the party's own host."""
    require_coordinator(actor)
    name = name.strip()
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            "A key party's name is 1 to 100 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
        )
    party = KeyParty(name=name)
    code, expires_at = _new_code(party)
    try:
        with transaction.atomic():
            party.save()
    except IntegrityError:
        raise Conflict(f"A key party named {name!r} exists already") from None
    record_event(
        None, actor.username, "key_party_added", {"party": name, "expires_at": expires_at.isoformat()}
    )
    return party, code, expires_at


def issue_enrollment_code(actor: User, party: KeyParty) -> tuple[str, datetime]:
    """A new one-time code for the party (an earlier unused one stops working). Its current token keeps working
    until the new code is used: enrolling again replaces it."""
    require_coordinator(actor)
    code, expires_at = _new_code(party)
    party.save(update_fields=["enrollment_code_hash", "enrollment_code_expires_at"])
    record_event(
        None,
        actor.username,
        "key_party_code_issued",
        {"party": party.name, "expires_at": expires_at.isoformat()},
    )
    return code, expires_at


def check_address(address: str) -> str:
    """host:port (a host name or IPv4 address) the other parties' MPyC processes connect to."""
    host, _, port = address.strip().rpartition(":")
    if not HOST_PATTERN.fullmatch(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InvalidInput(
            f"address {address[:80]!r} must be host:port (a host name or IPv4 address, port 1-65535)"
        )
    return f"{host}:{int(port)}"


def enroll_key_party(code: str, address: str, certificate: str) -> tuple[KeyParty, str]:
    """Spends a key party's enrollment code: its address and TLS identity are recorded and it gets a new token
    (an earlier one stops working). A used, expired or unknown code is refused, the same way for each."""
    address = check_address(address)
    try:
        identity = partytls.check_identity(certificate)
    except partytls.CertificateError as exc:
        raise InvalidInput(f"certificate refused: {exc}") from None
    with transaction.atomic():
        party = (
            KeyParty.objects.select_for_update()
            .filter(enrollment_code_hash=hash_token(code), enrollment_code_expires_at__gt=timezone.now())
            .exclude(enrollment_code_hash="")
            .first()
        )
        if party is None:
            raise PermissionDenied(
                "Enrollment code refused: it is unknown, already used or expired; ask the coordinator for a new one"
            )
        others = KeyParty.objects.exclude(pk=party.pk)
        if (
            others.filter(certificate_subject=identity.subject).exists()
            or others.filter(certificate_fingerprint=identity.fingerprint).exists()
        ):
            raise InvalidInput("certificate refused: another key party has a certificate with this subject")
        issued = issue_token("keyparty")
        party.token_prefix, party.token_hash = issued.prefix, issued.digest
        party.enrollment_code_hash, party.enrollment_code_expires_at = "", None
        party.address = address
        party.certificate = certificate.strip() + "\n"
        party.certificate_subject, party.certificate_fingerprint = identity.subject, identity.fingerprint
        party.enrolled_at = timezone.now()
        party.save()
    record_event(
        None,
        f"keyparty:{party.name}",
        "key_party_enrolled",
        {"party": party.name, "address": address, "certificate_sha256": identity.fingerprint},
    )
    return party, issued.plaintext


def record_seen(party: KeyParty, when: datetime) -> None:
    seen = party.last_seen_at
    if seen is None or (when - seen).total_seconds() > SEEN_WRITE_SECONDS:
        KeyParty.objects.filter(pk=party.pk).update(last_seen_at=when)
        party.last_seen_at = when


# --- committees and their key ceremony ----------------------------------------------------------------------


def create_committee(actor: User, party_ids: Sequence[int]) -> KeyCommittee:
    """A new committee of these enrolled parties (index = position in the list) with a fresh public seed; its
    parties then generate their shares at home and commit and reveal through their work (state KEYGEN)."""
    require_coordinator(actor)
    ids = list(party_ids)
    if len(set(ids)) != len(ids):
        raise InvalidInput("A key party can hold only one share of a committee: the list names one twice")
    if not MIN_PARTIES <= len(ids) <= MAX_PARTIES:
        raise InvalidInput(
            f"A committee needs at least {MIN_PARTIES} key parties (MPyC's honest majority) and at most "
            f"{MAX_PARTIES}; got {len(ids)}"
        )
    parties = {party.pk: party for party in KeyParty.objects.filter(pk__in=ids)}
    missing = [str(pk) for pk in ids if pk not in parties]
    if missing:
        raise InvalidInput(f"No key party with id {', '.join(missing)}")
    not_enrolled = [parties[pk].name for pk in ids if not parties[pk].enrolled]
    if not_enrolled:
        raise InvalidInput(f"Key parties not enrolled yet (dh-keyparty enroll): {', '.join(not_enrolled)}")
    addresses = [parties[pk].address for pk in ids]
    if len(set(addresses)) != len(addresses):
        raise InvalidInput("Two key parties advertise the same address: each needs its own host:port")
    for pending in KeyCommittee.objects.filter(state=KeyCommittee.State.KEYGEN):
        if list(pending.members.order_by("index").values_list("party_id", flat=True)) == ids:
            raise Conflict(f"Key committee {pending.pk} of these parties is in its key ceremony already")
    with transaction.atomic():
        committee = KeyCommittee.objects.create(seed=secrets.token_bytes(32).hex())
        CommitteeMember.objects.bulk_create(
            CommitteeMember(committee=committee, party=parties[pk], index=index)
            for index, pk in enumerate(ids)
        )
    record_event(
        None,
        actor.username,
        "committee_created",
        {"committee": committee.pk, "parties": [parties[pk].name for pk in ids]},
    )
    return committee


def _membership(party: KeyParty, committee_id: int) -> tuple[KeyCommittee, CommitteeMember]:
    """The committee (locked) and this party's seat in it; 404 for a committee the party is not in."""
    committee = KeyCommittee.objects.select_for_update().filter(pk=committee_id).first()
    member = committee and CommitteeMember.objects.filter(committee=committee, party=party).first()
    if committee is None or member is None:
        raise NotFound(f"Key committee {committee_id} has no seat for this key party")
    if committee.state != KeyCommittee.State.KEYGEN:
        raise Conflict(f"Key committee {committee_id} is {committee.state}: its key ceremony is over")
    return committee, member


def post_commitment(party: KeyParty, committee_id: int, commitment: str) -> CommitteeMember:
    """The party's commitment (SHA-256 of its contribution, hex); sending the same one again is a no-op."""
    if not isinstance(commitment, str) or not COMMITMENT_PATTERN.fullmatch(commitment):
        raise InvalidInput(
            "commitment must be 64 lower-case hexadecimal digits (SHA-256 of the contribution)"
        )
    with transaction.atomic():
        _committee, member = _membership(party, committee_id)
        if member.commitment and member.commitment != commitment:
            raise Conflict("This key party has committed to another contribution already")
        if not member.commitment:
            member.commitment = commitment
            member.save(update_fields=["commitment"])
    return member


def post_contribution(party: KeyParty, committee_id: int, contribution: bytes) -> KeyCommittee:
    """The party reveals its contribution once every party has committed; the last reveal makes the joint
    public key (each reveal checked against its commitment) and the committee ACTIVE."""
    with transaction.atomic():
        committee, member = _membership(party, committee_id)
        members = list(committee.members.select_related("party"))
        waiting = [m.party.name for m in members if not m.commitment]
        if waiting:
            raise Conflict(
                f"Not every key party has committed yet (waiting for {', '.join(waiting)}): reveal after"
            )
        try:
            parsed = keygen.Contribution.from_bytes(contribution)
        except keygen.KeyGenError as exc:
            raise InvalidInput(f"contribution refused: {exc}") from None
        if parsed.seed_digest != hashlib.sha256(bytes.fromhex(committee.seed)).digest():
            raise InvalidInput("contribution refused: it was made for another seed than this committee's")
        if not secrets.compare_digest(keygen.commitment(contribution), member.commitment):
            raise InvalidInput("contribution refused: it does not match this key party's commitment")
        digest = blobstore.put_bytes(contribution)
        if member.contribution_digest != digest:
            member.contribution_digest = digest
            member.save(update_fields=["contribution_digest"])
        if all(m.contribution_digest for m in members if m.pk != member.pk):
            _activate(committee, [m for m in members if m.pk != member.pk] + [member])
    return committee


def _activate(committee: KeyCommittee, members: list[CommitteeMember]) -> None:
    members = sorted(members, key=lambda m: m.index)
    try:
        public_context = keygen.combine_public_key(
            bytes.fromhex(committee.seed),
            [m.commitment for m in members],
            [blobstore.read_bytes(m.contribution_digest) for m in members],
        )
    except keygen.KeyGenError as exc:
        raise InvalidInput(f"key ceremony refused: {exc}") from None
    committee.key_id = ckks.key_id(public_context)
    committee.public_context_digest = blobstore.put_bytes(public_context)
    committee.state = KeyCommittee.State.ACTIVE
    committee.activated_at = timezone.now()
    committee.save(update_fields=["key_id", "public_context_digest", "state", "activated_at"])
    record_event(
        None,
        "portal",
        "committee_active",
        {"committee": committee.pk, "key_id": committee.key_id, "parties": [m.party.name for m in members]},
    )
