"""``python -m simulator``: the command-line interface."""

import sys

from simulator.cli import main

sys.exit(main())
