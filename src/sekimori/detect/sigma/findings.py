"""The findings of Sigma matches: ``SigmaFindings``, ``SigmaDetector``'s builder.

In: ``Matched``, what ``SigmaDetector.matches`` found in a batch (the
matched rows, the selections and values that matched, a card of each rule
that fired, what the correlation rules keep); out: one ``Finding`` per
matched event and rule, whose evidence holds the fields the matching
selections read, verbatim, and the selections' names; and, from the
correlation state it keeps, one finding per correlation window. URLs, IPs
and domains in command lines and script blocks (decoded when encoded)
become the finding's observables.

With the Sigma engine in a worker process, this runs in the hunt's
process: it imports neither pySigma nor the rule compiler (``meta``,
``evidence`` and ``correlating`` are apart from them for this).
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from sekimori.detect.powershell import analyze, extract_observables
from sekimori.detect.sigma.correlating import (
    COMPACT_AT,
    CompiledCorrelation,
    CorrelationHit,
    CorrelationState,
    Occurrence,
    compact,
    evaluate_correlation,
)
from sekimori.detect.sigma.evidence import SelectionColumns, evidence_of, selection_columns
from sekimori.detect.sigma.fields import column_name
from sekimori.detect.sigma.meta import RuleMeta
from sekimori.model import (
    DEFAULT_TENANT,
    EVENT_ID,
    HOST_NAME,
    LOG_FILE_PATH,
    TENANT,
    TIMESTAMP,
    Finding,
    Observable,
)

if TYPE_CHECKING:
    from sekimori.detect.sigma.compiler import CompiledRule
    from sekimori.detect.sigma.engine import Match

# Event fields whose text may carry commands, scripts or addresses.
_TEXT_FIELDS = (
    "CommandLine",
    "ParentCommandLine",
    "ScriptBlockText",
    "Payload",
    "ContextInfo",
    "Data",
    "ImagePath",
    "ServiceFileName",
    "Details",
)
_DOMAIN_FIELDS = ("QueryName", "DestinationHostname")
_IP_FIELDS = ("DestinationIp", "SourceIp", "IpAddress")
_USER_COLUMNS = (
    "user.name",
    "winlog.event_data.User",
    "winlog.event_data.TargetUserName",
    "winlog.event_data.SubjectUserName",
)
_SOURCE_IP_COLUMNS = ("source.ip", "winlog.event_data.IpAddress", "winlog.event_data.SourceIp")
_DEST_IP_COLUMNS = ("destination.ip", "winlog.event_data.DestinationIp")
_NO_ADDRESS = frozenset({"-", "", "::1", "127.0.0.1"})
# The batch columns a finding is built from.
KEEP_COLUMNS = tuple(
    dict.fromkeys(
        [
            TIMESTAMP,
            TENANT,
            HOST_NAME,
            EVENT_ID,
            LOG_FILE_PATH,
            "winlog.computer_name",
            *_USER_COLUMNS,
            *_SOURCE_IP_COLUMNS,
            *_DEST_IP_COLUMNS,
            *(f"winlog.event_data.{f}" for f in (*_TEXT_FIELDS, *_DOMAIN_FIELDS, *_IP_FIELDS)),
        ]
    )
)


def _first(
    row: Mapping[str, Any], columns: Sequence[str], skip: frozenset[str] = frozenset()
) -> str | None:
    for col in columns:
        value = row.get(col)
        if value is not None and str(value) not in skip:
            return str(value)
    return None


def event_time(row: Mapping[str, Any]) -> datetime:
    """The event's time (UTC when it has no zone); the epoch without one."""
    value = row.get(TIMESTAMP)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, UTC)


# Texts longer than this (script blocks) are cached under their digest rather
# than kept as cache keys: the cache must stay small whatever the input.
_CACHED_TEXT = 1024
_SEEN: OrderedDict[str | bytes, tuple[Observable, ...]] = OrderedDict()
_SEEN_MAX = 4096


def _text_observables(text: str) -> tuple[Observable, ...]:
    # One event matched by several rules, and the same command line or script
    # block run again and again, are decoded once.
    key: str | bytes = text
    if len(text) > _CACHED_TEXT:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    found = _SEEN.get(key)
    if found is None:
        found = _SEEN[key] = tuple(analyze(text).observables)
        if len(_SEEN) > _SEEN_MAX:
            _SEEN.popitem(last=False)
    else:
        _SEEN.move_to_end(key)
    return found


# The columns each of the above is read from, named once: this runs for every matched event.
_TEXT_COLUMNS = tuple((column_name(f), f"winlog.event_data.{f}") for f in _TEXT_FIELDS)
_DOMAIN_COLUMNS = tuple(f"winlog.event_data.{f}" for f in _DOMAIN_FIELDS)
_IP_FIELD_COLUMNS = tuple(f"winlog.event_data.{f}" for f in _IP_FIELDS)


def _observables(row: Mapping[str, Any]) -> tuple[Observable, ...]:
    found: dict[Observable, None] = {}
    for columns in _TEXT_COLUMNS:
        for col in columns:
            value = row.get(col)
            if isinstance(value, str) and value:
                for obs in _text_observables(value):
                    found.setdefault(obs)
                break
    for col in _DOMAIN_COLUMNS:
        value = row.get(col)
        if isinstance(value, str) and value and "." in value:
            found.setdefault(Observable("domain", value.lower().rstrip(".")))
    for col in _IP_FIELD_COLUMNS:
        value = row.get(col)
        if isinstance(value, str) and value not in _NO_ADDRESS:
            for obs in extract_observables([value]):
                found.setdefault(obs)
    return tuple(found)


def _context(row: Mapping[str, Any], matched: Mapping[str, Any]) -> dict[str, str]:
    """The fields an analyst reads first (command lines, paths), beside the matched ones."""
    return _pick_context(_context_fields(row), matched)


def _context_fields(row: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Every context field of ``row``, cut, whether or not a selection read it."""
    fields = []
    for name, column in _CONTEXT_COLUMNS:
        value = row.get(column)
        if value is None or value == "":
            continue
        text = str(value)
        fields.append((name, text if len(text) <= MAX_CONTEXT else text[:MAX_CONTEXT] + "…"))
    return tuple(fields)


def _pick_context(
    fields: tuple[tuple[str, str], ...], matched: Mapping[str, Any]
) -> dict[str, str]:
    seen = matched.get("fields")
    if not isinstance(seen, Mapping):
        return dict(fields)
    return {name: text for name, text in fields if name not in seen}


def _event_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Finding`` fields that come from the event alone (not from the rule)."""
    return {
        "timestamp": event_time(row),
        "host_name": str(row.get(HOST_NAME) or row.get("winlog.computer_name") or "unknown"),
        "tenant": str(row.get(TENANT) or DEFAULT_TENANT),
        "user_name": _first(row, _USER_COLUMNS, frozenset({"-", ""})),
        "source_ip": _first(row, _SOURCE_IP_COLUMNS, _NO_ADDRESS),
        "destination_ip": _first(row, _DEST_IP_COLUMNS, _NO_ADDRESS),
        "observables": _observables(row),
        "log_file_path": str(row[LOG_FILE_PATH]) if row.get(LOG_FILE_PATH) else None,
        "event_id": str(row[EVENT_ID]) if row.get(EVENT_ID) is not None else None,
    }


def _rule_fields(meta: RuleMeta) -> dict[str, Any]:
    """The ``Finding`` fields that come from the rule."""
    return {
        "rule_id": meta.rule_id,
        "rule_name": meta.title,
        "ruleset": meta.ruleset,
        "severity": meta.severity,
        "description": meta.description,
        "tactics": meta.tactics,
        "techniques": meta.techniques,
    }


def _finding(
    meta: RuleMeta, row: Mapping[str, Any], evidence: Mapping[str, Any], dataset: str
) -> Finding:
    context = _context(row, evidence)
    if context:
        evidence = {**evidence, "context": context}
    return Finding(**_rule_fields(meta), **_event_fields(row), evidence=evidence, dataset=dataset)


class _Rows:
    """The rows of one evaluation step (``Match.rows``, shared by its matches) as dicts.

    An event matched by several rules is converted, and its own finding fields
    (observables, addresses, context) worked out, once; converting the whole
    frame at once is cheaper than a row at a time.
    """

    __slots__ = ("context", "dicts", "event", "frame")

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self.dicts: list[dict[str, Any]] = frame.to_dicts()
        self.event: dict[int, dict[str, Any]] = {}
        self.context: dict[int, tuple[tuple[str, str], ...]] = {}

    def event_fields(self, index: int) -> dict[str, Any]:
        found = self.event.get(index)
        if found is None:
            found = self.event[index] = _event_fields(self.dicts[index])
        return found

    def context_fields(self, index: int) -> tuple[tuple[str, str], ...]:
        found = self.context.get(index)
        if found is None:
            found = self.context[index] = _context_fields(self.dicts[index])
        return found


@dataclass(frozen=True, slots=True)
class RuleCard:
    """What the findings of a rule say of it, apart from the compiled rule."""

    meta: RuleMeta
    columns: SelectionColumns

    @classmethod
    def of(cls, rule: CompiledRule) -> RuleCard:
        """The card of ``rule``."""
        return cls(rule.meta, selection_columns(rule))


# (rule key, index of the rows in ``Matched.frames``, the rule's rows there, per row
# the selections true and the values that matched: ``Match``'s fields).
MatchRecord = tuple[
    str, int, tuple[int, ...], tuple[tuple[str, ...], ...], tuple[Mapping[str, list[str]], ...]
]


@dataclass(slots=True)
class Matched:
    """The matches of one batch, as ``SigmaDetector.matches`` found them, for ``build_findings``.

    A worker process evaluates the rules and sends this to the hunt's
    process, which builds the findings (``SigmaFindings``): the rows travel
    as LZ4 Arrow IPC (far cheaper than pickling the findings) with a card
    for each rule that fired. ``occurrences`` are what the correlation rules
    keep of the matches (per correlation, in match order): the correlation
    state lives with the builder, so that evaluating a batch needs none.
    """

    dataset: str
    frames: list[pl.DataFrame] = field(default_factory=list)
    matches: list[MatchRecord] = field(default_factory=list)
    cards: dict[str, RuleCard] = field(default_factory=dict)
    occurrences: list[tuple[int, list[Occurrence]]] = field(default_factory=list)

    def add(self, match: Match) -> None:
        """Keep ``match`` (the matches of one evaluation step share their rows)."""
        if not self.frames or self.frames[-1] is not match.rows:
            self.frames.append(match.rows)
        rule = match.rule
        if rule.key not in self.cards:
            self.cards[rule.key] = RuleCard.of(rule)
        self.matches.append(
            (rule.key, len(self.frames) - 1, match.indices, match.selections, match.values)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        frames = [f.write_ipc(None, compression="lz4").getvalue() for f in self.frames]
        return (_unpack, (self.dataset, frames, self.matches, self.cards, self.occurrences))


def _unpack(
    dataset: str,
    frames: list[bytes],
    matches: list[MatchRecord],
    cards: dict[str, RuleCard],
    occurrences: list[tuple[int, list[Occurrence]]],
) -> Matched:
    read = [pl.read_ipc(io.BytesIO(data)) for data in frames]
    return Matched(dataset, read, matches, cards, occurrences)


class SigmaFindings:
    """Findings from ``Matched``: the matched events', and the correlation windows'.

    ``SigmaDetector.builder``: it keeps the correlation state of a run
    (``state``, or its own), fed in batch order, and evaluates the windows
    that close early (``correlation.compact``) and, at ``finish``, the rest.
    """

    def __init__(
        self,
        correlations: Sequence[CompiledCorrelation],
        state: CorrelationState | None = None,
    ) -> None:
        self.correlations = correlations
        self.state = CorrelationState() if state is None else state

    def __call__(self, part: Matched) -> list[Finding]:
        """The findings of one batch: its matched events', then windows closed early."""
        findings = build_findings(part)
        if not part.occurrences:
            return findings
        state = self.state
        for index, occurrences in part.occurrences:
            state.add(index, occurrences)
        for index, kept in state.occurrences.items():
            if len(kept) > COMPACT_AT:
                hits, keep = compact(self.correlations[index], kept)
                state.occurrences[index] = keep
                findings.extend(_hit_finding(hit) for hit in hits)
        return findings

    def finish(self) -> list[Finding]:
        """One finding per correlation window that holds."""
        findings: list[Finding] = []
        for index, occurrences in sorted(self.state.occurrences.items()):
            for hit in evaluate_correlation(self.correlations[index], occurrences):
                findings.append(_hit_finding(hit))
        self.state.occurrences.clear()
        return findings


def _hit_finding(hit: CorrelationHit) -> Finding:
    corr = hit.correlation
    last = hit.occurrences[-1]
    row = {
        TIMESTAMP: last.timestamp,
        HOST_NAME: last.host,
        TENANT: last.tenant,
        EVENT_ID: last.event_id,
        LOG_FILE_PATH: last.log_file_path,
    }
    evidence = hit.evidence()
    group = evidence.get("group_by")
    if isinstance(group, dict):
        for name in ("IpAddress", "SourceIp", "source.ip"):
            if group.get(name):
                row["source.ip"] = group[name]
    return _finding(corr.meta, row, evidence, "windows")


def build_findings(matched: Matched) -> list[Finding]:
    """One finding per matched event and rule of ``matched`` (correlations aside)."""
    findings: list[Finding] = []
    rows: _Rows | None = None
    for key, frame, indices, selections, values in matched.matches:
        if rows is None or rows.frame is not matched.frames[frame]:
            rows = _Rows(matched.frames[frame])
        card = matched.cards[key]
        rule = _rule_fields(card.meta)
        for i, index in enumerate(indices):
            evidence = evidence_of(
                card.columns, selections[i], rows.dicts[index], values[i] if values else None
            )
            context = _pick_context(rows.context_fields(index), evidence)
            if context:
                evidence["context"] = context
            findings.append(
                Finding(
                    **rule, **rows.event_fields(index), evidence=evidence, dataset=matched.dataset
                )
            )
    return findings


# Shown beside the matched fields so that a finding reads without the raw event
# (as Hayabusa's "Details" column); long values (script blocks) are cut.
CONTEXT_FIELDS = (
    "CommandLine",
    "ParentCommandLine",
    "Image",
    "ParentImage",
    "TargetFilename",
    "TargetObject",
    "Details",
    "ImageLoaded",
    "ServiceName",
    "ImagePath",
    "ScriptBlockText",
    "TargetUserName",
    "IpAddress",
)
MAX_CONTEXT = 2048
_CONTEXT_COLUMNS = tuple((name, f"winlog.event_data.{name}") for name in CONTEXT_FIELDS)


__all__ = [
    "CONTEXT_FIELDS",
    "KEEP_COLUMNS",
    "Matched",
    "RuleCard",
    "SigmaFindings",
    "build_findings",
    "event_time",
]
