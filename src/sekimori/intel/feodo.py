"""abuse.ch Feodo Tracker botnet C&C IP blocklist: the CSV and the JSON form.

CSV (``ipblocklist.csv``): ``#`` banner, then
``"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"``
(older files: ``# Firstseen,DstIP,DstPort,LastOnline,Malware``). JSON
(``ipblocklist.json``): a list of objects with ``ip_address``, ``port``,
``status``, ``first_seen``, ``last_online``, ``malware``. The plain
``ipblocklist.txt`` is a plain list (``plain.py``). Every entry is a C&C server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from sekimori.errors import IntelError
from sekimori.intel.indicator import Indicator, make, parse_time
from sekimori.intel.reader import FeedReader, FeedReport, csv_records

CONFIDENCE = 90


def _port(value: object) -> int | None:
    try:
        port = int(str(value))
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def _indicator(entry: Mapping[str, Any], source: str, ip_key: str) -> Indicator | None:
    def get(*names: str) -> Any:
        for name in names:
            if entry.get(name) not in (None, ""):
                return entry[name]
        return None

    raw = get(ip_key)
    if not isinstance(raw, str):
        return None
    last = parse_time(get("last_online", "lastonline"))
    return make(
        "ip",
        raw,
        source,
        first_seen=parse_time(get("first_seen_utc", "first_seen", "firstseen")),
        last_seen=last,
        malware=get("malware"),
        confidence=CONFIDENCE,
        threat="botnet_cc",
        port=_port(get("dst_port", "dstport", "port")),
        reference="https://feodotracker.abuse.ch/browse/host/" + raw.strip(),
    )


class FeodoCsvReader(FeedReader):
    """Feodo Tracker IP blocklist, CSV form."""

    name = "feodo-csv"

    def sniff(self, head: str) -> bool:
        """The header (a row or the last comment) names ``dst_ip``/``DstIP`` and ``malware``."""
        # the banner alone is not enough: ipblocklist.txt has it too and is a plain list
        lowered = head.lower()
        columns = ("dst_ip" in lowered or "dstip" in lowered) and "malware" in lowered
        return columns and not head.lstrip().startswith(("[", "{"))

    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """One C&C indicator per row."""
        for number, row in csv_records(text, report):
            key = "dst_ip" if "dst_ip" in row else "dstip"
            indicator = _indicator(row, source, key)
            if indicator is None:
                report.skip(f"line {number}", f"not an IP address: {row.get(key)!r}")
                continue
            yield indicator


class FeodoJsonReader(FeedReader):
    """Feodo Tracker IP blocklist, JSON form."""

    name = "feodo-json"

    def sniff(self, head: str) -> bool:
        """A JSON array of objects with ``ip_address``."""
        return head.lstrip().startswith("[") and '"ip_address"' in head

    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """One C&C indicator per object."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntelError(f"not valid JSON: {exc.msg}", where=f"line {exc.lineno}") from exc
        if not isinstance(doc, list):
            raise IntelError("expected a JSON array of blocklist entries")
        for number, entry in enumerate(doc):
            indicator = _indicator(entry, source, "ip_address") if isinstance(entry, dict) else None
            if indicator is None:
                report.skip(f"entry {number}", "no valid ip_address")
                continue
            yield indicator
