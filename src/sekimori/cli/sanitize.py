"""``sekimori sanitize``: a disarmed copy of a message, the original kept in quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sekimori.cli.scan import quiet_parsers
from sekimori.errors import SekimoriError
from sekimori.mail.quarantine import Quarantine
from sekimori.mail.sanitize import sanitize_message
from sekimori.mail.scan import scan_bytes


def sanitize(
    source: Annotated[
        Path, typer.Argument(help="The message to disarm (.eml).", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Where to write the disarmed .eml.", show_default=False
        ),
    ],
    quarantine: Annotated[
        bool,
        typer.Option(
            "--quarantine/--no-quarantine",
            help="Keep the original and its verdict in the quarantine (SEKIMORI_HOME).",
        ),
    ] = True,
) -> None:
    """Remove macros, active PDF content and dangerous files from a message; defang its links."""
    quiet_parsers()
    try:
        raw = source.read_bytes()
    except OSError as exc:
        typer.echo(f"error: {source}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    result = scan_bytes(raw, source.name, file=str(source))
    try:
        disarmed = sanitize_message(raw, result)
    except (SekimoriError, ValueError, LookupError, UnicodeError) as exc:
        typer.echo(f"error: {source}: the message cannot be rebuilt: {exc}", err=True)
        raise typer.Exit(1) from None
    if quarantine:
        sha = Quarantine().store(raw, result.to_json())
        typer.echo(f"original quarantined: {sha}")
    output.write_bytes(disarmed.data)
    typer.echo(f"{result.verdict.value} (score {result.score}): {output}")
    for removal in disarmed.removals:
        typer.echo(f"  removed: {removal}")
