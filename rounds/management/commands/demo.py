import logging

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from dhportal.demo import DemoError, DemoOptions, run_demo


class Command(BaseCommand):
    help = "Run complete federated rounds with several hospitals on real data, on this machine."

    def add_arguments(self, parser):
        parser.add_argument("--hospitals", type=int, default=3)
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument(
            "--data", help="a MedMNIST-format .npz (default: ../shared/datasets/pneumoniamnist.npz)"
        )
        parser.add_argument("--partition", choices=["iid", "dirichlet"], default="iid")
        parser.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration (label skew)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--port", type=int, default=0, help="portal port (default: a free one)")
        parser.add_argument("--aggregation", choices=["ckks", "plaintext"], help="default: DH_AGGREGATION")
        parser.add_argument("--local-epochs", type=int, help="override the round default")
        parser.add_argument("--json", dest="json_out", help="write a machine-readable summary here")
        parser.add_argument("--plot", dest="plot_out", help="write accuracy over rounds as a PNG here")
        parser.add_argument("--reset", action="store_true", help="erase the portal database first")
        parser.add_argument(
            "--serve", action="store_true", help="keep serving the portal and its web interface afterwards"
        )

    def handle(self, *args, **options):
        if options["hospitals"] < 1 or options["rounds"] < 1:
            raise CommandError("--hospitals and --rounds must be at least 1")
        if options["verbosity"] < 2:
            # Per-transaction and per-upload lines would drown the progress bars; -v 2 shows them.
            for name in ("contracts", "rounds", "hospitals", "crypto", "celery"):
                logging.getLogger(name).setLevel(logging.WARNING)
            logging.getLogger("kombu").setLevel(logging.ERROR)  # "no hostname": the in-memory broker has none
        if options["reset"]:
            call_command("flush", interactive=False, verbosity=0)
        config = {"local_epochs": options["local_epochs"]} if options["local_epochs"] else {}
        demo_options = DemoOptions(
            hospitals=options["hospitals"],
            rounds=options["rounds"],
            data=options["data"],
            partition=options["partition"],
            alpha=options["alpha"],
            seed=options["seed"],
            port=options["port"],
            aggregation=options["aggregation"],
            json_out=options["json_out"],
            plot_out=options["plot_out"],
            config=config,
            serve=options["serve"],
        )
        try:
            run_demo(demo_options, write=self.stdout.write)
        except DemoError as exc:
            raise CommandError(str(exc)) from None
