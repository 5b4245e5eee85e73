"""``python -m bottlekit``: the command line."""

import sys

from bottlekit.cli import main

sys.exit(main())
