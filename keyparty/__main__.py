"""`python -m keyparty ...` is `dh-keyparty ...`."""

import sys

from keyparty.cli import main

sys.exit(main())
