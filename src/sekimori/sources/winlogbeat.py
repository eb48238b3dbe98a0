"""Windows events shipped as JSON lines by Winlogbeat (ECS) or in the flat OTRF shape.

Winlogbeat writes ``{"@timestamp", "winlog": {"channel", "event_id",
"event_data": {…}, "computer_name", "record_id"}, "event", "host", …}``
(Elastic's Winlogbeat field reference; Winlogbeat 6 put the same fields at
the top level: ``log_name``, ``event_id``, ``event_data``). The OTRF
Security-Datasets exports (nxlog → Logstash) are flat: ``EventID``, ``Channel``, ``Hostname``,
``SourceName`` and the EventData fields at the top level. Zips of such files
and tars (``.tar.gz``) are read member by member.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from sekimori.model import EventBatch
from sekimori.sources.base import ReadContext, ReadReport, Source
from sekimori.sources.container import open_members
from sekimori.sources.jsonrecords import iter_stream_objects
from sekimori.sources.windows import (
    NotWindowsEvent,
    WindowsBatcher,
    record_from_flat,
    record_from_winlogbeat,
)

_OBJECT = re.compile(rb"^\s*\[?\s*\{")


class WinlogbeatSource(Source):
    """Winlogbeat/ECS NDJSON and OTRF flat JSON lines of Windows events."""

    name: ClassVar[str] = "winlogbeat"

    def sniff(self, head: bytes, filename: str) -> bool:
        """JSON with a ``winlog`` object (or Winlogbeat 6 keys), or ``EventID`` and ``Channel``."""
        start = head.lstrip(b"\xef\xbb\xbf")
        if not _OBJECT.match(start):
            return False
        if b'"Event"' in start and b'"System"' in start:
            return False  # the evtx_dump shape
        if b'"winlog"' in start or b'"winlogbeat"' in start:
            return True
        if b'"event_id"' in start and (b'"log_name"' in start or b'"event_data"' in start):
            return True
        return b'"EventID"' in start and (b'"Channel"' in start or b'"SourceName"' in start)

    def read(self, path: Path, ctx: ReadContext, report: ReadReport) -> Iterator[EventBatch]:
        """Every object as a ``windows`` event; other objects are counted as skipped."""
        for member in open_members(path, report):
            batcher = WindowsBatcher(ctx, str(path), report)
            for line, doc in iter_stream_objects(member.stream, member.where, report):
                where = f"{member.where}:{line}"
                try:
                    shipped = "winlog" in doc or "log_name" in doc
                    parse = record_from_winlogbeat if shipped else record_from_flat
                    record = parse(doc, where)
                except NotWindowsEvent as exc:
                    report.skip(where, str(exc))
                    continue
                if batcher.take(record):
                    yield from batcher.flush()
            yield from batcher.flush()
