"""Binary Windows event logs (``.evtx``), read with the ``evtx`` package.

The file format is Microsoft's MS-EVEN6 (BinXml in 64 KiB chunks). The
``evtx`` package (omerbenamram/evtx) renders each record to the same JSON
shape ``evtx_dump`` prints, which ``windows.WindowsBatcher.take_event_json`` turns
into the shared Windows columns. A corrupt chunk is counted with the record
ids it held and the rest of the file is still read.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import evtx as evtx_lib

from sekimori.errors import SourceError
from sekimori.model import EventBatch
from sekimori.sources.base import ReadContext, ReadReport, Source
from sekimori.sources.container import is_plain, open_members
from sekimori.sources.jsonrecords import loads
from sekimori.sources.windows import NotWindowsEvent, WindowsBatcher

log = logging.getLogger(__name__)

MAGIC = b"ElfFile\x00"
# An EVTX inside gzip, zip or tar is decompressed in memory up to this size.
MAX_PACKED_EVTX = 1 << 30
HEADER_SIZE = 4096
CHUNK_SIZE = 65536
_RECORD_RANGE = re.compile(r"record IDs? (\d+)(?:\.\.|-)(\d+)")


class EvtxSource(Source):
    """Windows ``.evtx`` files (plain, gzip, or in a zip/tar): one ``windows`` event per record."""

    name: ClassVar[str] = "evtx"

    def sniff(self, head: bytes, filename: str) -> bool:
        """EVTX files start with the ``ElfFile`` signature, whatever their name."""
        return head.startswith(MAGIC)

    def read(self, path: Path, ctx: ReadContext, report: ReadReport) -> Iterator[EventBatch]:
        """Records in ``ctx.batch_size`` batches; corrupt chunks are counted and skipped."""
        for where, parser in _parsers(path, report):
            batcher = WindowsBatcher(ctx, str(path), report)
            for doc, place in _events(parser, where, report):
                try:
                    full = batcher.take_event_json(doc, place)
                except NotWindowsEvent as exc:
                    report.skip(place, f"unreadable record: {_one_line(exc)}")
                    continue
                if full:
                    yield from batcher.flush()
            yield from batcher.flush()
        if is_plain(path):
            _check_size(path, report)


def _parsers(path: Path, report: ReadReport) -> Iterator[tuple[str, Any]]:
    """A parser per EVTX inside ``path``: the file itself, or each gzip/zip/tar member."""
    if is_plain(path):
        yield str(path), _parser(str(path), str(path))
        return
    for member in open_members(path, report):
        data = member.stream.read(MAX_PACKED_EVTX + 1)
        if len(data) > MAX_PACKED_EVTX:
            report.skip(member.where, "packed EVTX larger than 1 GiB, not read")
        elif not data.startswith(MAGIC):
            report.skip(member.where, "not an EVTX file")
        else:
            yield member.where, _parser(io.BytesIO(data), member.where)


def _parser(source: str | io.BytesIO, where: str) -> Any:
    try:
        return evtx_lib.PyEvtxParser(source)
    except (RuntimeError, ValueError, OSError) as exc:
        raise SourceError(f"not a readable EVTX file: {_one_line(exc)}", where=where) from exc


def _check_size(path: Path, report: ReadReport) -> None:
    """Count a file cut short: fewer chunks than its header announces."""
    with path.open("rb") as fh:
        header = fh.read(HEADER_SIZE)
        size = fh.seek(0, io.SEEK_END)
    if not header.startswith(MAGIC) or len(header) < HEADER_SIZE:
        return
    announced = int.from_bytes(header[42:44], "little")
    present = (size - HEADER_SIZE) // CHUNK_SIZE
    if present < announced:
        report.skip(
            str(path), f"truncated: header announces {announced} chunks, file holds {present}"
        )


def _events(parser: Any, where: str, report: ReadReport) -> Iterator[tuple[Any, str]]:
    """Each record as an evtx JSON document and its place; errors of the parser become skips."""
    iterator = parser.records_json()
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError) as exc:
            message = _one_line(exc)
            found = _RECORD_RANGE.search(message)
            place = f"{where}:records {found[1]}-{found[2]}" if found else f"{where}:chunk"
            report.skip(place, message)
            continue
        place = f"{where}:record {raw.get('event_record_id')}"
        try:
            doc = loads(raw["data"])
        except (json.JSONDecodeError, KeyError) as exc:
            report.skip(place, f"unreadable record: {_one_line(exc)}")
            continue
        yield doc, place


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
