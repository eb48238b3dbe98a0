"""Loading Sigma rule folders with pySigma and compiling them, with a load report.

Every ``*.yml`` file under the given folders is parsed by pySigma with
``collect_errors`` (one bad file never stops the others); every rule is then
compiled for the engine. A rule pySigma cannot parse, or that the engine
cannot honour (a log source that is not a Windows event log, a placeholder
without values …), is reported once, by id, with the reason — never dropped
silently. ``LoadReport.loaded + len(LoadReport.rejected)`` is the number of
rules (and unreadable files) seen.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import platformdirs
import polars as pl
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.modifiers import SigmaCaseSensitiveModifier
from sigma.rule import SigmaDetection, SigmaRule
from sigma.types import SigmaExpansion, SigmaFieldReference

from sekimori.detect.sigma.compiler import CompiledRule, RuleCompiler
from sekimori.detect.sigma.correlation import CompiledCorrelation, compile_correlation
from sekimori.errors import RuleError

log = logging.getLogger(__name__)

SIGMAHQ_RULESET = "sigma"
BUNDLED_RULESET = "sekimori"


def bundled_rules_dir() -> Path:
    """The folder of Sekimori's own rule pack (package data ``sekimori/rules``)."""
    return Path(str(resources.files("sekimori.rules")))


@dataclass(slots=True)
class LoadReport:
    """How many rules loaded, and every rule (or file) rejected with its reason."""

    loaded: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0
    correlations: int = 0

    def reject(self, what: str, why: str) -> None:
        """Record a rule (by id, or a file by path) that is not loaded, and why."""
        self.rejected.append((what, why))
        log.info("sigma rule not loaded: %s: %s", what, why)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Compiled detection and correlation rules, with the report of their loading."""

    rules: tuple[CompiledRule, ...]
    correlations: tuple[CompiledCorrelation, ...]
    report: LoadReport


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """Every Sigma rule file under ``paths`` (files as given, folders recursively, sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*.yml") if p.is_file()))
            out.extend(sorted(p for p in path.rglob("*.yaml") if p.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise RuleError("no such rule file or folder", where=str(path))
    return out


def _parse_files(files: Sequence[Path], report: LoadReport) -> SigmaCollection:
    collections: list[SigmaCollection] = []
    for path in files:
        report.files += 1
        try:
            with path.open(encoding="utf-8") as fh:
                collections.append(
                    SigmaCollection.from_yaml(
                        fh,
                        collect_errors=True,
                        source=SigmaRuleLocation(path),
                        collect_filters=True,
                        resolve_references=False,
                    )
                )
        except (yaml.YAMLError, SigmaError, UnicodeDecodeError, OSError) as exc:
            report.reject(str(path), f"unreadable rule file: {type(exc).__name__}: {exc}")
    return SigmaCollection.merge(collections, resolve_references=False)


_CACHE_VERSION = "1"


def default_cache_dir() -> Path:
    """Where parsed rule sets are cached (the user's cache folder)."""
    return Path(platformdirs.user_cache_path("sekimori")) / "sigma"


def _cache_key(files: Sequence[Path]) -> str:
    from importlib.metadata import version

    digest = hashlib.sha256()
    for part in (_CACHE_VERSION, version("pysigma"), pl.__version__):
        digest.update(part.encode() + b"\0")
    for path in files:
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _parse_cached(
    files: Sequence[Path], report: LoadReport, cache_dir: Path | None
) -> SigmaCollection:
    """``_parse_files``, through a pickle of the parsed collection keyed by the files' stat.

    The cache is the user's own folder, written by this function only; a
    cache that cannot be read is parsed again and rewritten.
    """
    if cache_dir is None:
        return _parse_files(files, report)
    target = cache_dir / f"{_cache_key(files)}.pickle"
    if target.exists():
        try:
            with target.open("rb") as fh:
                collection, rejected, count = pickle.load(fh)  # noqa: S301 - our own cache
            report.rejected.extend(rejected)
            report.files += count
            return collection  # type: ignore[no-any-return]
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            log.info("rule cache %s unreadable, parsing again: %s", target, exc)
    collection = _parse_files(files, report)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump((collection, list(report.rejected), report.files), fh, protocol=5)
        Path(tmp).replace(target)
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
        log.info("rule cache %s not written: %s", target, exc)
    return collection


def _where(rule: SigmaRule | SigmaCorrelationRule | SigmaFilter) -> str:
    if rule.id is not None:
        return str(rule.id)
    source = rule.source
    return str(source.path) if source is not None and source.path is not None else rule.title


def _resolve(
    collection: SigmaCollection, report: LoadReport
) -> list[SigmaRule | SigmaCorrelationRule]:
    """Resolve correlation references one rule at a time, rejecting the ones that dangle."""
    kept: list[SigmaRule | SigmaCorrelationRule] = []
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(collection)
            except SigmaError as exc:
                report.reject(_where(rule), f"correlation: {exc}")
                continue
        kept.append(rule)
    return kept


def load_rules(
    paths: Sequence[Path],
    bundled: Path | None = None,
    placeholders: Mapping[str, Sequence[str]] | None = None,
    cache_dir: Path | None = None,
) -> RuleSet:
    """Parse and compile the rules under ``paths`` (and the ``bundled`` pack, if given).

    Rules from ``bundled`` get the ruleset ``sekimori``, the others ``sigma``.
    With ``cache_dir``, the parsed rules are cached there (pySigma's parsing
    is most of the loading time); compiling is always done afresh.
    """
    report = LoadReport()
    sources = ([bundled] if bundled is not None else []) + list(paths)
    collection = _parse_cached(rule_files(sources), report, cache_dir)
    # pySigma copies a rule's errors into the collection's: report those with the rule.
    rule_errors = {id(e) for rule in collection.rules for e in rule.errors}
    for error in collection.errors:
        if id(error) in rule_errors:
            continue
        error_path = error.source.path if error.source is not None else None
        report.reject(str(error_path or "?"), f"pySigma: {error}")
    bundled_root = bundled.resolve() if bundled is not None else None
    compiler = RuleCompiler(placeholders)
    compiled: dict[str, CompiledRule] = {}
    by_sigma_rule: dict[int, CompiledRule] = {}
    correlations: list[SigmaCorrelationRule] = []
    seen: dict[str, str] = {}
    for rule in _resolve(collection, report):
        where = _where(rule)
        if rule.errors:
            report.reject(where, "pySigma: " + "; ".join(str(e) for e in rule.errors))
            continue
        rule_path = rule.source.path if rule.source is not None else None
        if rule.id is not None:
            if where in seen:
                report.reject(where, f"duplicate rule id, already loaded from {seen[where]}")
                continue
            seen[where] = str(rule_path)
        if isinstance(rule, SigmaCorrelationRule):
            correlations.append(rule)
            continue
        ruleset = _ruleset(rule_path, bundled_root)
        if _cased_fieldref(rule.detection.detections.values()):
            report.reject(
                where,
                "cased with fieldref is not supported: pySigma keeps no case-sensitivity"
                " on a field reference, so the fields would be compared ignoring case",
            )
            continue
        try:
            rule_c = compiler.compile(rule, key=f"r{len(compiled)}", ruleset=ruleset)
        except RuleError as exc:
            report.reject(where, exc.message)
            continue
        if not rule._output:
            rule_c = _no_output(rule_c)
        compiled[rule_c.key] = rule_c
        by_sigma_rule[id(rule)] = rule_c
        report.loaded += 1
    compiled_corr: list[CompiledCorrelation] = []
    nodes: dict[int, CompiledCorrelation] = {}
    for corr in _inner_first(correlations, report):
        ruleset = _ruleset(corr.source.path if corr.source is not None else None, bundled_root)
        try:
            compiled_c = compile_correlation(corr, by_sigma_rule, ruleset, nodes)
        except RuleError as exc:
            report.reject(_where(corr), exc.message)
            continue
        nodes[id(corr)] = compiled_c.chain or compiled_c
        # A correlation referenced by another one (without ``generate``) only feeds it.
        if corr._output:
            compiled_corr.append(compiled_c)
        report.loaded += 1
        report.correlations += 1
    return RuleSet(rules=tuple(compiled.values()), correlations=tuple(compiled_corr), report=report)


def _inner_first(
    correlations: Sequence[SigmaCorrelationRule], report: LoadReport
) -> list[SigmaCorrelationRule]:
    """Correlation rules ordered so that a referenced correlation comes before its users.

    A correlation whose references loop back to itself is reported and left out.
    """
    known = {id(c) for c in correlations}
    ordered: list[SigmaCorrelationRule] = []
    done: set[int] = set()
    looping: set[int] = set()

    def visit(corr: SigmaCorrelationRule, path: tuple[int, ...]) -> bool:
        if id(corr) in done:
            return True
        if id(corr) in path or id(corr) in looping:
            return False
        ok = True
        for ref in corr.referenced_rules:
            inner = ref.rule
            if isinstance(inner, SigmaCorrelationRule) and id(inner) in known:
                ok = visit(inner, (*path, id(corr))) and ok
        if not ok:
            looping.add(id(corr))
            report.reject(
                _where(corr), "correlation chain loops (a correlation in it refers back to itself)"
            )
            return False
        done.add(id(corr))
        ordered.append(corr)
        return True

    for corr in correlations:
        visit(corr, ())
    return ordered


def _cased_fieldref(detections: Iterable[SigmaDetection]) -> bool:
    """True when an item has both ``cased`` and ``fieldref`` (pySigma drops the ``cased``)."""
    for detection in detections:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                if _cased_fieldref([item]):
                    return True
            elif SigmaCaseSensitiveModifier in item.modifiers and any(
                isinstance(v, SigmaFieldReference)
                or (
                    isinstance(v, SigmaExpansion)
                    and any(isinstance(e, SigmaFieldReference) for e in v.values)
                )
                for v in item.value
            ):
                return True
    return False


def _ruleset(path: Path | None, bundled_root: Path | None) -> str:
    if (
        bundled_root is not None
        and path is not None
        and Path(path).resolve().is_relative_to(bundled_root)
    ):
        return BUNDLED_RULESET
    return SIGMAHQ_RULESET


def _no_output(rule: CompiledRule) -> CompiledRule:
    return CompiledRule(
        key=rule.key,
        meta=rule.meta,
        variants=rule.variants,
        expr=rule.expr,
        selections=rule.selections,
        needs=rule.needs,
        output=False,
        requirement=rule.requirement,
    )
