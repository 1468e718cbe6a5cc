"""``python -m gradcheck ...`` is the ``gradcheck`` command."""

import sys

from .cli import main

sys.exit(main())
