"""``sekimori hunt``: batch detection over files and folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def hunt(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders, any mix of formats.")],
) -> None:
    """Hunt through log files and folders for signs of an intrusion."""
    typer.echo(f"{len(paths)} path(s)")
