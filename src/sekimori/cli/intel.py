"""``sekimori intel``: threat-intel feeds, the indicator store, and blocklist export."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sekimori.config import SiteConfig, load_site
from sekimori.errors import SekimoriError
from sekimori.intel.export import FORMATS, build_blocklist, render
from sekimori.intel.feeds import read_feed
from sekimori.intel.indicator import Indicator
from sekimori.model import iso

if TYPE_CHECKING:
    from sekimori.intel.store import IntelStore

intel_app = typer.Typer(
    name="intel",
    help="Threat-intel feeds (Feodo, URLhaus, ThreatFox, MISP, STIX 2.1, plain lists), "
    "the indicator store, and blocklists for firewalls, IPS and resolvers.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)

StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Indicator database (default: intel.sqlite in the data folder)."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Site file (TOML): feeds, allow-list, internal ranges."),
]


def _fail(exc: SekimoriError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _site(config: Path | None) -> SiteConfig:
    try:
        return load_site(config)
    except SekimoriError as exc:
        raise _fail(exc) from exc


def _store(path: Path | None) -> IntelStore:
    # Imported here: SQLAlchemy is not needed by the other commands.
    from sekimori.intel.store import IntelStore

    try:
        return IntelStore(path)
    except SekimoriError as exc:
        raise _fail(exc) from exc


def _describe(indicator: Indicator) -> dict[str, object]:
    return {
        "type": indicator.type,
        "value": indicator.value,
        "source": indicator.source,
        "malware": indicator.malware,
        "threat": indicator.threat,
        "confidence": indicator.confidence,
        "first_seen": iso(indicator.first_seen) if indicator.first_seen else None,
        "last_seen": iso(indicator.last_seen) if indicator.last_seen else None,
        "expires": iso(indicator.expires) if indicator.expires else None,
    }


def _load(
    store: IntelStore,
    location: str,
    name: str | None,
    fmt: str | None,
    ttl_days: float,
    now: datetime,
) -> bool:
    try:
        result = read_feed(
            location, name=name, format_name=fmt, ttl=timedelta(days=ttl_days), now=now
        )
        written = store.upsert(result.indicators, now)
    except SekimoriError as exc:
        typer.echo(f"error: {exc}", err=True)
        return False
    report = result.report
    typer.echo(f"{report.source}: {written} indicators ({report.format}), {report.skipped} skipped")
    for problem in report.problems[:5]:
        typer.echo(f"  skipped {problem}", err=True)
    return True


@intel_app.command("update")
def update(config: ConfigOption = None, store: StoreOption = None) -> None:
    """Read every feed listed in the site file ([[intel.feeds]]: files or URLs) into the store."""
    site = _site(config)
    if not site.intel.feeds:
        typer.echo("no feeds configured: add [[intel.feeds]] entries to the site file", err=True)
        raise typer.Exit(1)
    now = datetime.now(UTC)
    db = _store(store)
    ok = True
    for feed in site.intel.feeds:
        ttl = feed.ttl_days if feed.ttl_days is not None else site.intel.default_ttl_days
        ok &= _load(db, feed.location, feed.name, feed.format, ttl, now)
    db.close()
    if not ok:
        raise typer.Exit(1)


@intel_app.command("import")
def import_feeds(
    files: Annotated[list[Path], typer.Argument(help="Feed files or MISP feed folders.")],
    name: Annotated[str | None, typer.Option(help="Feed name (default: the file name).")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Feed format (default: recognized by content).")
    ] = None,
    ttl_days: Annotated[float, typer.Option(help="Days an indicator lives after import.")] = 30.0,
    store: StoreOption = None,
) -> None:
    """Read feed files into the store (format recognized by content)."""
    now = datetime.now(UTC)
    db = _store(store)
    ok = all([_load(db, str(path), name, fmt, ttl_days, now) for path in files])
    db.close()
    if not ok:
        raise typer.Exit(1)


@intel_app.command("list")
def list_indicators(
    source: Annotated[str | None, typer.Option(help="Only this feed.")] = None,
    values: Annotated[bool, typer.Option("--values", help="Print every indicator.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    store: StoreOption = None,
) -> None:
    """Indicators held, per feed and type (with --values: each one)."""
    now = datetime.now(UTC)
    db = _store(store)
    try:
        if values or as_json:
            for indicator in db.active(now, source):
                if as_json:
                    typer.echo(json.dumps(_describe(indicator), ensure_ascii=False))
                else:
                    family = f"  {indicator.malware}" if indicator.malware else ""
                    typer.echo(
                        f"{indicator.type:6} {indicator.value}  [{indicator.source}]{family}"
                    )
            return
        rows = [r for r in db.counts(now) if source is None or r[0] == source]
        if not rows:
            typer.echo("no indicators: use `sekimori intel import FILE` or `sekimori intel update`")
            return
        typer.echo(f"{'feed':24} {'type':6} {'active':>8} {'expired':>8}")
        for feed, kind, active, expired in rows:
            typer.echo(f"{feed:24} {kind:6} {active:8} {expired:8}")
    except SekimoriError as exc:
        raise _fail(exc) from exc
    finally:
        db.close()


@intel_app.command("search")
def search(
    value: Annotated[str, typer.Argument(help="IP, domain, URL, hash, or part of one.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    store: StoreOption = None,
) -> None:
    """Which held indicators match VALUE (CIDRs contain IPs, domains cover subdomains)."""
    db = _store(store)
    try:
        found = db.search(value, datetime.now(UTC))
    except SekimoriError as exc:
        raise _fail(exc) from exc
    finally:
        db.close()
    if not found:
        typer.echo(f"{value}: not in any feed")
        raise typer.Exit(1)
    for indicator in found:
        if as_json:
            typer.echo(json.dumps(_describe(indicator), ensure_ascii=False))
        else:
            details = ", ".join(
                str(x) for x in (indicator.malware, indicator.threat, indicator.source) if x
            )
            expires = f", expires {iso(indicator.expires)}" if indicator.expires else ""
            typer.echo(f"{indicator.type:6} {indicator.value}  ({details}{expires})")


@intel_app.command("purge")
def purge(store: StoreOption = None) -> None:
    """Delete expired indicators from the store."""
    db = _store(store)
    try:
        removed = db.purge(datetime.now(UTC))
    except SekimoriError as exc:
        raise _fail(exc) from exc
    finally:
        db.close()
    typer.echo(f"{removed} expired indicators removed")


@intel_app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")],
    kind: Annotated[
        str | None, typer.Option("--type", help="ip, domain or url (paloalto-edl, plain).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    feeds: Annotated[
        list[Path] | None,
        typer.Option("--from", help="Export these feed files instead of the store."),
    ] = None,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """A blocklist for a firewall, IPS, proxy or resolver; the site's own addresses never appear."""
    if fmt not in FORMATS:
        typer.echo(f"error: unknown format {fmt!r} (known: {', '.join(FORMATS)})", err=True)
        raise typer.Exit(2)
    if kind is not None and kind not in ("ip", "domain", "url"):
        typer.echo("error: --type is ip, domain or url", err=True)
        raise typer.Exit(2)
    site = _site(config)
    now = datetime.now(UTC)
    try:
        if feeds:
            indicators = [i for path in feeds for i in read_feed(path).indicators]
        else:
            db = _store(store)
            indicators = db.active(now)
            db.close()
        blocklist = build_blocklist(indicators, site, now)
        text = render(blocklist, fmt, now, kind)
    except SekimoriError as exc:
        raise _fail(exc) from exc
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(
            f"{output}: {blocklist.size} entries ({len(blocklist.dropped)} never blocked)", err=True
        )
