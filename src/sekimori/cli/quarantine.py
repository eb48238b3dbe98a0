"""``sekimori quarantine``: list, inspect and release the originals kept in quarantine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from sekimori.errors import MailError
from sekimori.mail.quarantine import Quarantine

quarantine_app = typer.Typer(
    name="quarantine",
    help="Originals kept by `sanitize` and `mailfilter` (SEKIMORI_HOME/quarantine): "
    "list them, show their verdicts, release one to a file.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)

# C0/C1 controls (ESC, CR, BEL, …) would let a hostile subject rewrite the terminal.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Sha256Argument = Annotated[
    str, typer.Argument(help="SHA-256 of the original (as `list` shows it).", show_default=False)
]


def printable(text: object) -> str:
    """``text`` as one line, each control character shown as a visible escape (ESC as x1b)."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _fail(exc: MailError) -> typer.Exit:
    typer.echo(f"error: {printable(exc)}", err=True)
    return typer.Exit(1)


def _row(box: Quarantine, sha256: str) -> list[str]:
    try:
        record = box.info(sha256)
    except MailError as exc:
        return [sha256, "-", "unreadable", "-", "-", printable(exc.message)]
    verdict = record.get("verdict")
    doc: dict[str, Any] = verdict if isinstance(verdict, dict) else {}
    message = doc.get("message")
    fields: dict[str, Any] = message if isinstance(message, dict) else {}
    released = record.get("released")
    state = str(doc.get("verdict") or "-")
    if isinstance(released, list) and released:
        state += " (released)"
    return [
        sha256,
        str(record.get("stored_at") or "-"),
        state,
        str(doc.get("score", "-")),
        str(fields.get("from") or "-"),
        str(fields.get("subject") or "-"),
    ]


@quarantine_app.command("list")
def list_items() -> None:
    """One line per quarantined original: SHA-256, stored at, verdict, score, sender, subject."""
    box = Quarantine()
    count = 0
    for sha256 in box:
        typer.echo("\t".join(printable(cell) for cell in _row(box, sha256)))
        count += 1
    typer.echo(f"{count} in quarantine ({box.root})", err=True)


@quarantine_app.command(no_args_is_help=True)
def show(sha256: Sha256Argument) -> None:
    """The stored record of one original: size, time, release history and verdict (JSON)."""
    try:
        record = Quarantine().info(sha256.strip().lower())
    except MailError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(record, ensure_ascii=False, indent=2))


@quarantine_app.command(no_args_is_help=True)
def release(
    sha256: Sha256Argument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the original (default: <sha256>.eml here). Never overwritten.",
        ),
    ] = None,
) -> None:
    """Write a quarantined original to a file (checked against its hash) and record the release.

    Nothing is delivered: hand the file to the recipient or re-inject it yourself.
    """
    digest = sha256.strip().lower()
    box = Quarantine()
    try:
        data = box.release(digest)
    except MailError as exc:
        raise _fail(exc) from None
    target = output or Path(f"{digest}.eml")
    try:
        with target.open("xb") as fh:
            fh.write(data)
    except OSError as exc:
        typer.echo(f"error: {target}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    try:
        box.mark_released(digest, str(target))
    except (MailError, OSError) as exc:
        typer.echo(f"warning: release not recorded: {printable(exc)}", err=True)
    typer.echo(f"released {digest} ({len(data)} bytes): {target}")
