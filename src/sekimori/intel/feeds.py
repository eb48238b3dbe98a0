"""Reading a feed: find its format by content, then read it into indicators.

``READERS`` is the explicit registry, in sniffing order (most specific first;
the plain list is the fallback). ``read_feed`` takes a file, a MISP feed folder
or a URL, and returns the indicators with a report of what was skipped.
"""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sekimori.errors import IntelError
from sekimori.intel.feodo import FeodoCsvReader, FeodoJsonReader
from sekimori.intel.indicator import Indicator
from sekimori.intel.misp import MispEventReader, is_misp_feed, read_misp_feed
from sekimori.intel.plain import PlainListReader
from sekimori.intel.reader import FeedReader, FeedReport
from sekimori.intel.stix import StixBundleReader
from sekimori.intel.threatfox import ThreatFoxCsvReader, ThreatFoxJsonReader
from sekimori.intel.urlhaus import UrlhausCsvReader

log = logging.getLogger(__name__)

READERS: dict[str, type[FeedReader]] = {
    StixBundleReader.name: StixBundleReader,
    MispEventReader.name: MispEventReader,
    ThreatFoxJsonReader.name: ThreatFoxJsonReader,
    FeodoJsonReader.name: FeodoJsonReader,
    ThreatFoxCsvReader.name: ThreatFoxCsvReader,
    UrlhausCsvReader.name: UrlhausCsvReader,
    FeodoCsvReader.name: FeodoCsvReader,
    PlainListReader.name: PlainListReader,
}
FORMAT_ALIASES = {
    "feodo": "feodo-csv",
    "urlhaus": "urlhaus-csv",
    "threatfox": "threatfox-json",
    "stix2": "stix",
    "misp-feed": "misp",
    "text": "plain",
}
HEAD_CHARS = 8192
MAX_FEED_BYTES = 512 * 1024 * 1024
FETCH_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class FeedResult:
    """The indicators of one feed and the report of reading it."""

    indicators: list[Indicator]
    report: FeedReport


def sniff_feed(head: str) -> FeedReader:
    """The reader that recognizes the start of a feed (the plain list as the last resort)."""
    for reader_type in READERS.values():
        reader = reader_type()
        if reader.sniff(head):
            return reader
    raise IntelError("not a known feed format (JSON that is neither STIX, MISP nor abuse.ch)")


def reader_for(format_name: str) -> FeedReader:
    """The reader registered under ``format_name`` (or one of its aliases)."""
    name = FORMAT_ALIASES.get(format_name.lower(), format_name.lower())
    if name not in READERS:
        known = ", ".join([*READERS, *FORMAT_ALIASES])
        raise IntelError(f"unknown feed format {format_name!r} (known: {known})")
    return READERS[name]()


def decode(data: bytes, where: str) -> str:
    """Feed bytes as text (UTF-8 with or without BOM, Latin-1 as the fallback)."""
    if b"\x00" in data[:HEAD_CHARS]:
        raise IntelError("binary data, not a feed", where=where)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_feed(text: str, source: str, format_name: str | None = None) -> FeedResult:
    """Indicators of feed ``text`` named ``source``; the format is sniffed unless given."""
    reader = reader_for(format_name) if format_name else sniff_feed(text[:HEAD_CHARS])
    report = FeedReport(source=source, format=reader.name)
    indicators = list(reader.parse(text, source, report))
    report.indicators = len(indicators)
    return FeedResult(indicators, report)


def fetch(url: str) -> bytes:
    """The body of an ``http(s)`` feed URL (size-limited); only called for configured URLs."""
    if not url.lower().startswith(("http://", "https://")):
        raise IntelError("only http and https feed URLs are fetched", where=url)
    request = urllib.request.Request(url, headers={"User-Agent": "sekimori-intel"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            data: bytes = response.read(MAX_FEED_BYTES + 1)
    except OSError as exc:
        raise IntelError(f"cannot fetch feed: {exc}", where=url) from exc
    if len(data) > MAX_FEED_BYTES:
        raise IntelError("feed larger than the size limit", where=url)
    return data


def source_name(location: str) -> str:
    """A feed name from its location: the file or folder name without extension."""
    stem = location.rstrip("/").rsplit("/", 1)[-1]
    return stem.split(".", 1)[0] or stem or "feed"


def read_feed(
    location: str | Path,
    name: str | None = None,
    format_name: str | None = None,
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> FeedResult:
    """Indicators of a feed file, MISP feed folder or URL.

    With ``ttl`` and ``now``, indicators without their own expiry expire
    ``ttl`` after this reading (or after their last sighting, if later): an
    entry a feed keeps listing stays, one it drops ages out.
    """
    text_location = str(location)
    source = name or source_name(text_location)
    if text_location.lower().startswith(("http://", "https://")):
        result = parse_feed(decode(fetch(text_location), text_location), source, format_name)
    else:
        path = Path(location)
        if is_misp_feed(path):
            report = FeedReport(source=source, format="misp-feed")
            indicators = list(read_misp_feed(path, source, report))
            report.indicators = len(indicators)
            result = FeedResult(indicators, report)
        else:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise IntelError(exc.strerror or str(exc), where=str(path)) from exc
            if len(data) > MAX_FEED_BYTES:
                raise IntelError("feed larger than the size limit", where=str(path))
            try:
                result = parse_feed(decode(data, str(path)), source, format_name)
            except IntelError as exc:
                where = f"{path}:{exc.where}" if exc.where else str(path)
                raise IntelError(exc.message, where=where) from exc
    if ttl is not None and now is not None:
        result = FeedResult([i.with_ttl(ttl, now) for i in result.indicators], result.report)
    log.info(
        "feed %s (%s): %d indicators, %d skipped",
        source,
        result.report.format,
        len(result.indicators),
        result.report.skipped,
    )
    return result
