import sys

from django.core.management.base import BaseCommand, CommandError

from committee import services as committee
from committee.errors import CommitteeError
from crypto import keyparty
from hospitals.models import User


class Command(BaseCommand):
    help = (
        "Key parties of the aggregation committee. `setup-local [--parties 3]`: run a dealer-free key "
        "ceremony with parties on this machine (demo, tests). `generate`, `decrypt`, `info`: what a key-party "
        "operator runs on their own machine (see `manage.py keyparty generate --help`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["setup-local", "generate", "decrypt", "info"])
        parser.add_argument("rest", nargs="*", help="arguments of the party command")
        parser.add_argument("--parties", type=int, default=3)

    def run_from_argv(self, argv):
        # Party commands take their own options: hand them to crypto.keyparty unparsed.
        if len(argv) > 2 and argv[2] in ("generate", "decrypt", "info"):
            sys.exit(keyparty.main(argv[2:]))
        super().run_from_argv(argv)

    def handle(self, *args, **options):
        coordinator = User.objects.filter(role=User.Role.COORDINATOR).order_by("id").first()
        if coordinator is None:
            raise CommandError(
                "Create the coordinator account first (manage.py createcoordinator or the demo)"
            )
        try:
            created = committee.setup_local_committee(coordinator, options["parties"])
        except CommitteeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Key committee {created.pk}: {len(created.parties)} parties, key id {created.key_id}"
        )
