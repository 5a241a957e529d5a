"""`python -m mehr_app`: the same command as the `mehr` console script."""

import sys

from mehr_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
