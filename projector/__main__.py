"""``python -m projector``: run the worker (settings from the environment)."""

from __future__ import annotations

import sys

from projector.cli import main

if __name__ == "__main__":
    sys.exit(main())
