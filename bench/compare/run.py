"""Compare chinook_svc's throughput with the REST layers a user would pick instead.

Usage (from the project's virtual environment)::

    .venv/bin/python bench/compare/run.py [--duration 10] [--connections 32] [--runs 5]
        [--only fastapi,restless017] [--endpoints E1,E2] [--db PATH] [--workers 2]
        [--rss-minutes 5] [--no-cache] [--cache-option ARG] [--reinstall] [--install-only]

See ``bench/compare/README.md``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchcmp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
