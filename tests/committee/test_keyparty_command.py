"""`manage.py keyparty`: the coordinator's command line for key parties and committees (the parties themselves
run `dh-keyparty` on their own hosts)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from committee.models import KeyCommittee, KeyParty
from crypto import partytls
from hospitals.tokens import hash_token
from tests.committee.conftest import enroll

pytestmark = [pytest.mark.unit]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("keyparty", *args, stdout=out)
    return out.getvalue()


def test_add_prints_a_one_time_code_the_party_enrolls_with(consortium):
    printed = run("add", "Org Z")
    code = printed.splitlines()[1]
    party = KeyParty.objects.get(name="Org Z")
    assert party.enrollment_code_hash == hash_token(code) and "dh-keyparty enroll" in printed
    renewed = run("code", "Org Z").splitlines()[1]
    assert renewed != code and KeyParty.objects.get(name="Org Z").enrollment_code_hash == hash_token(renewed)
    assert enroll(code, partytls.make_identity("z")[1], "127.0.0.1:1").status_code == 403  # replaced
    assert enroll(renewed, partytls.make_identity("z")[1], "127.0.0.1:1").status_code == 201
    assert "Org Z\tenrolled, 127.0.0.1:1" in run("list")


def test_committee_of_named_parties(consortium, parties):
    printed = run("committee", "--parties", ",".join(p.party.name for p in parties[:3]))
    committee = KeyCommittee.objects.get()
    assert f"Key committee {committee.pk}" in printed and committee.state == KeyCommittee.State.KEYGEN
    assert [m.party.name for m in committee.members.order_by("index")] == ["party-0", "party-1", "party-2"]
    with pytest.raises(CommandError, match="not active after 1 s"):
        run("committee", "--parties", ",".join(p.party.name for p in parties[1:]), "--wait", "1")
    with pytest.raises(CommandError, match="No key party named 'nobody'"):
        run("committee", "--parties", "party-0,party-1,nobody")
    with pytest.raises(CommandError, match="at least 3"):
        run("committee", "--parties", "party-0,party-1")
