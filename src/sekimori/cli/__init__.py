"""The ``sekimori`` command: the only entry point (DESIGN.md, Layout).

Each command lives in its own module; they are registered here, explicitly.
"""

from __future__ import annotations

import typer

from sekimori.cli.demo import demo
from sekimori.cli.hunt import hunt
from sekimori.cli.intel import intel_app
from sekimori.cli.mailfilter import mailfilter
from sekimori.cli.quarantine import quarantine_app
from sekimori.cli.sanitize import sanitize
from sekimori.cli.scan import scan
from sekimori.cli.serve import serve

app = typer.Typer(
    name="sekimori",
    help=(
        "Sekimori finds Emotet-style intrusions in mail, Windows event logs and network logs, "
        "and groups what it finds into one incident per infected host."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown, not rich markup: "[intel]" in a help text is a TOML table.
    rich_markup_mode="markdown",
)


@app.callback()
def _root() -> None:
    """Sekimori: one incident per infected host, from mail to the last lateral hop."""


app.command(no_args_is_help=True)(hunt)
app.command()(serve)
app.command()(demo)
app.command(no_args_is_help=True)(scan)
app.command(no_args_is_help=True)(sanitize)
app.command()(mailfilter)
app.add_typer(intel_app, name="intel")
app.add_typer(quarantine_app, name="quarantine")


def main() -> None:
    """Run the CLI (console script entry point)."""
    app()
