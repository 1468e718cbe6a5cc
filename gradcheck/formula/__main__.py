"""``python -m gradcheck.formula [verify] ...``: ``gradcheck verify ...``, with the main CLI's error handling."""

import sys

from ..cli import main

argv = sys.argv[1:]
sys.exit(main(argv if argv[:1] == ["verify"] else ["verify", *argv]))
