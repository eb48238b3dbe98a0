"""MISP events: event JSON (``{"Event": …}``, API ``{"response": […]}``) and the feed format.

A MISP feed is a folder (or URL prefix) with ``manifest.json`` (event uuid →
summary) and one ``<uuid>.json`` event file per event. Attributes (and those
inside ``Object``) of types ``ip-src``/``ip-dst`` (``|port``), ``domain``,
``hostname``, ``domain|ip``, ``url``, ``md5``/``sha1``/``sha256``/``sha512`` and
``filename|<hash>`` become indicators when ``to_ids`` is set. The malware family
comes from galaxy tags (``misp-galaxy:malpedia="Emotet"``), confidence from the
event's threat level.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sekimori.errors import IntelError
from sekimori.intel.indicator import Indicator, make, parse_time
from sekimori.intel.reader import FeedReader, FeedReport

_TYPES: dict[str, tuple[str, int]] = {
    "ip-dst": ("ip", 0),
    "ip-src": ("ip", 0),
    "ip-dst|port": ("ip", 0),
    "ip-src|port": ("ip", 0),
    "domain": ("domain", 0),
    "hostname": ("domain", 0),
    "hostname|port": ("domain", 0),
    "domain|ip": ("domain", 0),
    "url": ("url", 0),
    "md5": ("hash", 0),
    "sha1": ("hash", 0),
    "sha256": ("hash", 0),
    "sha512": ("hash", 0),
    "filename|md5": ("hash", 1),
    "filename|sha1": ("hash", 1),
    "filename|sha256": ("hash", 1),
    "filename|sha512": ("hash", 1),
}
_THREAT_LEVEL_CONFIDENCE = {"1": 90, "2": 70, "3": 50}
_FAMILY_TAG = re.compile(r'^misp-galaxy:(?:malpedia|tool|ransomware|botnet)="([^"]+)"$')
_C2_WORDS = ("c2", "c&c", "command and control", "command-and-control", "botnet_cc")


def _tags(node: Mapping[str, Any]) -> list[str]:
    return [str(t.get("name", "")) for t in node.get("Tag", []) or [] if isinstance(t, dict)]


def _family(event: Mapping[str, Any], tags: list[str]) -> str | None:
    for tag in tags:
        match = _FAMILY_TAG.match(tag)
        if match:
            return match.group(1)
    for galaxy in event.get("Galaxy", []) or []:
        for cluster in galaxy.get("GalaxyCluster", []) or []:
            if cluster.get("value"):
                return str(cluster["value"])
    return None


def _attributes(event: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from (a for a in event.get("Attribute", []) or [] if isinstance(a, dict))
    for obj in event.get("Object", []) or []:
        if isinstance(obj, dict):
            yield from (a for a in obj.get("Attribute", []) or [] if isinstance(a, dict))


def event_indicators(
    event: Mapping[str, Any], source: str, report: FeedReport, where: str
) -> Iterator[Indicator]:
    """Indicators of one MISP event object (the value under ``"Event"``)."""
    event_tags = _tags(event)
    family = _family(event, event_tags)
    confidence = _THREAT_LEVEL_CONFIDENCE.get(str(event.get("threat_level_id", "")))
    first = parse_time(event.get("date"))
    for number, attribute in enumerate(_attributes(event)):
        kind_part = _TYPES.get(str(attribute.get("type", "")))
        place = f"{where} attribute {attribute.get('uuid') or number}"
        if kind_part is None:
            report.skip(place, f"attribute type {attribute.get('type')!r} is not matched")
            continue
        if attribute.get("to_ids") in (False, 0, "0", "false"):
            report.skip(place, "to_ids is off")
            continue
        kind, part = kind_part
        raw = str(attribute.get("value", ""))
        if "|" in raw:
            raw = raw.split("|")[part]
        if kind == "ip" and "/" in raw:
            kind = "cidr"
        tags = event_tags + _tags(attribute)
        text = " ".join([*tags, str(attribute.get("comment", ""))]).lower()
        threat = "botnet_cc" if any(w in text for w in _C2_WORDS) else attribute.get("category")
        indicator = make(
            kind,
            raw,
            source,
            first_seen=parse_time(attribute.get("first_seen")) or first,
            last_seen=parse_time(attribute.get("last_seen"))
            or parse_time(attribute.get("timestamp")),
            malware=_family(attribute, _tags(attribute)) or family,
            confidence=confidence,
            threat=threat,
            reference=f"misp:{event.get('uuid')}" if event.get("uuid") else None,
        )
        if indicator is None:
            report.skip(place, f"not a valid {kind}: {raw!r}")
            continue
        yield indicator


def _events(doc: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(doc, dict) and "Event" in doc and isinstance(doc["Event"], dict):
        yield doc["Event"]
    elif isinstance(doc, dict) and isinstance(doc.get("response"), list):
        for item in doc["response"]:
            yield from _events(item)
    elif isinstance(doc, list):
        for item in doc:
            yield from _events(item)


class MispEventReader(FeedReader):
    """One MISP event JSON file, or a list / API answer of events."""

    name = "misp"

    def sniff(self, head: str) -> bool:
        """A JSON document with an ``Event`` object."""
        return head.lstrip().startswith(("{", "[")) and '"Event"' in head

    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """Indicators of every event in the document."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntelError(f"not valid JSON: {exc.msg}", where=f"line {exc.lineno}") from exc
        for number, event in enumerate(_events(doc)):
            where = f"event {event.get('uuid') or number}"
            yield from event_indicators(event, source, report, where)


def is_misp_feed(path: Path) -> bool:
    """True when ``path`` is a folder holding a MISP feed ``manifest.json``."""
    return path.is_dir() and (path / "manifest.json").is_file()


def read_misp_feed(folder: Path, source: str, report: FeedReport) -> Iterator[Indicator]:
    """Indicators of every event named in ``folder/manifest.json``.

    A missing or unreadable event file is reported and skipped; the rest is read.
    """
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntelError(f"unreadable MISP manifest: {exc}", where=str(manifest_path)) from exc
    if not isinstance(manifest, dict):
        raise IntelError("MISP manifest must map event uuids to events", where=str(manifest_path))
    for uuid in manifest:
        name = Path(str(uuid)).name
        event_path = folder / f"{name}.json"
        try:
            doc = json.loads(event_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            report.skip(str(event_path), f"unreadable event: {exc}")
            continue
        for event in _events(doc):
            yield from event_indicators(event, source, report, f"event {name}")
