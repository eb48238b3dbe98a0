"""The hunt: files → sources → detectors → correlation (DESIGN.md, Flow).

``run_hunt`` is the batch runner behind ``sekimori hunt`` and ``sekimori
demo``; ``serve`` and the distributed worker run the same detectors on the
batches they receive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sekimori.batchjoin import BatchJoiner
from sekimori.config import SiteConfig, load_site
from sekimori.correlate import FIRST_STAGES, correlate, raise_loaders
from sekimori.detect.base import Detector
from sekimori.detect.ioc import match_observables
from sekimori.detect.mail import MailDetector
from sekimori.detect.network import detectors_for_index, load_index
from sekimori.detect.runner import DetectorRun, Run, run_all
from sekimori.detect.sigma.launch import sigma_recipe, start_worker
from sekimori.detect.worker import WorkerRun
from sekimori.errors import SourceError
from sekimori.findinglog import FindingLog
from sekimori.gcpause import fewer_collections
from sekimori.hosts import HostDirectory
from sekimori.intel.matcher import IntelIndex
from sekimori.model import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_TENANT,
    Incident,
    Severity,
    json_line,
    shown_path,
)
from sekimori.sources import UNRECOGNIZED, ReadContext, ReadReport, iter_files, read_file

Progress = Callable[[int], None]
# Findings whose observables were decoded rather than seen on the wire.
OBSERVABLE_DATASETS = frozenset({"windows", "email"})
INTEL = "sekimori-intel"


@dataclass(frozen=True, slots=True)
class HuntOptions:
    """What a hunt runs with: rules, intel, site configuration, tenant."""

    rule_dirs: list[Path] = field(default_factory=list)
    use_default_rules: bool = True
    intel_files: list[Path] = field(default_factory=list)
    config_file: Path | None = None
    tenant: str = DEFAULT_TENANT
    batch_size: int = DEFAULT_BATCH_SIZE
    # The Sigma engine in a worker process (``detect/worker.py``); None: when it
    # pays off (``detect.sigma.launch.wants_worker``).
    parallel: bool | None = None
    # Each finding's JSON line (``model.json_line``) is made as it is found, while
    # the hunt waits for its worker, for ``FindingLog.lines`` after correlation.
    json_lines: bool = False


@dataclass(slots=True)
class HuntResult:
    """Everything a hunt found and everything it could not read."""

    # On disk, in time order (``findinglog.py``): iterate, or ``len()``.
    findings: FindingLog = field(default_factory=FindingLog)
    incidents: list[Incident] = field(default_factory=list)
    incident_of: dict[str, str] = field(default_factory=dict)
    reports: list[ReadReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    detector_runs: list[Run] = field(default_factory=list)

    @property
    def events(self) -> int:
        """Events read from all files."""
        return sum(r.events for r in self.reports)


@dataclass(frozen=True, slots=True)
class HuntSetup:
    """What the detectors of one hunt share: the site file and the indicator index."""

    site: SiteConfig
    index: IntelIndex

    @classmethod
    def of(cls, options: HuntOptions) -> HuntSetup:
        """Read the site file and the feeds of ``options`` once."""
        return cls(site=load_site(options.config_file), index=load_index(options.intel_files))


DetectorFactory = Callable[[HuntOptions, HuntSetup], tuple[list[Detector], list[str]]]


def sigma_detectors(options: HuntOptions, setup: HuntSetup) -> tuple[list[Detector], list[str]]:
    """The Sigma engine with the bundled pack and every ``--rules`` folder."""
    recipe = sigma_recipe(options.rule_dirs, options.use_default_rules)
    if recipe is None:
        return [], []
    detector = recipe()
    return [detector], detector.notes()


def network_detectors_of(
    options: HuntOptions, setup: HuntSetup
) -> tuple[list[Detector], list[str]]:
    """Threat-intel matching and the network detectors, set up by the site file."""
    return detectors_for_index(setup.site, setup.index), []


def mail_detectors(options: HuntOptions, setup: HuntSetup) -> tuple[list[Detector], list[str]]:
    """The mail gateway's verdict on every message read (``detect/mail.py``)."""
    return [MailDetector(internal_domains=setup.site.mail_domains)], []


# Explicit, ordered list of what a hunt runs (STYLE.md, 7).
DETECTOR_FACTORIES: list[DetectorFactory] = [sigma_detectors, network_detectors_of, mail_detectors]


def files_of(paths: list[Path]) -> Iterator[tuple[Path, bool] | ReadReport]:
    """Every file under ``paths``, and whether it was named (not found in a folder).

    A path that does not exist becomes a failed report.
    """
    for path in paths:
        try:
            for found in iter_files([path]):
                yield found, found == path
        except SourceError as exc:
            yield ReadReport(path=shown_path(str(path)), source="?", error=exc.message)


def run_hunt(
    paths: list[Path],
    options: HuntOptions,
    progress: Progress | None = None,
    worker: WorkerRun | None = None,
) -> HuntResult:
    """Read every file under ``paths``, run every detector, correlate the findings.

    A file that cannot be read is reported (``HuntResult.reports``) and the
    other files are still processed. ``progress`` is called with the size in
    bytes of each file once it is done. ``worker`` is the hunt's Sigma worker
    when the caller started it already (``detect.sigma.launch.start_worker``);
    the hunt takes it over. Otherwise the hunt starts one if it pays off.
    """
    if worker is None:
        worker = start_worker(
            paths,
            options.rule_dirs,
            options.use_default_rules,
            options.parallel,
            options.batch_size,
        )
    try:
        setup = HuntSetup.of(options)
        runs, notes = start_runs(options, setup, worker)
    except BaseException:
        if worker is not None:
            worker.close()
        raise
    result = HuntResult(
        notes=notes,
        detector_runs=runs,
        findings=FindingLog(render=json_line if options.json_lines else None),
    )
    with fewer_collections():
        try:
            directory = _detect(paths, options, runs, result, progress)
        finally:
            for run in runs:
                run.close()
        _conclude(result, setup, directory)
    return result


def _conclude(result: HuntResult, setup: HuntSetup, directory: HostDirectory) -> None:
    """After detection: decoded indicators against the feeds, loaders raised, incidents."""
    log = result.findings

    # A URL decoded from a macro is the same indicator as in http.log. Network
    # events were matched as they were read; what is left is what the endpoint
    # and mail detectors decoded.
    if len(setup.index):
        known = {
            (f.host_name, o.value) for f in log.where("ruleset = ?", INTEL) for o in f.observables
        }
        datasets = sorted(OBSERVABLE_DATASETS)
        decoded = log.where(f"dataset IN ({', '.join('?' * len(datasets))})", *datasets)
        log.extend(
            finding
            for finding in match_observables(decoded, setup.index)
            if not any((finding.host_name, o.value) in known for o in finding.observables)
        )

    loaders = list(log.where("rule LIKE ? AND severity < ?", "download.%", Severity.HIGH.rank))
    if loaders:
        first = log.where(
            "stage IN (?, ?) AND severity >= ?",
            *(s.value for s in FIRST_STAGES),
            Severity.MEDIUM.rank,
        )
        for old_id, raised in raise_loaders(loaders, first, directory).items():
            log.replace(old_id, raised)
    correlated = correlate(log, directory)
    result.incidents = correlated.incidents
    result.incident_of = correlated.incident_of


def start_runs(
    options: HuntOptions, setup: HuntSetup, worker: WorkerRun | None = None
) -> tuple[list[Run], list[str]]:
    """The runs of a hunt's detectors, and notes about rules or feeds that could not be used.

    With ``worker``, the Sigma engine is the one running in that worker
    process (``detect/worker.py``); its notes come with the run (``Run.notes``).
    """
    runs: list[Run] = []
    notes: list[str] = []
    for factory in DETECTOR_FACTORIES:
        if worker is not None and factory is sigma_detectors:
            runs.append(worker)
            continue
        made, said = factory(options, setup)
        runs.extend(DetectorRun.start(d) for d in made)
        notes.extend(said)
    return runs, notes


def _detect(
    paths: list[Path],
    options: HuntOptions,
    runs: list[Run],
    result: HuntResult,
    progress: Progress | None,
) -> HostDirectory:
    """Read every file, run every detector on its batches; the hosts seen on the way."""
    directory = HostDirectory()
    ctx = ReadContext(tenant=options.tenant, batch_size=options.batch_size)
    log = result.findings
    joiner = BatchJoiner(options.batch_size)

    for item in files_of(paths):
        if isinstance(item, ReadReport):
            result.reports.append(item)
            continue
        path, named = item
        report: ReadReport | None = None
        for file_batch in read_file(path, ctx):
            report = file_batch.report
            directory.learn_batch(file_batch.batch)
            ready = joiner.add(file_batch.batch, report.source)
            # No name here may still hold a batch while the next one is read:
            # it would double the hunt's peak memory.
            del file_batch
            while ready:
                log.extend(run_all(runs, ready.pop(0)))
        if report is not None:
            if report.error == UNRECOGNIZED and not named:
                report.error, report.passed_over = None, True
            result.reports.append(report)
        if progress is not None:
            progress(_size(path))

    for batch in joiner.flush():
        log.extend(run_all(runs, batch))
    for run in runs:
        log.extend(run.finish())
        result.notes.extend(run.notes)
        result.notes.extend(run.errors)
    return directory


def total_size(paths: list[Path]) -> int:
    """Bytes in every file a hunt of ``paths`` would read (for a progress bar)."""
    return sum(_size(item[0]) for item in files_of(paths) if not isinstance(item, ReadReport))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
