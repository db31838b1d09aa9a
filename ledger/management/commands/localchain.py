import time

from django.core.management.base import BaseCommand

from contracts.localchain import HARDHAT_CHAIN_ID, LocalChain


class Command(BaseCommand):
    help = (
        "Run a local hardhat chain until interrupted, for a portal with DH_CHAIN=local (the default) outside the "
        "demo and tests, which start their own. Its state lives in memory: a restart starts an empty chain, and "
        "the portal deploys a new registry the next time a round opens."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8545, help="the default DH_CHAIN_RPC_URL's port")

    def handle(self, *args, **options):
        with LocalChain(port=options["port"]) as chain:
            self.stdout.write(
                f"Local chain (id {HARDHAT_CHAIN_ID}) at {chain.url}: set DH_CHAIN_RPC_URL={chain.url} if that is "
                "not the portal's default. Ctrl-C stops it."
            )
            try:
                while chain.running:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        self.stdout.write("Local chain stopped.")
