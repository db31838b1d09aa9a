"""`python -m node ...` is `dh-node ...`."""

import sys

from node.cli import main

sys.exit(main())
