import json

from django.core.management.base import BaseCommand, CommandError

from ledger.selectors import audit_round
from rounds import selectors
from web.errors import DomainError


class Command(BaseCommand):
    help = (
        "Compare a round's record on chain with the portal's database and list every difference "
        "(exit status 1 when there is any)."
    )

    def add_arguments(self, parser):
        parser.add_argument("round", type=int, help="the round's id")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        try:
            report = audit_round(selectors.get_round(options["round"]))
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(
                f"Round {report['round']}: database {report['state']['database']}, chain {report['state']['chain']}"
                f" (contract {report['contract'] or '-'} on chain {report['chain_id'] or '-'})"
            )
            for difference in report["differences"]:
                where = f" [{difference['hospital']}]" if "hospital" in difference else ""
                self.stdout.write(
                    f"  {difference['field']}{where}: database {difference['database']}, "
                    f"chain {difference['chain']}"
                )
        if not report["consistent"]:
            raise CommandError(
                f"round {report['round']}: {len(report['differences'])} difference(s) between the database "
                "and the chain",
                returncode=1,
            )
        if not options["json"]:
            self.stdout.write("  consistent: the chain and the database agree")
