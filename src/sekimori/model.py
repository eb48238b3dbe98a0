"""The shapes every layer shares: event batches, findings, incidents.

Events are rows of a polars DataFrame whose columns carry flat, dotted ECS
names (``@timestamp``, ``host.name``, ``process.command_line``,
``winlog.event_data.CommandLine`` …). A finding is one detection; an incident
groups the findings of one tenant + host along the kill chain.

The JSON form of findings and incidents is a public contract
(``docs/output.md``): nested ECS objects, ``@timestamp`` in ISO 8601 UTC.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    # Only batches hold polars frames: the mail side runs without importing polars.
    import polars as pl

# Columns every normalized batch carries, whatever its source.
TIMESTAMP = "@timestamp"
TENANT = "tenant"
HOST_NAME = "host.name"
EVENT_ID = "event.id"
EVENT_DATASET = "event.dataset"
LOG_FILE_PATH = "log.file.path"
REQUIRED_COLUMNS = (TIMESTAMP, TENANT, HOST_NAME, EVENT_ID, EVENT_DATASET, LOG_FILE_PATH)
DEFAULT_TENANT = "default"
# ZoneInfo instances are cached per key: every UTC time read by polars carries this one.
_ZONE_UTC = ZoneInfo("UTC")


def shown_path(path: str) -> str:
    r"""A file's path as text UTF-8 can hold (``log.file.path``, reports, the store).

    Python keeps the bytes of a file name that are not UTF-8 as lone
    surrogates, which neither Arrow, JSON nor the store accept; they are
    written ``\xNN`` instead (``ev\xff.jsonl``), as ``ls -b`` shows them.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = path.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate no file system byte gives
            return path.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return path


_SHOWN_BYTE_RE = re.compile(r"\\x([89a-f][0-9a-f])")


def path_of_shown(shown: str) -> str:
    r"""The path ``shown_path`` showed as ``shown``, to open the file again.

    A ``\xNN`` of a byte above 7f goes back to the byte it stands for, unless
    a file of the name as written exists (a name may hold ``\x`` itself).
    """
    if "\\x" not in shown or Path(shown).exists():
        return shown
    return _SHOWN_BYTE_RE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), shown)


class Severity(StrEnum):
    """Severity of a finding or incident, in the Sigma ``level`` vocabulary."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order of severities: informational is 0, critical is 4."""
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, text: str | None) -> Severity:
        """Read a severity, accepting Sigma's ``level`` and common aliases."""
        value = (text or "").strip().lower()
        return _SEVERITY_ALIASES.get(value, cls.MEDIUM if value else cls.INFORMATIONAL)


_SEVERITY_ORDER = list(Severity)
_SEVERITY_ALIASES = {s.value: s for s in Severity} | {
    "info": Severity.INFORMATIONAL,
    "informational": Severity.INFORMATIONAL,
    "crit": Severity.CRITICAL,
}


class Stage(StrEnum):
    """Kill-chain stages of an Emotet-style intrusion (DESIGN.md, "The threat")."""

    DELIVERY = "delivery"
    EXECUTION = "execution"
    INSTALLATION = "installation"
    COMMAND_AND_CONTROL = "command_and_control"
    ACTIONS = "actions"

    @property
    def rank(self) -> int:
        """Position along the chain: delivery is 0, actions on objectives is 4."""
        return list(Stage).index(self)


# ATT&CK tactic → kill-chain stage, so that a rule tagged only with tactics
# still lands on the chain.
TACTIC_STAGE: Mapping[str, Stage] = {
    "reconnaissance": Stage.DELIVERY,
    "resource-development": Stage.DELIVERY,
    "initial-access": Stage.DELIVERY,
    "execution": Stage.EXECUTION,
    "defense-evasion": Stage.EXECUTION,
    # ATT&CK v18 split defense evasion into stealth and defense impairment.
    "stealth": Stage.EXECUTION,
    "defense-impairment": Stage.EXECUTION,
    "persistence": Stage.INSTALLATION,
    "privilege-escalation": Stage.INSTALLATION,
    "command-and-control": Stage.COMMAND_AND_CONTROL,
    "credential-access": Stage.ACTIONS,
    "discovery": Stage.ACTIONS,
    "lateral-movement": Stage.ACTIONS,
    "collection": Stage.ACTIONS,
    "exfiltration": Stage.ACTIONS,
    "impact": Stage.ACTIONS,
}

ObservableType = Literal["ip", "domain", "url", "hash", "email", "file"]
OBSERVABLE_TYPES: tuple[str, ...] = ("ip", "domain", "url", "hash", "email", "file")


@dataclass(frozen=True, slots=True)
class Observable:
    """A value an analyst or a blocklist can act on: an IP, a domain, a URL, a hash."""

    type: ObservableType
    value: str

    def to_json(self) -> dict[str, str]:
        """The contract form: ``{"type": …, "value": …}``."""
        return {"type": self.type, "value": self.value}

    # Pickled as dataclasses pickle frozen slots classes (the same bytes), with
    # the field names looked up once rather than through ``fields()`` per object:
    # findings cross from the Sigma worker pickled.
    def __getstate__(self) -> list[Any]:
        return [self.type, self.value]

    def __setstate__(self, state: list[Any]) -> None:
        object.__setattr__(self, "type", state[0])
        object.__setattr__(self, "value", state[1])


# Events per batch: memory grows with it, per-batch work shrinks with it.
DEFAULT_BATCH_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class EventBatch:
    """A batch of normalized events from one source file.

    ``frame`` has at least the columns of ``REQUIRED_COLUMNS``; ``dataset`` is
    the kind of events (``windows``, ``zeek.conn``, ``suricata.eve``,
    ``email``) so that detectors can pick the batches they understand.
    """

    dataset: str
    frame: pl.DataFrame
    path: str | None = None

    def __len__(self) -> int:
        return self.frame.height


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix, microseconds kept when present."""
    # Event times are UTC already (polars gives ``ZoneInfo("UTC")``): no conversion.
    zone = value.tzinfo
    text = (value if zone is UTC or zone is _ZONE_UTC else utc(value)).isoformat()
    return text.replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Read an ISO 8601 timestamp (``Z`` or offset) into an aware UTC datetime."""
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _compact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if _kept(v)}


def _kept(value: Any) -> bool:
    return value is not None and value != {} and value != []


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# The plain JSON types, matched by exact type (a ``str`` subclass goes the long way).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _json_safe(value: Any) -> Any:
    kind = type(value)
    # The plain JSON types first, by exact type: this runs for every evidence value,
    # and the values of an evidence dict or list are plain text nearly always.
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {
            k if type(k) is str else str(k): v if type(v) in _PLAIN else _json_safe(v)
            for k, v in value.items()
        }
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else _json_safe(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


# ``json.dumps(evidence, sort_keys=True, ensure_ascii=False)`` for a finding's id, the
# same text, without building an encoder per finding (15,420 in a SigmaHQ hunt of the
# bench's 82,550 events: 40 ms) nor looking for cycles in a tree ``_json_safe`` made.
_DIGEST_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, check_circular=False)


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection: a rule that matched, with the evidence that made it match.

    ``evidence`` holds the fields that matched, verbatim from the event (or,
    for aggregate detectors, the counts, scores and connection ids that made
    the case). ``event_id`` is the source event's own id (EVTX record id,
    Zeek uid) so that an analyst can find the original.
    """

    timestamp: datetime
    host_name: str
    rule_id: str
    rule_name: str
    ruleset: str
    severity: Severity
    tenant: str = DEFAULT_TENANT
    tactics: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    stage: Stage | None = None
    host_ip: str | None = None
    source_ip: str | None = None
    destination_ip: str | None = None
    user_name: str | None = None
    observables: tuple[Observable, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)
    log_file_path: str | None = None
    event_id: str | None = None
    dataset: str | None = None
    description: str | None = None
    confidence: float | None = None
    # The id, computed once: it hashes the evidence, and every consumer asks for it.
    _id: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "_id", self._digest())

    @property
    def kill_chain_stage(self) -> Stage | None:
        """The explicit stage, or the earliest one implied by the ATT&CK tactics."""
        if self.stage is not None:
            return self.stage
        return tactics_stage(self.tactics)

    @property
    def id(self) -> str:
        """Idempotent id: the same detection of the same event gets the same id."""
        return self._id

    def _digest(self) -> str:
        key = "\x1f".join(
            (
                self.tenant,
                self.host_name,
                self.ruleset,
                self.rule_id,
                iso(self.timestamp),
                self.event_id or "",
                self.log_file_path or "",
                _DIGEST_JSON.encode(_json_safe(self.evidence)),
            )
        )
        # surrogatepass: JSON input may carry lone surrogates (\udcff); ids must not crash.
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """The public contract form (nested ECS objects), see ``docs/output.md``."""
        # Built key by key rather than compacted afterwards: this runs once per
        # finding of a hunt. Absent values are left out, as ``_compact`` would.
        doc: dict[str, Any] = {"@timestamp": iso(self.timestamp)}
        if self.tenant is not None:
            doc["tenant"] = self.tenant
        host = _present(name=self.host_name, ip=self.host_ip)
        if host:
            doc["host"] = host
        if self.source_ip is not None:
            doc["source"] = {"ip": self.source_ip}
        if self.destination_ip is not None:
            doc["destination"] = {"ip": self.destination_ip}
        if self.user_name is not None:
            doc["user"] = {"name": self.user_name}
        rule = _present(
            id=self.rule_id, name=self.rule_name, ruleset=self.ruleset, description=self.description
        )
        if rule:
            doc["rule"] = rule
        doc["severity"] = self.severity.value
        doc["threat"] = {
            "tactic": {"name": list(self.tactics)},
            "technique": {"id": list(self.techniques)},
        }
        stage = self.kill_chain_stage
        doc["finding"] = _present(
            id=self.id, stage=stage.value if stage else None, confidence=self.confidence
        )
        observables = [o.to_json() for o in self.observables]
        evidence = _json_safe(self.evidence)
        # observables and evidence are always present: here when they hold
        # something, else at the end (where the compacted form put them).
        if observables:
            doc["observables"] = observables
        if _kept(evidence):
            doc["evidence"] = evidence
        if self.log_file_path:
            doc["log"] = {"file": {"path": self.log_file_path}}
        event = _present(id=self.event_id, dataset=self.dataset)
        if event:
            doc["event"] = event
        if not observables:
            doc["observables"] = observables
        if not _kept(evidence):
            doc["evidence"] = evidence
        return doc

    # Pickled as dataclasses pickle frozen slots classes (the same bytes), with
    # the field names looked up once: findings cross from the Sigma worker pickled.
    def __getstate__(self) -> list[Any]:
        return [getattr(self, name) for name in FINDING_FIELDS]

    def __setstate__(self, state: list[Any]) -> None:
        for name, value in zip(FINDING_FIELDS, state, strict=True):
            object.__setattr__(self, name, value)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Finding:
        """Read back the contract form written by ``to_json``."""
        threat = doc.get("threat", {})
        finding = doc.get("finding", {})
        return cls(
            timestamp=parse_iso(doc["@timestamp"]),
            tenant=doc.get("tenant", DEFAULT_TENANT),
            host_name=doc["host"]["name"],
            host_ip=doc["host"].get("ip"),
            source_ip=doc.get("source", {}).get("ip"),
            destination_ip=doc.get("destination", {}).get("ip"),
            user_name=doc.get("user", {}).get("name"),
            rule_id=doc["rule"]["id"],
            rule_name=doc["rule"]["name"],
            ruleset=doc["rule"]["ruleset"],
            description=doc["rule"].get("description"),
            severity=Severity(doc["severity"]),
            tactics=tuple(threat.get("tactic", {}).get("name", [])),
            techniques=tuple(threat.get("technique", {}).get("id", [])),
            stage=Stage(finding["stage"]) if finding.get("stage") else None,
            confidence=finding.get("confidence"),
            observables=tuple(
                Observable(type=o["type"], value=o["value"]) for o in doc.get("observables", [])
            ),
            evidence=doc.get("evidence", {}),
            log_file_path=doc.get("log", {}).get("file", {}).get("path"),
            event_id=doc.get("event", {}).get("id"),
            dataset=doc.get("event", {}).get("dataset"),
        )


# Every field of a finding, its id included, in declaration order (its pickled state).
FINDING_FIELDS = tuple(f.name for f in fields(Finding))


# ``json.dumps(doc, ensure_ascii=False)``, without building an encoder per line, nor
# looking for reference cycles: ``to_json`` builds each document afresh, a tree.
JSON_LINE = json.JSONEncoder(ensure_ascii=False, check_circular=False)


def json_line(finding: Finding) -> str:
    """``finding`` as a line of ``hunt --json``.

    ``json.dumps(finding.to_json(), ensure_ascii=False)``, the same text.
    """
    return JSON_LINE.encode(finding.to_json())


@lru_cache(maxsize=1024)
def tactics_stage(tactics: tuple[str, ...]) -> Stage | None:
    """The earliest kill-chain stage the ATT&CK ``tactics`` imply, if any."""
    stages = [TACTIC_STAGE[t] for t in tactics if t in TACTIC_STAGE]
    return min(stages, key=lambda s: s.rank) if stages else None


@dataclass(frozen=True, slots=True)
class Incident:
    """The findings of one tenant + host, joined along the kill chain."""

    id: str
    tenant: str
    host_name: str
    severity: Severity
    score: float
    first_seen: datetime
    last_seen: datetime
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    stages: tuple[Stage, ...]
    finding_count: int
    summary: str
    finding_ids: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    host_ips: tuple[str, ...] = ()
    observables: tuple[Observable, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The public contract form (nested ECS objects), see ``docs/output.md``."""
        return _compact(
            {
                "incident": {"id": self.id},
                "tenant": self.tenant,
                "host": _compact({"name": self.host_name, "ip": list(self.host_ips)}),
                "severity": self.severity.value,
                "score": round(self.score, 2),
                "first_seen": iso(self.first_seen),
                "last_seen": iso(self.last_seen),
                "threat": {
                    "tactic": {"name": list(self.tactics)},
                    "technique": {"id": list(self.techniques)},
                },
                "kill_chain": {"stages": [s.value for s in self.stages]},
                "finding_count": self.finding_count,
                "summary": self.summary,
                "rules": list(self.rules),
                "findings": list(self.finding_ids),
                "observables": [o.to_json() for o in self.observables],
            }
        )


def unique(values: Iterable[str]) -> tuple[str, ...]:
    """Distinct values in first-seen order."""
    return tuple(dict.fromkeys(v for v in values if v))
