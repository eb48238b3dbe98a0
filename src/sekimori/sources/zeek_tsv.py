"""Zeek's tab-separated ASCII logs, read block by block with polars.

The format is Zeek's ASCII writer (``Log::WRITER_ASCII``): ``#separator``,
``#set_separator``, ``#empty_field``, ``#unset_field``, ``#path``,
``#fields`` and ``#types`` header lines, one record per line, ``#close`` at
the end (missing when the log was cut short). A block of plain data lines is
split by polars' CSV reader, any other block line by line with vectorized
expressions, then typed; a row with the wrong number of fields is counted
with its line number and left out. Headers may repeat mid-file (logs
concatenated with ``cat``); each section is read with its own header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import IO

import polars as pl

from sekimori.errors import SourceError
from sekimori.sources.base import MAX_PROBLEMS, ReadReport
from sekimori.sources.container import iter_line_chunks
from sekimori.sources.frame import epoch_to_datetime
from sekimori.sources.jsonrecords import LINE_COLUMN

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_TEXT = "__text"
_BOM = b"\xef\xbb\xbf"
_VALUE_ESCAPE = re.compile(r"\\\\|\\x[0-9a-fA-F]{2}")


@dataclass(frozen=True, slots=True)
class ZeekHeader:
    """The ``#`` lines of one section of a Zeek ASCII log."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    opened: str | None = None

    def with_line(self, line: str) -> ZeekHeader:
        """The header updated by one ``#`` line."""
        if line.startswith("#separator"):
            value = line[len("#separator") :].strip()
            return replace(self, separator=_unescape(value) or "\t")
        key, _, value = line[1:].partition(self.separator)
        if key == "set_separator":
            return replace(self, set_separator=_unescape(value))
        if key == "empty_field":
            return replace(self, empty_field=value)
        if key == "unset_field":
            return replace(self, unset_field=value)
        if key == "path":
            return replace(self, path=value or None)
        if key == "fields":
            return replace(self, fields=tuple(value.split(self.separator)), types=())
        if key == "open":
            return replace(self, opened=value or None)
        if key == "types":
            return replace(self, types=tuple(value.split(self.separator)))
        return self


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m[1], 16)), value)


def looks_like_tsv(head: bytes) -> bool:
    """Zeek ASCII logs start with the ``#separator`` line (or at least ``#fields``)."""
    start = head.lstrip(b"\xef\xbb\xbf")
    return start.startswith(b"#separator") or (start.startswith(b"#") and b"\n#fields\t" in start)


def read_tsv(
    stream: IO[bytes],
    where: str,
    report: ReadReport,
    chunk_size: int = 32 << 20,
    prefix: bytes = b"",
) -> Iterator[tuple[ZeekHeader, pl.DataFrame]]:
    """Typed frames (raw Zeek field names plus ``__line``) with the header they follow.

    ``prefix`` is what the caller already read from ``stream``.
    """
    header = ZeekHeader()
    for first, chunk in iter_line_chunks(stream, chunk_size, prefix):
        while chunk.startswith(_BOM):
            chunk = chunk[len(_BOM) :]
        line = first
        pos = 0
        has_meta = b"#" in chunk
        while pos < len(chunk):
            if chunk.startswith(b"#", pos):
                meta = pos
            else:
                found = chunk.find(b"\n#", pos) if has_meta else -1
                meta = len(chunk) if found < 0 else found + 1
            body = chunk[pos:meta]
            if body:
                yield from _segment(header, body, line, where, report)
            if meta == len(chunk):
                break
            line += body.count(b"\n")
            end = chunk.find(b"\n", meta)
            end = len(chunk) if end < 0 else end
            text = chunk[meta:end].decode("utf-8", errors="replace").removesuffix("\r")
            header = header.with_line(text)
            line += 1
            pos = end + 1


def _segment(
    header: ZeekHeader, body: bytes, first: int, where: str, report: ReadReport
) -> Iterator[tuple[ZeekHeader, pl.DataFrame]]:
    """Typed rows of a block of data lines (no ``#`` line) whose first line is ``first``."""
    frame = _fast_split(header, body, first)
    if frame is None:
        text = body.decode("utf-8", errors="replace")
        lines = (
            pl.DataFrame({_TEXT: [text]})
            .select(pl.col(_TEXT).str.strip_suffix("\n").str.split("\n"))
            .explode(_TEXT)
            .with_row_index(LINE_COLUMN, offset=first)
            .with_columns(pl.col(LINE_COLUMN).cast(pl.Int64), pl.col(_TEXT).str.strip_suffix("\r"))
        )
        yield from _section(header, lines, where, report, escaped="\\" in text)
        return
    typed = frame.with_columns(_typed(header))
    yield header, unescape_strings(typed) if b"\\" in body else typed


def _fast_split(header: ZeekHeader, body: bytes, first: int) -> pl.DataFrame | None:
    """The block split by polars' CSV reader when every line is a plain, whole record.

    None when the block needs the careful path: a blank line, a carriage
    return, a line with too many or too few fields, an empty field, text that
    is not UTF-8, or a separator the CSV reader cannot take. The reader
    refuses long lines and leaves the fields missing from short (or blank)
    lines null, as it does empty fields: a frame without nulls is exact.
    """
    sep = header.separator
    if not header.fields or len(sep) != 1 or not sep.isascii() or sep in "\n\r":
        return None
    if b"\r" in body or body.startswith(_BOM):  # the reader would drop a byte-order mark
        return None
    names = list(_unique(header.fields))
    try:
        frame = pl.read_csv(
            body,
            separator=sep,
            has_header=False,
            schema=dict.fromkeys(names, pl.String),
            quote_char=None,
            raise_if_empty=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
        return None
    if frame.height == 0 or any(frame.null_count().row(0)):
        return None
    return frame.with_row_index(LINE_COLUMN, offset=first).with_columns(
        pl.col(LINE_COLUMN).cast(pl.Int64)
    )


def _section(
    header: ZeekHeader,
    lines: pl.DataFrame,
    where: str,
    report: ReadReport,
    *,
    escaped: bool = True,
) -> Iterator[tuple[ZeekHeader, pl.DataFrame]]:
    lines = lines.filter(pl.col(_TEXT).str.len_bytes() > 0)
    if lines.height == 0:
        return
    if not header.fields:
        raise SourceError("Zeek log without a #fields header line", where=where)
    width = len(header.fields)
    counted = lines.with_columns(
        (pl.col(_TEXT).str.count_matches(header.separator, literal=True) + 1).alias("__n")
    )
    bad = counted.filter(pl.col("__n") != width)
    if bad.height:
        skip_rows(report, where, bad, f"expected {width} fields")
    good = counted.filter(pl.col("__n") == width)
    if good.height == 0:
        return
    split = good.select(
        pl.col(LINE_COLUMN),
        pl.col(_TEXT)
        .str.split_exact(header.separator, width - 1)
        .struct.rename_fields(list(_unique(header.fields)))
        .alias(_TEXT),
    ).unnest(_TEXT)
    typed = split.with_columns(_typed(header))
    yield header, unescape_strings(typed) if escaped else typed


def unescape(value: str) -> str:
    r"""A value as Zeek had it before escaping: ``\\`` is one backslash, ``\xHH`` one byte.

    Escaped bytes that form UTF-8 become their characters; others stay ``\xHH``.
    """
    out = bytearray()
    pos = 0
    for match in _VALUE_ESCAPE.finditer(value):
        out += value[pos : match.start()].encode()
        escape = match[0]
        out += b"\\" if escape == "\\\\" else bytes([int(escape[2:], 16)])
        pos = match.end()
    out += value[pos:].encode()
    return out.decode("utf-8", errors="backslashreplace")


def unescape_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Undo the ASCII writer's escapes in text columns, only in the rows that have one."""
    for name, dtype in frame.schema.items():
        column = frame[name]
        if dtype == pl.String:
            rows = column.str.contains("\\", literal=True).fill_null(False).arg_true()
            if len(rows):
                fixed = [unescape(v) for v in column.gather(rows).to_list()]
                frame = frame.with_columns(column.scatter(rows, fixed))
        elif dtype == pl.List(pl.String):
            joined = column.list.join("")
            rows = joined.str.contains("\\", literal=True).fill_null(False).arg_true()
            if len(rows):
                # scatter does not take lists: rebuild the column (rare: escapes in sets)
                values = column.to_list()
                for row in rows.to_list():
                    values[row] = [unescape(x) for x in values[row]]
                frame = frame.with_columns(pl.Series(name, values, dtype=dtype))
    return frame


def skip_rows(report: ReadReport, where: str, bad: pl.DataFrame, why: str) -> None:
    """Count the rows of ``bad`` as skipped, keeping the first few line numbers."""
    shown = bad.head(MAX_PROBLEMS)
    has_count = "__n" in bad.columns
    for row in shown.iter_rows(named=True):
        found = f", found {row['__n']}" if has_count else ""
        report.skip(f"{where}:{row[LINE_COLUMN]}", f"{why}{found}")
    report.skipped += bad.height - shown.height


def _unique(names: tuple[str, ...]) -> Iterator[str]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        out = name if name not in seen and name != LINE_COLUMN else f"{name}_{i}"
        seen.add(out)
        yield out


def _typed(header: ZeekHeader) -> list[pl.Expr]:
    """One expression per field turning its text into the dtype of its Zeek type."""
    exprs = []
    types = header.types or ("string",) * len(header.fields)
    for name, zeek_type in zip(_unique(header.fields), types, strict=False):
        raw = pl.col(name)
        unset = raw == header.unset_field
        kind = zeek_type.split("[", 1)[0]
        value: pl.Expr
        if kind == "time":
            value = epoch_to_datetime(raw)
        elif kind in ("interval", "double"):
            value = raw.cast(pl.Float64, strict=False)
        elif kind in ("count", "int", "port"):
            value = raw.cast(pl.Int64, strict=False)
        elif kind == "bool":
            value = pl.when(raw == "T").then(True).when(raw == "F").then(False).otherwise(None)
        elif kind in ("set", "vector", "table"):
            value = (
                pl.when(raw == header.empty_field)
                .then(pl.lit([], dtype=pl.List(pl.String)))
                .otherwise(raw.str.split(header.set_separator))
            )
        else:
            value = pl.when(raw == header.empty_field).then(pl.lit("")).otherwise(raw)
        if kind in _PARSED and _parses_to_null(header.unset_field, kind):
            # the marker is no number, time or T/F: parsing already turns it to null
            exprs.append(value.alias(name))
        else:
            exprs.append(pl.when(unset).then(None).otherwise(value).alias(name))
    return exprs


_PARSED = frozenset({"time", "interval", "double", "count", "int", "port", "bool"})


@lru_cache(maxsize=256)
def _parses_to_null(marker: str, kind: str) -> bool:
    """Whether the unset marker, typed as a field of ``kind``, comes out null anyway."""
    if kind == "bool":
        return marker not in ("T", "F")
    if kind == "time":
        parsed = pl.select(epoch_to_datetime(pl.lit(marker))).item()
    else:
        dtype = pl.Int64 if kind in ("count", "int", "port") else pl.Float64
        parsed = pl.select(pl.lit(marker).cast(dtype, strict=False)).item()
    return parsed is None
