"""``sekimori demo``: write the demo day, hunt it, store the incidents, serve the console."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sekimori.cli.console import table_console
from sekimori.cli.serve import console_url, run_console
from sekimori.errors import SekimoriError
from sekimori.model import Incident

if TYPE_CHECKING:
    from sekimori.demo.generate import DemoManifest
    from sekimori.pipeline import HuntResult
    from sekimori.store import Store

log = logging.getLogger(__name__)

DEMO_RUN = "demo"


def _fail(exc: SekimoriError) -> typer.Exit:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def hunt_demo(manifest: DemoManifest, tenant: str = "default") -> HuntResult:
    """Run the hunt over the demo's inputs with its feeds and site file."""
    from sekimori.pipeline import HuntOptions, run_hunt

    options = HuntOptions(
        intel_files=list(manifest.intel_files),
        config_file=manifest.config_file,
        tenant=tenant,
    )
    return run_hunt(list(manifest.inputs), options)


def store_result(store: Store, result: HuntResult, tenant: str = "default") -> None:
    """Save the hunt's findings, incidents and per-file reports."""
    store.save_findings(result.findings)
    store.upsert_incidents(result.incidents)
    for report in result.reports:
        store.record_file(report, run_id=DEMO_RUN, tenant=tenant)


def summary_table(incidents: list[Incident]) -> Table:
    """Incidents by host, most severe first: severity, score, findings, kill-chain stages."""
    table = Table(title="Incidents by host")
    for column in ("host", "severity", "score", "findings", "kill chain"):
        table.add_column(column, overflow="fold")
    ordered = sorted(incidents, key=lambda i: (-i.severity.rank, -i.score, i.host_name))
    for inc in ordered:
        table.add_row(
            inc.host_name.split(".", 1)[0],
            inc.severity.value,
            f"{inc.score:.1f}",
            str(inc.finding_count),
            ", ".join(s.value.replace("_", " ") for s in inc.stages),
        )
    return table


def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the demo data. Default: 'demo' in the data folder "
            "(SEKIMORI_HOME moves it).",
            show_default=False,
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Only write the demo data into this folder (no hunt, no store, no console).",
            show_default=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="SEKIMORI_DB",
            help="Database URL (sqlite:///… or postgresql+psycopg://…). "
            "Default: sekimori.db in the data folder.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address the console listens on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after loading the store; do not serve.")
    ] = False,
) -> None:
    """Play the demo: a 30-host office's day in which one user opens an Emotet-style mail.

    Writes the day's mail, Windows events and Zeek logs (all inert), hunts them,
    keeps the incidents in the store and opens the console.
    """
    console = table_console()
    from sekimori.store.location import data_dir

    target = export or out or data_dir() / "demo"
    try:
        # The generator and the store load only when the demo runs.
        from sekimori.demo.generate import write_demo_data

        manifest = write_demo_data(target)
    except SekimoriError as exc:
        raise _fail(exc) from exc
    except OSError as exc:
        raise _fail(SekimoriError(exc.strerror or str(exc), where=str(target))) from exc
    console.print(
        f"demo data: {manifest.root} ({len(manifest.files)} files, "
        f"{manifest.size / 1_000_000:.1f} MB; the story is in {manifest.readme.name})"
    )
    if export is not None:
        return
    console.print("hunting mail, Windows events and Zeek logs …")
    result = hunt_demo(manifest)
    unreadable = [r for r in result.reports if r.error]
    for report in unreadable:
        typer.secho(f"warning: {report.path}: {report.error}", err=True, fg=typer.colors.YELLOW)
    try:
        from sekimori.store import Store

        store = Store.open(db)
    except SekimoriError as exc:
        raise _fail(exc) from exc
    try:
        try:
            store_result(store, result)
        except SekimoriError as exc:
            raise _fail(exc) from exc
        console.print(
            f"{result.events:,} events, {len(result.findings)} findings, "
            f"{len(result.incidents)} incidents → {store.url}"
        )
        if result.incidents:
            console.print(summary_table(result.incidents))
        console.print(
            "infected in the story: "
            + ", ".join(manifest.infected_hosts)
            + f" (timeline in {manifest.readme})"
        )
        if no_serve:
            serve_cmd = "sekimori serve" + (f" --db {db}" if db else "")
            console.print(f"console: run `{serve_cmd}` and open {console_url(host, port)}")
            return
        run_console(store, host, port)
    finally:
        store.close()
