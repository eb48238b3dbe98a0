"""A cache of compiled rule sets, so that a hunt starts without parsing or compiling.

Parsing SigmaHQ's three thousand Windows rules with pySigma and compiling
them to polars expressions takes seconds, on every run. Like Zircolite's
pre-converted JSON rule sets, the compiled result is kept: every expression
serialized by polars (``Expr.meta.serialize``), with the rules' metadata,
log-source variants, literal requirements, correlation rules and the load
report. The evidence tests of each selection are stored too and rebuilt only
for the rules that fire, and so is each rule's expression read on its own
rows (``engine.restricted_expr``), rebuilt for the rules that get rows.

The key covers the rule files (path, size, modification time), the
placeholder values, the pySigma and polars versions and the engine's own
source, so a changed rule, setting or engine never reads a stale entry. A
rule whose expression polars cannot serialize (a regular expression only
Python's ``re`` runs) is stored by file and id, with its file's YAML
documents as parsed (pySigma's pure-Python YAML parser took the worker a fifth
of a second for SigmaHQ's 21 such files), and compiled again on load.
A cache entry that cannot be read is ignored and written again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

from sekimori.detect.sigma.compiler import CompiledRule, RuleCompiler, Selection
from sekimori.detect.sigma.engine import restricted_expr
from sekimori.detect.sigma.loader import RuleSet, load_rules, rule_files
from sekimori.detect.sigma.logsource import Variant
from sekimori.detect.sigma.meta import RuleMeta
from sekimori.detect.sigma.prefilter import Requirement
from sekimori.detect.sigma.values import Needs

log = logging.getLogger(__name__)

_FORMAT = "sekimori-compiled-rules-4"
_ENGINE = Path(__file__).parent

ValueTests = tuple[tuple[str, str, pl.Expr], ...]


@dataclass(frozen=True, slots=True)
class _StoredSelection:
    name: str
    expr: bytes
    needs: Needs
    value_tests: tuple[tuple[str, str, bytes], ...]


@dataclass(frozen=True, slots=True)
class _StoredRule:
    key: str
    meta: RuleMeta
    variants: tuple[Variant, ...]
    expr: bytes
    selections: tuple[_StoredSelection, ...]
    needs: Needs
    output: bool
    requirement: Requirement | None
    restricted: bytes | None


@dataclass(frozen=True, slots=True)
class _Recompile:
    """A rule stored by where it is, compiled again on load."""

    key: str
    path: str
    rule_id: str
    ruleset: str
    output: bool
    # As loaded: correlation rules add the fields they group by to what a rule reads.
    needs: Needs
    requirement: Requirement | None
    # The file's YAML documents, as ``SigmaCollection.from_yaml`` parses them.
    documents: list[Any]


def load_compiled(
    paths: Sequence[Path],
    bundled: Path | None,
    placeholders: Mapping[str, Sequence[str]] | None,
    cache_dir: Path,
) -> RuleSet:
    """``loader.load_rules``, through the compiled-rule cache in ``cache_dir``."""
    sources = ([bundled] if bundled is not None else []) + list(paths)
    target = cache_dir / f"{_key(rule_files(sources), placeholders)}.compiled"
    if target.exists():
        try:
            return _read(target, placeholders)
        except Exception as exc:
            log.info("compiled rule cache %s unreadable, compiling again: %s", target, exc)
    ruleset = load_rules(paths, bundled=bundled, placeholders=placeholders, cache_dir=cache_dir)
    _write(target, ruleset)
    return ruleset


def _key(files: Sequence[Path], placeholders: Mapping[str, Sequence[str]] | None) -> str:
    from importlib.metadata import version

    digest = hashlib.sha256()
    for part in (_FORMAT, version("pysigma"), pl.__version__):
        digest.update(part.encode() + b"\0")
    for source in sorted(_ENGINE.glob("*.py")):
        digest.update(source.read_bytes())
    for name, values in sorted((placeholders or {}).items()):
        digest.update(f"{name}\0{list(values)!r}\0".encode())
    for path in files:
        stat = path.stat()
        # absolute(), not resolve(): the same key for the same files, without
        # following every path through the file system (a tenth of a second
        # for SigmaHQ's 3,000 files).
        digest.update(f"{path.absolute()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _serialize(expr: pl.Expr) -> bytes:
    return expr.meta.serialize(format="binary")


def _deserialize(blob: bytes) -> pl.Expr:
    return pl.Expr.deserialize(io.BytesIO(blob), format="binary")


def _stored_restricted(rule: CompiledRule) -> bytes | None:
    restricted = restricted_expr(rule)
    if restricted is None:
        return None
    try:
        return _serialize(restricted)
    except pl.exceptions.PolarsError:
        return None


def _store(rule: CompiledRule) -> _StoredRule | _Recompile:
    try:
        return _StoredRule(
            key=rule.key,
            meta=rule.meta,
            variants=rule.variants,
            expr=_serialize(rule.expr),
            selections=tuple(
                _StoredSelection(
                    name=sel.name,
                    expr=_serialize(sel.expr),
                    needs=sel.needs,
                    value_tests=tuple(
                        (fname, label, _serialize(test)) for fname, label, test in sel.value_tests()
                    ),
                )
                for sel in rule.selections
            ),
            needs=rule.needs,
            output=rule.output,
            requirement=rule.requirement,
            restricted=_stored_restricted(rule),
        )
    except pl.exceptions.PolarsError:
        # A Python function inside the expression (``values.python_test``).
        if rule.meta.path is None:
            raise
        return _Recompile(
            key=rule.key,
            path=rule.meta.path,
            rule_id=rule.meta.rule_id,
            ruleset=rule.meta.ruleset,
            output=rule.output,
            needs=rule.needs,
            requirement=rule.requirement,
            documents=list(yaml.safe_load_all(Path(rule.meta.path).read_text("utf-8"))),
        )


def _write(target: Path, ruleset: RuleSet) -> None:
    try:
        payload = {
            "format": _FORMAT,
            "rules": [_store(rule) for rule in ruleset.rules],
            "correlations": ruleset.correlations,
            "report": ruleset.report,
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(payload, fh, protocol=5)
        Path(tmp).replace(target)
    except (
        OSError,
        ValueError,
        yaml.YAMLError,
        pickle.PicklingError,
        TypeError,
        AttributeError,
        pl.exceptions.PolarsError,
    ):
        log.info("compiled rule cache %s not written", target, exc_info=True)


class _StoredValueTests:
    """A selection's value tests, deserialized when first asked for (only fired rules ask).

    A plain object rather than ``functools.cache``: a cache wrapper per
    selection costs more to make than most hunts spend asking.
    """

    __slots__ = ("_stored", "_tests")

    def __init__(self, stored: tuple[tuple[str, str, bytes], ...]) -> None:
        self._stored = stored
        self._tests: ValueTests | None = None

    def __call__(self) -> ValueTests:
        if self._tests is None:
            self._tests = tuple(
                (fname, label, _deserialize(blob)) for fname, label, blob in self._stored
            )
        return self._tests


class _StoredRestricted:
    """A rule's restricted expression, deserialized when the engine first asks for it."""

    __slots__ = ("_stored",)

    def __init__(self, stored: bytes | None) -> None:
        self._stored = stored

    def __call__(self) -> pl.Expr | None:
        return None if self._stored is None else _deserialize(self._stored)


def _rule(stored: _StoredRule) -> CompiledRule:
    return CompiledRule(
        key=stored.key,
        meta=stored.meta,
        variants=stored.variants,
        expr=_deserialize(stored.expr),
        selections=tuple(
            Selection(
                name=sel.name,
                expr=_deserialize(sel.expr),
                needs=sel.needs,
                value_tests=_StoredValueTests(sel.value_tests),
            )
            for sel in stored.selections
        ),
        needs=stored.needs,
        output=stored.output,
        requirement=stored.requirement,
        restricted=_StoredRestricted(stored.restricted),
    )


def _recompile(
    stored: _Recompile, compiler: RuleCompiler, parsed: dict[str, SigmaCollection]
) -> CompiledRule:
    if stored.path not in parsed:
        parsed[stored.path] = SigmaCollection.from_dicts(stored.documents)
    for rule in parsed[stored.path].rules:
        if isinstance(rule, SigmaRule) and str(rule.id or stored.path) == stored.rule_id:
            compiled = compiler.compile(rule, key=stored.key, ruleset=stored.ruleset)
            return replace(
                compiled,
                output=stored.output,
                needs=stored.needs,
                requirement=stored.requirement,
            )
    raise LookupError(f"rule {stored.rule_id} no longer in {stored.path}")


def _read(target: Path, placeholders: Mapping[str, Sequence[str]] | None) -> RuleSet:
    with target.open("rb") as fh:
        payload: dict[str, Any] = pickle.load(fh)  # noqa: S301 - our own cache
    if payload.get("format") != _FORMAT:
        raise ValueError(f"format {payload.get('format')!r}")
    compiler = RuleCompiler(placeholders)
    parsed: dict[str, SigmaCollection] = {}
    rules = tuple(
        _rule(stored) if isinstance(stored, _StoredRule) else _recompile(stored, compiler, parsed)
        for stored in payload["rules"]
    )
    return RuleSet(rules=rules, correlations=payload["correlations"], report=payload["report"])


__all__ = ["load_compiled"]
