"""`python -m demo --help`: the demo (demo/launcher.py says how it fixes its configuration before Django)."""

import sys

from demo.launcher import main

sys.exit(main())
