"""The bundle's entry point: the same `main` as `python -m app` (window, subcommands, --self-test)."""

import sys

from app.cli import main

sys.exit(main())
