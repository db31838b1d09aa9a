"""A hospital's node (`python -m node`) with one fault-injection point, for the reliability tests only.

    python -m tests.reliability.fault_node <dh-node arguments>

With DH_TEST_PAUSE=upload:<slug>, the node stops after training, before it uploads its update: it creates
<point>.reached in DH_TEST_PAUSE_DIR and waits there until <point>.release appears (or the test kills it).
"""

from __future__ import annotations

import os
import sys

from node.cli import main
from node.client import PortalClient
from tests.reliability.fault_worker import pause


def install(point: str) -> None:
    upload = PortalClient.upload

    def pausing_upload(self, *args, **kwargs):
        pause(point)
        return upload(self, *args, **kwargs)

    PortalClient.upload = pausing_upload


if __name__ == "__main__":
    if os.environ.get("DH_TEST_PAUSE"):
        install(os.environ["DH_TEST_PAUSE"])
    sys.exit(main())
