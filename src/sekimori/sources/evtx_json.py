"""Windows events as JSON in the shape ``evtx_dump`` and the ``evtx`` package print.

Each event is ``{"Event": {"System": {…}, "EventData": {…}}}`` (or
``UserData``), with XML attributes under ``#attributes``. Files hold JSON
lines, a JSON array, or pretty-printed objects one after the other (with
``Record N`` labels, as ``evtx_dump -o json`` writes them).
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
from sekimori.sources.windows import NotWindowsEvent, WindowsBatcher

_SHAPE = re.compile(rb'^\s*(?:Record \d+\s*)?[\[{]\s*(?:\{\s*)?"Event"\s*:\s*\{')


class EvtxJsonSource(Source):
    """evtx_dump-style JSON of Windows events (lines, array or concatenated objects)."""

    name: ClassVar[str] = "evtx_json"

    def sniff(self, head: bytes, filename: str) -> bool:
        """The first JSON object opens with an ``"Event"`` object that has a ``"System"``."""
        start = head.lstrip(b"\xef\xbb\xbf")
        return bool(_SHAPE.match(start)) and b'"System"' in start

    def read(self, path: Path, ctx: ReadContext, report: ReadReport) -> Iterator[EventBatch]:
        """Every event object as a ``windows`` event; malformed ones are counted."""
        for member in open_members(path, report):
            batcher = WindowsBatcher(ctx, str(path), report)
            for line, doc in iter_stream_objects(member.stream, member.where, report, 4 << 20):
                where = f"{member.where}:{line}"
                try:
                    full = batcher.take_event_json(doc, where)
                except NotWindowsEvent as exc:
                    report.skip(where, str(exc))
                    continue
                if full:
                    yield from batcher.flush()
            yield from batcher.flush()
