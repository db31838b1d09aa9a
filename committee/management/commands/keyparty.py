"""`manage.py keyparty`: what the coordinator does for the key committee from the portal's command line (the same
services as the REST API). The key parties themselves run `dh-keyparty` on their own hosts, never here."""

import time

from django.core.management.base import BaseCommand, CommandError

from committee import selectors, services
from committee.models import KeyCommittee, KeyParty
from hospitals.models import User
from web.errors import DomainError


class Command(BaseCommand):
    help = (
        "Key parties of the aggregation committee. `add NAME`: a new key party and its one-time enrollment code "
        "(for `dh-keyparty enroll` on the party's host). `code NAME`: a new code for it. `list`: the parties. "
        "`committee --parties NAME,NAME,NAME [--wait SECONDS]`: a new committee of enrolled parties (index = "
        "order), waiting until its key ceremony is done if asked."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["add", "code", "list", "committee"])
        parser.add_argument("name", nargs="?", help="the key party's name (add, code)")
        parser.add_argument(
            "--parties", default="", help="committee: comma-separated names of enrolled parties"
        )
        parser.add_argument(
            "--wait", type=float, default=0.0, help="committee: seconds to wait until it is active"
        )

    def handle(self, *args, **options):
        coordinator = User.objects.filter(role=User.Role.COORDINATOR).order_by("id").first()
        if coordinator is None:
            raise CommandError(
                "Create the coordinator account first (manage.py createcoordinator or the demo)"
            )
        try:
            getattr(self, "_" + options["action"])(coordinator, options)
        except DomainError as exc:
            raise CommandError(str(exc)) from None

    def _party(self, name: str | None) -> KeyParty:
        party = KeyParty.objects.filter(name=name or "").first()
        if party is None:
            raise CommandError(f"No key party named {name!r} (manage.py keyparty list)")
        return party

    def _add(self, coordinator, options):
        if not options["name"]:
            raise CommandError("keyparty add NAME")
        party, code, expires_at = services.create_key_party(coordinator, options["name"])
        self._print_code(party, code, expires_at)

    def _code(self, coordinator, options):
        party = self._party(options["name"])
        code, expires_at = services.issue_enrollment_code(coordinator, party)
        self._print_code(party, code, expires_at)

    def _print_code(self, party, code, expires_at):
        self.stdout.write(f"Key party {party.name} (id {party.pk}); enrollment code, shown once:")
        self.stdout.write(code)
        self.stdout.write(
            f"valid until {expires_at:%Y-%m-%d %H:%M} UTC; on the party's host: dh-keyparty enroll --portal URL "
            "--code CODE --listen HOST:PORT --advertise HOST:PORT"
        )

    def _list(self, coordinator, options):
        for party in selectors.key_parties():
            state = (
                f"enrolled, {party.address}, seen {party.last_seen_at or 'never'}"
                if party.enrolled
                else "not enrolled"
            )
            self.stdout.write(f"{party.pk}\t{party.name}\t{state}")

    def _committee(self, coordinator, options):
        names = [name.strip() for name in options["parties"].split(",") if name.strip()]
        committee = services.create_committee(coordinator, [self._party(name).pk for name in names])
        self.stdout.write(f"Key committee {committee.pk}: {len(names)} parties, key ceremony under way")
        deadline = time.monotonic() + options["wait"]
        while options["wait"] and time.monotonic() < deadline:
            committee.refresh_from_db()
            if committee.state == KeyCommittee.State.ACTIVE:
                self.stdout.write(f"Key committee {committee.pk} is active: key id {committee.key_id}")
                return
            time.sleep(1)
        if options["wait"]:
            raise CommandError(
                f"Key committee {committee.pk} is not active after {options['wait']:.0f} s: are the parties' "
                "services running (dh-keyparty serve)?"
            )
