"""The terminal the commands print their tables to."""

from __future__ import annotations

import sys

from rich.console import Console

# Piped into a file or a pager, rich would wrap tables at 80 columns.
PIPED_WIDTH = 200


def table_console() -> Console:
    """Standard output for tables: the terminal's width, or room to breathe when piped."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)
