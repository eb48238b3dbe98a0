"""STIX 2.1 bundles: ``indicator`` objects with STIX patterns, validated by ``stix2``.

Each indicator object is checked with ``stix2.v21.Indicator`` (a bad object is
reported and skipped; the bundle goes on) and its pattern is read with
``stix2patterns``: equality (``=``) and ``IN`` comparisons on
``ipv4-addr``/``ipv6-addr:value``, ``domain-name:value``, ``url:value`` and
``file:hashes.*`` give indicators. ``valid_from``/``valid_until`` become
first seen and expiry; the family comes from ``indicates`` relationships to
``malware`` objects (or ``malware_types``/``labels``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from sekimori.errors import IntelError
from sekimori.intel.indicator import Indicator, make, parse_time
from sekimori.intel.reader import FeedReader, FeedReport

_OBJECT_KINDS = {
    "ipv4-addr": "ip",
    "ipv6-addr": "ip",
    "domain-name": "domain",
    "url": "url",
    "file": "hash",
}
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_C2_WORDS = ("c2", "c&c", "command-and-control", "command and control", "botnet")


def pattern_values(pattern: str) -> list[tuple[str, str]]:
    """``(kind, raw value)`` pairs of the equality comparisons in a STIX pattern."""
    from stix2patterns.pattern import Pattern  # type: ignore[import-untyped]

    comparisons = Pattern(pattern).inspect().comparisons
    values: list[tuple[str, str]] = []
    for object_type, items in comparisons.items():
        kind = _OBJECT_KINDS.get(object_type)
        if kind is None:
            continue
        for path, operator, operand in items:
            if kind == "hash" and (not path or path[0] != "hashes"):
                continue
            if kind != "hash" and path != ["value"]:
                continue
            if operator not in ("=", "IN"):
                continue
            values.extend((kind, m.replace("\\'", "'")) for m in _QUOTED.findall(operand))
    return values


def _families(objects: list[Mapping[str, Any]]) -> dict[str, str]:
    by_id = {str(o.get("id")): o for o in objects}
    families: dict[str, str] = {}
    for obj in objects:
        if obj.get("type") != "relationship" or obj.get("relationship_type") != "indicates":
            continue
        target = by_id.get(str(obj.get("target_ref")), {})
        if target.get("type") == "malware" and target.get("name"):
            families[str(obj.get("source_ref"))] = str(target["name"])
    return families


class StixBundleReader(FeedReader):
    """A STIX 2.1 bundle (or a bare list of STIX objects)."""

    name = "stix"

    def sniff(self, head: str) -> bool:
        """JSON that names a bundle or STIX indicator objects."""
        text = head.lstrip()
        return text.startswith(("{", "[")) and (
            re.search(r'"type"\s*:\s*"(bundle|indicator)"', head) is not None
        )

    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """Indicators of every valid ``indicator`` object."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntelError(f"not valid JSON: {exc.msg}", where=f"line {exc.lineno}") from exc
        if isinstance(doc, dict) and doc.get("type") == "bundle":
            objects = doc.get("objects", [])
        elif isinstance(doc, dict):
            objects = [doc]
        else:
            objects = doc
        if not isinstance(objects, list):
            raise IntelError("STIX bundle has no list of objects")
        objects = [o for o in objects if isinstance(o, dict)]
        families = _families(objects)
        for obj in objects:
            if obj.get("type") != "indicator":
                continue
            yield from self._indicator(obj, source, families, report)

    def _indicator(
        self,
        obj: Mapping[str, Any],
        source: str,
        families: Mapping[str, str],
        report: FeedReport,
    ) -> Iterator[Indicator]:
        # stix2 takes a fifth of a second to import: only STIX bundles pay for it.
        import stix2
        from stix2.exceptions import STIXError
        from stix2patterns.pattern import ParseException

        where = str(obj.get("id", "indicator"))
        try:
            checked = stix2.v21.Indicator(**obj, allow_custom=True)
        except (STIXError, ValueError, TypeError) as exc:
            report.skip(where, f"invalid STIX indicator: {exc}")
            return
        if str(checked.get("pattern_type", "stix")) != "stix":
            report.skip(where, f"pattern type {checked.get('pattern_type')!r} is not read")
            return
        if checked.get("revoked"):
            report.skip(where, "revoked")
            return
        try:
            values = pattern_values(str(checked.pattern))
        except ParseException as exc:
            report.skip(where, f"unparsable pattern: {exc}")
            return
        if not values:
            report.skip(where, "pattern has no IP, domain, URL or hash equality")
            return
        labels = [str(v) for v in obj.get("indicator_types", []) + obj.get("labels", [])]
        name = str(obj.get("name", "")) + " " + " ".join(labels)
        threat = "botnet_cc" if any(w in name.lower() for w in _C2_WORDS) else None
        family = families.get(where)
        confidence = obj.get("confidence")
        for kind, raw in values:
            indicator = make(
                kind,
                raw,
                source,
                first_seen=parse_time(obj.get("valid_from")),
                last_seen=parse_time(obj.get("modified")) or parse_time(obj.get("valid_from")),
                expires=parse_time(obj.get("valid_until")),
                malware=family,
                confidence=confidence if isinstance(confidence, int) else None,
                threat=threat or (labels[0] if labels else None),
                reference=where,
            )
            if indicator is None:
                report.skip(where, f"not a valid {kind}: {raw!r}")
                continue
            yield indicator
