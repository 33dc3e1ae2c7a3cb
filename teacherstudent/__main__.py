"""``python -m teacherstudent``: the same as the ``teacherstudent`` command."""

import sys

from .cli import main

sys.exit(main())
