"""abuse.ch ThreatFox IOC exports: JSON (full export and API answer) and CSV.

JSON export: ``{"<id>": [{"ioc_value", "ioc_type", "threat_type", "malware_printable",
"first_seen_utc", "last_seen_utc", "confidence_level", "reference", …}]}``; the
API answer: ``{"query_status": "ok", "data": [{"ioc", "ioc_type", …}]}``. CSV
export: ``#`` banner, header in the last comment line (``"first_seen_utc",
"ioc_id","ioc_value","ioc_type","threat_type",…``), fields separated by ``", "``.
IOC types ``ip:port``, ``domain``, ``url``, ``md5_hash``, ``sha1_hash``,
``sha256_hash`` are read; others are reported as skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from sekimori.errors import IntelError
from sekimori.intel.indicator import Indicator, make, parse_time
from sekimori.intel.reader import FeedReader, FeedReport, csv_records

_KINDS = {
    "ip:port": "ip",
    "ip": "ip",
    "domain": "domain",
    "url": "url",
    "md5_hash": "hash",
    "sha1_hash": "hash",
    "sha256_hash": "hash",
}


def _confidence(value: object) -> int | None:
    try:
        return max(0, min(100, int(str(value))))
    except ValueError:
        return None


def _indicator(entry: Mapping[str, Any], source: str) -> tuple[Indicator | None, str]:
    kind = _KINDS.get(str(entry.get("ioc_type", "")).lower())
    raw = entry.get("ioc_value", entry.get("ioc"))
    if kind is None:
        return None, f"unsupported ioc_type {entry.get('ioc_type')!r}"
    if not isinstance(raw, str):
        return None, "no ioc value"
    port = None
    if kind == "ip" and raw.count(":") == 1:
        raw, _, port_text = raw.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    first = parse_time(entry.get("first_seen_utc", entry.get("first_seen")))
    last = parse_time(entry.get("last_seen_utc", entry.get("last_seen")))
    family = entry.get("malware_printable") or entry.get("malware") or None
    indicator = make(
        kind,
        raw,
        source,
        first_seen=first,
        last_seen=last or first,
        malware=str(family) if family and family != "Unknown malware" else None,
        confidence=_confidence(entry.get("confidence_level")),
        threat=entry.get("threat_type") or None,
        port=port,
        reference=entry.get("reference") or None,
    )
    return indicator, "" if indicator else f"not a valid {kind}: {raw!r}"


class ThreatFoxJsonReader(FeedReader):
    """ThreatFox JSON export or API answer."""

    name = "threatfox-json"

    def sniff(self, head: str) -> bool:
        """A JSON object with ``ioc_value``/``ioc_type`` entries."""
        text = head.lstrip()
        return text.startswith("{") and ('"ioc_type"' in head or '"query_status"' in head)

    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """One indicator per IOC entry."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntelError(f"not valid JSON: {exc.msg}", where=f"line {exc.lineno}") from exc
        if not isinstance(doc, dict):
            raise IntelError("expected a JSON object")
        entries: list[tuple[str, Any]] = []
        if "data" in doc and isinstance(doc["data"], list):
            entries = [(str(i), e) for i, e in enumerate(doc["data"])]
        else:
            for key, value in doc.items():
                items = value if isinstance(value, list) else [value]
                entries.extend((str(key), item) for item in items)
        for where, entry in entries:
            if not isinstance(entry, dict):
                report.skip(f"ioc {where}", "not an object")
                continue
            indicator, why = _indicator(entry, source)
            if indicator is None:
                report.skip(f"ioc {where}", why)
                continue
            yield indicator


class ThreatFoxCsvReader(FeedReader):
    """ThreatFox CSV export."""

    name = "threatfox-csv"

    def sniff(self, head: str) -> bool:
        """The header has ``ioc_value`` and ``ioc_type`` (ThreatFox's text lists are plain)."""
        lowered = head.lower()
        if head.lstrip().startswith(("{", "[")):
            return False
        return "ioc_value" in lowered and "ioc_type" in lowered

    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """One indicator per row."""
        for number, row in csv_records(text, report):
            indicator, why = _indicator(row, source)
            if indicator is None:
                report.skip(f"line {number}", why)
                continue
            yield indicator
