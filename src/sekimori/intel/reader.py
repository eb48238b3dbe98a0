"""The interface every feed format implements, and the per-feed read report."""

from __future__ import annotations

import csv
import io
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from sekimori.intel.indicator import Indicator

log = logging.getLogger(__name__)

MAX_PROBLEMS = 20
_HEADER_CELL = re.compile(r"^[a-z_][a-z0-9_ ]*$")


@dataclass(slots=True)
class FeedReport:
    """What happened while reading one feed: indicators read, entries skipped and why."""

    source: str
    format: str = "?"
    indicators: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        """Count an entry that could not be read, keep its location, go on."""
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {why}")
        log.debug("skipped feed entry at %s: %s", where, why)


class FeedReader(ABC):
    """A feed format: recognizes its text by content and yields indicators.

    ``sniff`` sees the start of the text; ``parse`` yields normalized
    indicators and records every entry it cannot read in ``report``. It
    raises ``IntelError`` only when the feed as a whole is unreadable.
    """

    name: ClassVar[str]

    @abstractmethod
    def sniff(self, head: str) -> bool:
        """True when ``head`` (the start of the feed text) is this format."""

    @abstractmethod
    def parse(self, text: str, source: str, report: FeedReport) -> Iterator[Indicator]:
        """Indicators of the whole feed ``text``."""


def comment_lines(text: str, limit: int = 60) -> list[str]:
    """The leading ``#`` comment lines of ``text`` (without the ``#``)."""
    lines = []
    for line in text.splitlines()[:limit]:
        stripped = line.strip()
        if stripped.startswith("#"):
            lines.append(stripped.lstrip("#").strip())
        elif stripped:
            break
    return lines


def csv_records(text: str, report: FeedReport) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of an abuse.ch-style CSV: ``#`` comments, header in the last comment or first row.

    Yields ``(line number, {column: value})``; short rows are skipped and reported.
    """
    header: list[str] | None = None
    last_comment: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            last_comment = stripped.lstrip("#").strip()
            continue
        row = next(csv.reader(io.StringIO(stripped), skipinitialspace=True))
        if header is None:
            candidate = [c.strip().strip('"').lower() for c in row]
            commented = _header_from(last_comment)
            if commented and len(commented) == len(row):
                header = commented
            elif all(_HEADER_CELL.match(c) for c in candidate):
                header = candidate
                continue
            else:
                header = commented or [f"col{i}" for i in range(len(row))]
        if len(row) < len(header):
            report.skip(f"line {number}", f"{len(row)} columns, expected {len(header)}")
            continue
        yield number, {k: v.strip() for k, v in zip(header, row, strict=False)}


def _header_from(comment: str | None) -> list[str] | None:
    if not comment or "," not in comment:
        return None
    row = next(csv.reader(io.StringIO(comment), skipinitialspace=True))
    names = [c.strip().strip('"').lower() for c in row]
    return names if all(n and " " not in n for n in names) else None
