import json

from django.core.management.base import BaseCommand, CommandError

from ledger.selectors import audit_round
from proofs.verification import reverify_round
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
        parser.add_argument(
            "--proofs",
            action="store_true",
            help="also re-verify every proof of every submission from its published record (with every step "
            "proven: the whole run, not only the chain's sample)",
        )

    def handle(self, *args, **options):
        try:
            round_ = selectors.get_round(options["round"])
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        try:
            report = audit_round(round_)
        except DomainError as exc:
            if not options["proofs"]:
                raise CommandError(str(exc)) from None
            # The proofs re-verify from their published records alone: report them even without a chain.
            report = {"round": round_.pk, "chain_error": str(exc)}
        if options["proofs"]:
            report["proofs"] = reverify_round(round_)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._print(report)
        refused = [checked for checked in report.get("proofs", []) if not checked["verified"]]
        if refused:
            raise CommandError(
                f"round {report['round']}: the proofs of {', '.join(c['hospital'] for c in refused)} do not "
                "re-verify",
                returncode=1,
            )
        if "chain_error" in report:
            raise CommandError(f"round {report['round']}: {report['chain_error']}", returncode=1)
        if not report["consistent"]:
            raise CommandError(
                f"round {report['round']}: {len(report['differences'])} difference(s) between the database "
                "and the chain",
                returncode=1,
            )
        if not options["json"]:
            self.stdout.write("  consistent: the chain and the database agree")

    def _print(self, report: dict) -> None:
        if "chain_error" in report:
            self.stdout.write(f"Round {report['round']}: chain not audited: {report['chain_error']}")
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
        for checked in report.get("proofs", []):
            outcome = "re-verified" if checked["verified"] else f"REFUSED: {checked['reason']}"
            self.stdout.write(f"  proof [{checked['hospital']}]: {checked['proofs']} proofs {outcome}")
