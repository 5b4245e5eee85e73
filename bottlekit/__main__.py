"""``python -m bottlekit``: the command line (:mod:`bottlekit.app.cli`)."""

import sys

from bottlekit.app.cli import main

sys.exit(main())
