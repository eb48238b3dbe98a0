"""``sekimori serve``: the single-node console over the store."""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Annotated

import typer

from sekimori.errors import SekimoriError

if TYPE_CHECKING:
    from sekimori.store import Store

log = logging.getLogger(__name__)


def console_url(host: str, port: int) -> str:
    """The address to open in a browser (IPv6 hosts in brackets, any-address as loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_console(store: Store, host: str, port: int) -> None:
    """Print the console URL, then serve ``store`` until interrupted."""
    if not _is_loopback(host):
        typer.secho(
            f"warning: the console has no login yet and listens on {host}; "
            "anyone who can reach this address can read the incidents.",
            err=True,
            fg=typer.colors.YELLOW,
        )
    typer.echo(f"Sekimori console: {console_url(host, port)}")
    typer.echo(f"store: {store.url}")
    # The web stack is imported here, not at start-up: `sekimori hunt` never needs it.
    import uvicorn

    from sekimori.web.app import create_app

    uvicorn.run(create_app(store), host=host, port=port, log_level="info")


def serve(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="SEKIMORI_DB",
            help="Database URL: sqlite:///path/to/sekimori.db or "
            "postgresql+psycopg://user@host:5432/db. "
            "Default: sekimori.db in the data folder (SEKIMORI_HOME moves it).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on. Keep 127.0.0.1 unless behind a proxy."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Serve the web console: the incidents in the store, most severe first."""
    from sekimori.store import Store

    try:
        store = Store.open(db)
    except SekimoriError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from exc
    try:
        run_console(store, host, port)
    finally:
        store.close()
