"""abuse.ch URLhaus: the CSV database dump (``csv_recent``/``csv_online``).

Columns: ``id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter``
(the header is the last ``#`` comment line of the banner). The text lists
(``text_recent``, ``text_online``) are plain URL lists (``plain.py``). Entries
are malware download locations (``threat`` = ``malware_download``).
"""

from __future__ import annotations

from collections.abc import Iterator

from sekimori.intel.indicator import Indicator, make, parse_time
from sekimori.intel.reader import FeedReader, FeedReport, comment_lines, csv_records

CONFIDENCE = 80
_FAMILY_TAGS = {"32-bit", "64-bit", "elf", "exe", "dll", "doc", "zip", "arm", "mips", "x86"}


def _family(tags: str) -> str | None:
    for tag in (t.strip() for t in tags.split(",")):
        if tag and tag.lower() not in _FAMILY_TAGS and not tag.lower().startswith("ascii"):
            return tag
    return None


class UrlhausCsvReader(FeedReader):
    """URLhaus CSV dump."""

    name = "urlhaus-csv"

    def sniff(self, head: str) -> bool:
        """The banner names URLhaus, or the header has ``url_status`` and ``urlhaus_link``."""
        banner = " ".join(comment_lines(head)).lower()
        lowered = head.lower()
        return ("urlhaus" in banner and "dateadded" in lowered) or (
            "url_status" in lowered and "urlhaus_link" in lowered
        )

    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """One URL indicator per row; offline URLs are kept (they may come back)."""
        for number, row in csv_records(text, report):
            raw = row.get("url", "")
            indicator = make(
                "url",
                raw,
                source,
                first_seen=parse_time(row.get("dateadded")),
                last_seen=parse_time(row.get("last_online")) or parse_time(row.get("dateadded")),
                malware=_family(row.get("tags", "")),
                confidence=CONFIDENCE,
                threat=row.get("threat") or "malware_download",
                reference=row.get("urlhaus_link") or None,
            )
            if indicator is None:
                report.skip(f"line {number}", f"not a URL: {raw!r}")
                continue
            yield indicator
