import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from demo.options import add_arguments

REPO_ROOT = Path(__file__).resolve().parents[3]


class Command(BaseCommand):
    """`manage.py demo` is `python -m demo`: the demo fixes its configuration before Django reads its settings
    (demo/launcher.py), which has already happened here, so this command hands over to it at once."""

    help = "Run complete federated rounds with several hospitals on real data, on this machine."

    def add_arguments(self, parser):
        add_arguments(parser)  # for `manage.py help demo`; python -m demo parses them

    def run_from_argv(self, argv):
        path = os.environ.get("PYTHONPATH")
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), path]))}
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", "demo", *argv[2:]], environment)

    def handle(self, *args, **options):
        raise CommandError(
            "the demo sets its configuration before Django starts: run `python manage.py demo ...` from a shell, "
            "or demo.launcher.main([...]) in a process that has not set Django up"
        )
