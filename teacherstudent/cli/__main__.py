"""``python -m teacherstudent.cli``: the same as the ``teacherstudent`` command."""

import sys

from . import main

sys.exit(main())
