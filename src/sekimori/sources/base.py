"""The interface every input format implements, and the per-file read report."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sekimori.model import DEFAULT_BATCH_SIZE, DEFAULT_TENANT, EventBatch

log = logging.getLogger(__name__)

# How many bytes of a file the sniffers see.
HEAD_SIZE = 8192
# How many problem lines a report keeps verbatim; the rest are only counted.
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class ReadContext:
    """What a source needs to know beyond the file: tenant and batch size."""

    tenant: str = DEFAULT_TENANT
    batch_size: int = DEFAULT_BATCH_SIZE


@dataclass(slots=True)
class ReadReport:
    """What happened while reading one file: events read, records skipped and why."""

    path: str
    source: str
    events: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    # A file found in a folder walk that no source recognizes (a README beside
    # the logs) is passed over, counted, and not reported as an error.
    passed_over: bool = False

    def skip(self, where: str, why: str) -> None:
        """Count a malformed record, keep its location for the summary, go on."""
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {why}")
        log.debug("skipped record at %s: %s", where, why)


class Source(ABC):
    """A file format: recognizes its files by content and yields event batches.

    ``sniff`` sees the first ``HEAD_SIZE`` bytes and the file name (the name is
    only a hint; content decides). ``read`` yields batches of normalized events
    and records every malformed record in ``report`` instead of raising; it
    raises ``SourceError`` only when the file as a whole cannot be read.
    """

    name: ClassVar[str]

    @abstractmethod
    def sniff(self, head: bytes, filename: str) -> bool:
        """True when ``head`` (the start of the file) is this format."""

    @abstractmethod
    def read(self, path: Path, ctx: ReadContext, report: ReadReport) -> Iterator[EventBatch]:
        """Yield batches of normalized events from ``path``."""
