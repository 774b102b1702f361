"""Entry point of ``python -m devstack``."""

from devstack.cli import main

raise SystemExit(main())
