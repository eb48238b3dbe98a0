"""``sekimori hunt``: batch detection over files and folders."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from sekimori.cli.console import table_console
from sekimori.detect.sigma.launch import start_worker
from sekimori.errors import SekimoriError
from sekimori.model import (
    DEFAULT_BATCH_SIZE,
    JSON_LINE,
    Finding,
    Incident,
    Severity,
    iso,
    json_line,
)

if TYPE_CHECKING:
    from sekimori.detect.worker import WorkerRun
    from sekimori.pipeline import HuntOptions, HuntResult

# Below this many bytes a run is quick enough that a progress bar only flickers.
PROGRESS_MIN_BYTES = 20_000_000
REJECTED = "sigma rule not loaded: "
# Evidence keys that best say what happened, in order of preference.
DETAIL_KEYS = (
    "CommandLine",
    "process.command_line",
    "ScriptBlockText",
    # A service install (System 7045, Security 4697) is told by what it runs.
    "ImagePath",
    "ServiceFileName",
    "TargetObject",
    "TargetFilename",
    "ImageLoaded",
    "Image",
    "reason",
    "summary",
)
SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFORMATIONAL: "dim",
}


def _severity(value: str) -> Severity:
    if value.lower() not in {s.value for s in Severity}:
        raise typer.BadParameter(f"one of {', '.join(s.value for s in Severity)}")
    return Severity(value.lower())


def hunt(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files or folders to read, any mix of formats: EVTX, evtx JSON, "
            "Winlogbeat NDJSON, Zeek (TSV or JSON), Suricata EVE, .eml.",
            show_default=False,
        ),
    ],
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules",
            "-r",
            help="Folder or file of Sigma rules, added to the bundled Emotet pack. Repeatable.",
        ),
    ] = None,
    no_default_rules: Annotated[
        bool, typer.Option("--no-default-rules", help="Leave the bundled rule pack out.")
    ] = False,
    intel: Annotated[
        list[Path] | None,
        typer.Option(
            "--intel",
            "-i",
            help="Threat-intel feed file (Feodo, URLhaus, ThreatFox, MISP, STIX 2.1, "
            "plain list). Repeatable.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Site file (TOML): internal ranges, mail servers…"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One finding per line as JSON on stdout.")
    ] = False,
    incidents: Annotated[
        bool,
        typer.Option("--incidents", help="With --json: one incident per line instead."),
    ] = False,
    min_severity: Annotated[
        str,
        typer.Option(
            "--min-severity",
            "-s",
            help="Show only findings at or above: informational, low, medium, high, critical.",
        ),
    ] = "informational",
    tenant: Annotated[str, typer.Option(help="Tenant (company) the events belong to.")] = "default",
    batch_size: Annotated[
        int,
        typer.Option(
            min=1000,
            help="Events per batch: memory grows with it, per-batch work shrinks with it.",
        ),
    ] = DEFAULT_BATCH_SIZE,
    parallel: Annotated[
        bool | None,
        typer.Option(
            "--parallel/--no-parallel",
            help="Run the Sigma engine in a second process while the files are read "
            "(default: on two CPUs or more, for inputs over 16 MB with 100 rule files or "
            "more in the --rules folders).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(help="Rows of the findings table (all of them go to --json).")
    ] = 200,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every rule that could not be loaded.")
    ] = False,
) -> None:
    """Hunt through log files and folders for an Emotet-style intrusion.

    Reads every file, recognizes its format by content, runs the Sigma rules,
    threat-intel matching and network detectors, and groups what it finds into
    one incident per host. Files that cannot be read are listed with the reason;
    the others are still processed.

    For example:

        sekimori hunt logs/
        sekimori hunt Security.evtx zeek/ --intel feodo.csv --config site.toml --json
    """
    floor = _severity(min_severity)
    # The Sigma worker (when the hunt wants one) starts before this process
    # imports the pipeline: each takes about as long to be ready.
    worker = start_worker(paths, rules or [], not no_default_rules, parallel, batch_size)
    # Imported here: the pipeline (polars, pySigma) is not needed by other commands.
    from sekimori.pipeline import HuntOptions

    options = HuntOptions(
        rule_dirs=list(rules or []),
        use_default_rules=not no_default_rules,
        intel_files=list(intel or []),
        config_file=config,
        tenant=tenant,
        batch_size=batch_size,
        parallel=parallel,
        json_lines=as_json and not incidents,
    )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = _run(paths, options, err, worker)
    except SekimoriError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(2) from exc
    finally:
        if worker is not None:  # the hunt closed it, unless it never got that far
            worker.close()

    try:
        if as_json:
            write = sys.stdout.write
            if incidents:
                for incident in result.incidents:
                    if incident.severity.rank >= floor.rank:
                        write(JSON_LINE.encode(incident.to_json()) + "\n")
            else:
                for line in _finding_lines(result, floor):
                    write(line + "\n")
        else:
            out = table_console()
            _print_findings(out, result, floor, limit)
            _print_incidents(out, [i for i in result.incidents if i.severity.rank >= floor.rank])
    except SekimoriError as exc:  # the findings log could not be read back
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(2) from exc
    _print_summary(err, result, verbose)
    if result.reports and all(r.error for r in result.reports):
        raise typer.Exit(1)


def _run(
    paths: list[Path], options: HuntOptions, err: Console, worker: WorkerRun | None
) -> HuntResult:
    from sekimori.pipeline import run_hunt, total_size

    # The inputs are walked for their size only when a bar can be shown.
    total = total_size(paths) if err.is_terminal else 0
    if total < PROGRESS_MIN_BYTES:
        return run_hunt(paths, options, worker=worker)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("hunting"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("hunt", total=total)
        return run_hunt(paths, options, progress=lambda n: bar.advance(task, n), worker=worker)


def _finding_lines(result: HuntResult, floor: Severity) -> Iterator[str]:
    """The findings at or above ``floor`` as JSON lines of their contract form, with their incident.

    The lines were made as the findings came (``HuntOptions.json_lines``); a
    finding's incident goes in as the document's last key, as
    ``doc["incident"] = {"id": …}`` would put it.
    """
    # The ones below the floor are left on disk, not read back.
    incident_of = result.incident_of
    for finding_id, line in result.findings.lines(json_line, "severity >= ?", floor.rank):
        incident = incident_of.get(finding_id)
        if incident:
            line = f'{line[:-1]}, "incident": {JSON_LINE.encode({"id": incident})}}}'
        yield line


def _detail(finding: Finding) -> str:
    """The most telling piece of evidence, for the table."""
    evidence = finding.evidence
    fields = evidence.get("fields")
    matched = fields if isinstance(fields, dict) else evidence
    context = evidence.get("context")
    around = context if isinstance(context, dict) else {}
    for key in DETAIL_KEYS:
        value = matched.get(key) or around.get(key) or evidence.get(key)
        if value:
            return str(value)
    if finding.observables:
        return ", ".join(o.value for o in finding.observables[:3])
    pairs = [(k, v) for k, v in matched.items() if not isinstance(v, dict | list)][:3]
    return " ".join(f"{k}={v}" for k, v in pairs)


def _print_findings(out: Console, result: HuntResult, floor: Severity, limit: int) -> None:
    findings: list[Finding] = []
    total = 0
    for f in result.findings:
        if f.severity.rank >= floor.rank:
            total += 1
            if len(findings) < limit:
                findings.append(f)
    if not total:
        out.print("No findings.")
        return
    from rich.table import Table

    table = Table(title=f"Findings ({total})", title_justify="left", expand=False)
    for column in ("time (UTC)", "host", "severity", "rule", "detail"):
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(
            iso(f.timestamp)[:19].replace("T", " "),
            f.host_name,
            f"[{SEVERITY_STYLE[f.severity]}]{f.severity.value}[/]",
            f.rule_name,
            _detail(f)[:160],
        )
    out.print(table)
    if total > limit:
        out.print(f"… {total - limit} more findings; use --json or --limit to see them.")


def _print_incidents(out: Console, incidents: list[Incident]) -> None:
    if not incidents:
        return
    from rich.table import Table

    table = Table(title=f"Incidents ({len(incidents)})", title_justify="left")
    for column in ("host", "severity", "score", "findings", "first → last seen", "summary"):
        table.add_column(column, overflow="fold")
    for i in incidents:
        table.add_row(
            i.host_name,
            f"[{SEVERITY_STYLE[i.severity]}]{i.severity.value}[/]",
            f"{i.score:.1f}",
            str(i.finding_count),
            _span(i.first_seen, i.last_seen),
            i.summary,
        )
    out.print(table)


def _span(first: datetime, last: datetime) -> str:
    """First and last time, with the date unless both fall on the same day (UTC)."""
    a, b = iso(first)[:19].replace("T", " "), iso(last)[:19].replace("T", " ")
    if a[:10] == b[:10]:
        return f"{a} → {b[11:]}"
    return f"{a} → {b}"


def _print_notes(err: Console, notes: list[str], verbose: bool) -> None:
    """Every note with --verbose; otherwise rejected rules are counted per reason."""
    rejected: dict[str, list[str]] = {}
    for note in notes:
        if note.startswith(REJECTED) and not verbose:
            what, _, why = note.removeprefix(REJECTED).partition(": ")
            reason = re.sub(r"'[^']*'", "'…'", why.split(":", 1)[0])[:80]
            rejected.setdefault(reason, []).append(what)
        else:
            err.print(f"note: {note}", markup=False)
    for why, rules in sorted(rejected.items(), key=lambda kv: -len(kv[1])):
        err.print(
            f"note: {len(rules)} sigma rule(s) not loaded: {why} (e.g. {rules[0]}); "
            "--verbose lists them",
            markup=False,
        )


def _print_summary(err: Console, result: HuntResult, verbose: bool = False) -> None:
    for report in result.reports:
        if report.error:
            err.print(f"error: {report.path}: {report.error}", markup=False)
        elif report.skipped:
            first = report.problems[0] if report.problems else ""
            err.print(
                f"warning: {report.path}: skipped {report.skipped} malformed record(s); "
                f"first: {first}",
                markup=False,
            )
    _print_notes(err, result.notes, verbose)
    passed = [r.path for r in result.reports if r.passed_over]
    if passed:
        err.print(
            f"note: passed over {len(passed)} file(s) of no known format in the folders "
            f"(e.g. {passed[0]})",
            markup=False,
        )
    read = sum(1 for r in result.reports if not r.error and not r.passed_over)
    err.print(
        f"{read} file(s), {result.events} event(s) read; {len(result.findings)} finding(s), "
        f"{len(result.incidents)} incident(s).",
        markup=False,
    )
