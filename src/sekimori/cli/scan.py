"""``sekimori scan``: verdicts on messages and documents, with their reasons."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sekimori.errors import SekimoriError
from sekimori.mail.result import ScanResult, Verdict
from sekimori.mail.sandbox import Sandbox, SandboxLimits

if TYPE_CHECKING:
    from rich.console import Console

VERDICT_STYLE = {
    Verdict.MALICIOUS: "bold red",
    Verdict.UNSCANNABLE: "magenta",
    Verdict.SUSPICIOUS: "yellow",
    Verdict.CLEAN: "green",
}


def quiet_parsers() -> None:
    """Keep the parsing libraries' own warnings about hostile files off the terminal."""
    for name in ("olevba", "oletools", "olefile", "msodde", "rtfobj", "pikepdf", "py7zr"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _results(
    paths: list[Path], sandbox: Sandbox | None, options: dict[str, Any]
) -> Iterator[ScanResult]:
    from sekimori.mail.targets import iter_targets

    targets = iter_targets(paths)
    if sandbox is None:
        from sekimori.mail.scan import scan_target

        for label, name, content in targets:
            yield scan_target(label, name, content, **options)
        return
    yield from sandbox.scan_many(targets, **options)


def load_intel(paths: list[Path], use_store: bool = True) -> Any:
    """An ``IntelIndex`` of the feed files and the indicator store; None when both are empty.

    The store (``sekimori intel update``) is read only when it exists already.
    """
    from sekimori.home import intel_store_path

    read_store = use_store and intel_store_path().exists()
    # Without feeds or a store, nothing is imported: polars and SQLAlchemy cost 0.3 s.
    if not paths and not read_store:
        return None
    from sekimori.intel.feeds import read_feed
    from sekimori.intel.matcher import IntelIndex
    from sekimori.intel.store import IntelStore

    indicators = [i for path in paths for i in read_feed(path).indicators]
    if read_store:
        store = IntelStore()
        try:
            indicators.extend(store.active(datetime.now(UTC)))
        finally:
            store.close()
    return IntelIndex.build(indicators) if indicators else None


def _table(console: Console, results: list[ScanResult]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="sekimori scan", show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("verdict")
    table.add_column("score", justify="right")
    table.add_column("reasons", overflow="fold")
    table.add_column("files", justify="right")
    for result in results:
        reasons = ", ".join(dict.fromkeys(r.id for r in result.reasons)) or "-"
        files = sum(len(node.walk()) for node in result.attachments)
        style = VERDICT_STYLE[result.verdict]
        table.add_row(
            escape(result.file),
            f"[{style}]{result.verdict.value}[/]",
            str(result.score),
            escape(reasons),
            str(files),
        )
    console.print(table)
    counts = {v: sum(1 for r in results if r.verdict == v) for v in Verdict}
    summary = ", ".join(f"{n} {v.value}" for v, n in counts.items() if n)
    console.print(f"{len(results)} scanned: {summary or 'nothing'}")


def scan(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Messages (.eml, mbox, Maildir, .msg) or documents, files or folders.",
            show_default=False,
        ),
    ],
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per message or document per line.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="Worker processes with memory/CPU limits; 0 scans in this process.",
        ),
    ] = SandboxLimits().workers,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds allowed per message or document.")
    ] = SandboxLimits().timeout,
    intel: Annotated[
        list[Path] | None,
        typer.Option(
            "--intel",
            help="Threat-intel feed file (abuse.ch, MISP, STIX, plain list) to check "
            "observables against. Repeatable.",
        ),
    ] = None,
    intel_store: Annotated[
        bool,
        typer.Option(
            "--intel-store/--no-intel-store",
            help="Also check observables against the indicator store (sekimori intel update).",
        ),
    ] = True,
    internal_domain: Annotated[
        list[str] | None,
        typer.Option(
            "--internal-domain",
            help="Your organization's mail domain (for impersonation checks). Repeatable.",
        ),
    ] = None,
) -> None:
    """Scan mail and documents for Emotet-style threats: a verdict and its reasons for each."""
    sandbox = Sandbox(SandboxLimits(timeout=timeout, workers=workers)) if workers > 0 else None
    if sandbox is not None:
        # First: the workers import the parsers while this process imports the
        # scan and loads the intel.
        sandbox.warm()
    from sekimori.cli.console import table_console
    from sekimori.mail.intel import apply_intel

    quiet_parsers()
    options: dict[str, Any] = {"internal_domains": tuple(internal_domain or ())}
    console = table_console()
    collected: list[ScanResult] = []
    try:
        index = load_intel(intel or [], intel_store)
        for result in _results(paths, sandbox, options):
            if index is not None:
                apply_intel(result, index)
            if json_lines:
                sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
            else:
                collected.append(result)
    except SekimoriError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        if sandbox is not None:
            sandbox.close()
    if not json_lines:
        _table(console, collected)
