"""Input formats: find files, recognize each by content, read it into event batches.

``SOURCES`` is the explicit registry, in sniffing order (most specific first).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sekimori.errors import SourceError
from sekimori.model import EventBatch, shown_path
from sekimori.sources import container
from sekimori.sources.base import HEAD_SIZE, ReadContext, ReadReport, Source
from sekimori.sources.eml import EmlSource
from sekimori.sources.evtx import EvtxSource
from sekimori.sources.evtx_json import EvtxJsonSource
from sekimori.sources.frame import empty_frame
from sekimori.sources.pcap import PcapSource
from sekimori.sources.suricata import SuricataSource
from sekimori.sources.winlogbeat import WinlogbeatSource
from sekimori.sources.zeek import ZeekSource

log = logging.getLogger(__name__)

UNRECOGNIZED = "not a recognized log, event or mail format"

SOURCES: dict[str, type[Source]] = {
    EvtxSource.name: EvtxSource,
    PcapSource.name: PcapSource,
    ZeekSource.name: ZeekSource,
    EvtxJsonSource.name: EvtxJsonSource,
    SuricataSource.name: SuricataSource,
    WinlogbeatSource.name: WinlogbeatSource,
    EmlSource.name: EmlSource,
}


@dataclass(frozen=True, slots=True)
class FileBatch:
    """A batch with the report of the file it came from."""

    report: ReadReport
    batch: EventBatch


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every regular file under ``paths`` (files as given, folders recursively, sorted).

    Hidden files and folders (``.git``, ``.DS_Store``) are left out of folder walks.
    """
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in rel.parts):
                    yield child
        elif path.exists():
            yield path
        else:
            raise SourceError("no such file or folder", where=str(path))


def read_head(path: Path) -> bytes:
    """The first bytes of ``path``, as the sniffers see them (decompressed for gzip and zip)."""
    return container.read_head(path, HEAD_SIZE)


def sniff(path: Path, head: bytes | None = None) -> Source | None:
    """The source that recognizes ``path`` by its content, or None."""
    head = read_head(path) if head is None else head
    for source_type in SOURCES.values():
        source = source_type()
        if source.sniff(head, path.name):
            return source
    return None


def read_file(path: Path, ctx: ReadContext) -> Iterator[FileBatch]:
    """Batches of one file; problems end up in the report, never as a traceback.

    A file no source recognizes, or one that breaks half-way, gives a report
    with ``error`` set and the batches read before the break. An empty (or
    blank) plain file gives a report of source ``empty`` with no events and no
    error; an archive with nothing readable in it is not recognized.
    """
    report = ReadReport(path=shown_path(str(path)), source="?")
    try:
        head = read_head(path)
        if not head.strip() and container.is_plain(path):
            report.source = "empty"
            yield FileBatch(report, _empty(path))
            return
        source = sniff(path, head)
        if source is None:
            report.error = UNRECOGNIZED
            yield FileBatch(report, _empty(path))
            return
        report.source = source.name
        empty = True
        for batch in source.read(path, ctx, report):
            report.events += len(batch)
            empty = False
            yield FileBatch(report, batch)
        if empty:
            yield FileBatch(report, _empty(path))
    except SourceError as exc:
        report.error = exc.message
        yield FileBatch(report, _empty(path))
    except OSError as exc:
        report.error = exc.strerror or str(exc)
        yield FileBatch(report, _empty(path))
    except Exception as exc:  # a parser bug must not end the run: report it as this file's error
        log.debug("unexpected error reading %s", path, exc_info=True)
        report.error = f"unexpected {type(exc).__name__}: {exc}"
        yield FileBatch(report, _empty(path))


def _empty(path: Path) -> EventBatch:
    return EventBatch(dataset="empty", frame=empty_frame(), path=str(path))


__all__ = [
    "SOURCES",
    "UNRECOGNIZED",
    "FileBatch",
    "ReadContext",
    "ReadReport",
    "Source",
    "iter_files",
    "read_file",
    "sniff",
]
