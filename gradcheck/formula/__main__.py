"""``python -m gradcheck.formula [verify] ...``: the verify command without the main CLI."""

import sys

from ._cli import main

sys.exit(main())
