"""``python -m crossclr_lab`` = the ``crossclr-lab`` command."""

import sys

from crossclr_lab.cli import main

sys.exit(main())
