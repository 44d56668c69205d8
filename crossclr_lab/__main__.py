"""``python -m crossclr_lab`` = the ``crossclr-lab`` command."""

import sys

from crossclr_lab.cli import main

if __name__ == "__main__":      # importing the module (the site's API reference does) runs nothing
    sys.exit(main())
