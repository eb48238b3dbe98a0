"""Plain lists: one IP, CIDR, ``ip:port``, domain, URL or hash per line.

Comments start with ``#``, ``;`` or ``//``; hosts-file lines
(``0.0.0.0 bad.example``) give the name; a trailing comment after whitespace
is dropped. This reads Feodo's ``ipblocklist.txt``, URLhaus' text lists,
Spamhaus DROP (``a.b.c.d/n ; SBL…``) and hand-written lists alike.
"""

from __future__ import annotations

from collections.abc import Iterator

from sekimori.intel.indicator import Indicator, classify
from sekimori.intel.reader import FeedReader, FeedReport

# Hosts-file sink addresses that precede the listed name.
_SINKS = {"0.0.0.0", "127.0.0.1", "::", "::1"}  # noqa: S104


class PlainListReader(FeedReader):
    """A list of values, one per line (the fallback format)."""

    name = "plain"

    def sniff(self, head: str) -> bool:
        """Anything that is text and not JSON (the last reader tried)."""
        return not head.lstrip().startswith(("{", "["))

    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """One indicator per meaningful line."""
        for number, line in enumerate(text.splitlines(), start=1):
            value = line.strip()
            if not value or value.startswith(("#", ";", "//")):
                continue
            for marker in (" #", "\t#", " ;", "\t;"):
                value = value.split(marker, 1)[0].strip()
            fields = value.split()
            if len(fields) >= 2 and fields[0] in _SINKS:
                fields = fields[1:]
            if not fields:
                continue
            found = classify(fields[0].rstrip(",;"))
            if found is None:
                report.skip(f"line {number}", f"not an IP, CIDR, domain, URL or hash: {value!r}")
                continue
            kind, normalized = found
            yield Indicator(type=kind, value=normalized, source=source)
