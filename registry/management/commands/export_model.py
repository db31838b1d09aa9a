from django.core.management.base import BaseCommand, CommandError

from fl.export import export_torchscript
from registry import selectors
from registry.weights import load_weights, state_of
from web.errors import DomainError


class Command(BaseCommand):
    help = "Export a global model as TorchScript (float N x C x S x S in [0, 1] -> logits)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version names the model version; it replaces Django's --version (which prints Django's).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "--version",
            default="latest",
            help="a version number, 'latest', or 'best' (the highest validation AUC: model selection)",
        )
        parser.add_argument("--architecture", help="architecture key when the portal has several model lines")
        parser.add_argument("--out", required=True, help="output file, e.g. model.pt")

    def handle(self, *args, **options):
        try:
            model = selectors.model_for_export(options["version"], options["architecture"])
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        state = state_of(model.architecture, load_weights(model))
        path = export_torchscript(state, model.architecture.key, options["out"])
        self.stdout.write(f"Model {model.architecture.key} v{model.version} written to {path}")
