"""The `roadmap` command line, one module per command group. Exit codes: 0 done, 1 refused or bad input
(nothing written), 2 usage error, 3 import done but some rows rejected."""

from roadmap.cli.common import app
from roadmap.cli.entry import french_usage_message, main

__all__ = ["app", "french_usage_message", "main"]
