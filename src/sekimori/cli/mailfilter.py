"""``sekimori mailfilter``: the after-queue SMTP content filter for Postfix."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from sekimori.cli.scan import load_intel, quiet_parsers
from sekimori.detect.mail import MailDetector
from sekimori.errors import SekimoriError
from sekimori.mail.intel import apply_intel
from sekimori.mail.quarantine import Quarantine
from sekimori.mail.result import ScanResult
from sekimori.mail.sandbox import Sandbox, SandboxLimits
from sekimori.mail.smtpfilter import (
    Action,
    ContentFilter,
    FilterPolicy,
    OnError,
    smtp_reinjector,
    start,
)
from sekimori.model import TIMESTAMP

log = logging.getLogger(__name__)


def _address(value: str, option: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"{option} must be HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


def _store_sink(url: str | None) -> Any:
    from sekimori.correlate import correlate
    from sekimori.store.store import Store

    store = Store.open(url)
    detector = MailDetector()

    def sink(result: ScanResult, rcpt_tos: Sequence[str]) -> None:
        row = {"email.to.address": list(rcpt_tos), TIMESTAMP: datetime.now(UTC)}
        findings = detector.findings(result, row)
        if not findings:
            return
        store.save_findings(findings)
        first = findings[0]
        history = store.findings_for(first.tenant, first.host_name)
        store.upsert_incidents(correlate(history).incidents)

    return sink


def _checked(result: ScanResult, index: Any) -> ScanResult:
    return apply_intel(result, index) if index is not None else result


def mailfilter(
    listen: Annotated[str, typer.Option(help="Where Postfix's content_filter sends mail.")] = (
        "127.0.0.1:10025"
    ),
    reinject: Annotated[
        str, typer.Option(help="Postfix's re-injection smtpd (without content_filter).")
    ] = "127.0.0.1:10026",
    suspicious: Annotated[Action, typer.Option(help="Action for suspicious mail.")] = (
        Action.SANITIZE
    ),
    malicious: Annotated[Action, typer.Option(help="Action for malicious mail.")] = (
        Action.QUARANTINE
    ),
    unscannable: Annotated[Action, typer.Option(help="Action for unscannable mail.")] = (
        Action.SANITIZE
    ),
    on_error: Annotated[
        OnError,
        typer.Option(help="Scanner crash or timeout: deliver with a warning, or 451 tempfail."),
    ] = OnError.DELIVER,
    workers: Annotated[int, typer.Option(help="Scan worker processes.")] = SandboxLimits().workers,
    timeout: Annotated[float, typer.Option(help="Seconds allowed per message.")] = 60.0,
    db: Annotated[
        str | None,
        typer.Option(help="Store URL for findings (default: the data folder's SQLite)."),
    ] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not record findings.")] = False,
    intel: Annotated[
        list[Path] | None,
        typer.Option("--intel", help="Threat-intel feed file to check observables against."),
    ] = None,
    intel_store: Annotated[
        bool,
        typer.Option("--intel-store/--no-intel-store", help="Also use the indicator store."),
    ] = True,
) -> None:
    """Filter mail for Postfix: scan, then deliver, sanitize or quarantine by verdict."""
    quiet_parsers()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    listen_host, listen_port = _address(listen, "--listen")
    next_host, next_port = _address(reinject, "--reinject")
    policy = FilterPolicy(
        suspicious=suspicious, malicious=malicious, unscannable=unscannable, on_error=on_error
    )
    try:
        index = load_intel(intel or [], intel_store)
        sink = None if no_store else _store_sink(db)
    except SekimoriError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    sandbox = Sandbox(SandboxLimits(workers=workers, timeout=timeout))
    # Started before the first mail arrives, so that mail does not wait for the pool.
    if not sandbox.start():
        typer.echo("warning: scan workers did not start; retrying at the first mail", err=True)
    content_filter = ContentFilter(
        scanner=lambda data: _checked(sandbox.scan("smtp", "message.eml", data), index),
        reinject=smtp_reinjector(next_host, next_port),
        quarantine=Quarantine(),
        policy=policy,
        sink=sink,
    )
    controller = start(content_filter, listen_host, listen_port)
    typer.echo(f"sekimori mailfilter on {listen}, re-injecting to {reinject}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        sandbox.close()
