"""JSON input in the three shapes shippers write: lines, arrays and concatenated objects.

``iter_objects`` walks any of them record by record (evtx_dump's pretty-printed
objects, a JSON array, NDJSON) and reports a malformed record with its line,
then resumes at the next line that starts a record. ``ndjson_frames`` is the
fast path for large JSON-lines logs (Zeek, Suricata EVE): polars reads whole
blocks, and only a block holding a bad line is re-read line by line.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Generator, Iterator
from typing import IO, Any

import orjson
import polars as pl

from sekimori.sources.base import ReadReport
from sekimori.sources.container import iter_line_chunks
from sekimori.sources.frame import replace_surrogates

# Between records: whitespace, array brackets and commas.
_GAP = re.compile(r"[\s,\[\]]*")
# evtx_dump writes a "Record N" line before each object.
_RECORD_LABEL = re.compile(r"Record \d+[^\n]*")
# Where to resume after a malformed record: the next line that opens an object.
_NEXT_OBJECT = re.compile(r"\n[ \t]*[\[,]?[ \t]*\{")
LINE_COLUMN = "__line"
# A JSON escape of a high surrogate, alone or the first half of a pair (see _fast_frame).
_HIGH_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abAB]")
# orjson reads integers outside [-2**63, 2**64) as floats (which round to the bounds or beyond).
_NARROWEST, _WIDEST = float(-(2**63)), float(2**64)
# Such an integer is written with 19 digits or more: a text without 19 digits in
# a row holds none. The runs are found in a copy of the bytes with every digit
# "0" and anything else a space (a regular expression reads them ten times slower).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19
# What may come before a number (and its sign) in JSON.
_BEFORE_NUMBER = frozenset(b" \t\r\n:,[")


def _may_widen(data: bytes) -> bool:
    """Whether ``data`` (UTF-8 JSON) may hold an integer orjson reads as a float.

    Each run of 19 digits or more is looked at: a number that fits (below
    2**64, or from -2**63), or digits inside a word ("SHA1=…"), are not one.
    """
    digits = data.translate(_DIGITS_ONLY)
    start = digits.find(_LONG_RUN)
    while start >= 0:
        stop = digits.find(b" ", start + len(_LONG_RUN))
        stop = len(data) if stop < 0 else stop
        negative = data[start - 1 : start] == b"-"
        before = start - 2 if negative else start - 1
        if before < 0 or data[before] in _BEFORE_NUMBER:
            value = int(data[start:stop])
            if value > 2**63 if negative else value >= 2**64:
                return True
        start = digits.find(_LONG_RUN, stop)
    return False


def iter_objects(text: str, where: str, report: ReadReport) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each JSON object in ``text`` with the line it starts on.

    A record that does not parse, or that is not an object, is counted in
    ``report`` as ``where:line`` and skipped.
    """
    scan = _Scan(text, where, report, line=1, final=True)
    yield from scan.objects()


def iter_stream_objects(
    stream: IO[bytes], where: str, report: ReadReport, chunk_size: int = 32 << 20
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``iter_objects`` over a stream read in blocks, so that large files stay small in memory.

    An object cut by a block boundary is carried over to the next block (up to
    ``MAX_RECORD`` characters; a longer one is counted as malformed).
    """
    first = stream.read(4)
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        yield from iter_objects(decode_text(first + stream.read()), where, report)
        return
    carry = ""
    line = 1
    wide = False
    for _, chunk in iter_line_chunks(stream, chunk_size, prefix=first):
        wide = _may_widen(chunk) or (wide and bool(carry))
        if not carry:
            done, line = yield from _byte_lines(chunk, line, wide)
            chunk = chunk[done:]
        text = carry + chunk.decode("utf-8", errors="replace")
        if line == 1:
            text = text.removeprefix("\ufeff")
        scan = _Scan(text, where, report, line=line, final=False, wide=wide)
        yield from scan.objects()
        carry = text[scan.pos :]
        line = scan.line
    if carry.strip():
        yield from _Scan(carry, where, report, line=line, final=True, wide=wide).objects()


def _byte_lines(
    chunk: bytes, line: int, wide: bool
) -> Generator[tuple[int, dict[str, Any]], None, tuple[int, int]]:
    """The JSON lines at the start of ``chunk`` (numbered from ``line``), read from the bytes.

    ``_Scan._json_lines`` without decoding the block first: orjson reads
    UTF-8 itself, and refuses what the decoder would replace. Returns where
    the first other line starts, and its number: the rest is scanned as text.
    """
    pos, loads, find = 0, orjson.loads, chunk.find
    while chunk.startswith(b"{", pos):
        stop = find(b"\n", pos)
        if stop < 0:
            break
        record = chunk[pos:stop]
        if not record.endswith(b"}"):
            record = record.rstrip(b" \t\r,")
            if not record.endswith(b"}"):
                break
        try:
            value = loads(record)
        except orjson.JSONDecodeError:
            break
        if wide and _has_wide_integer(value):
            break
        yield line, value
        pos, line = stop + 1, line + 1
    return pos, line


# The longest record carried from one block to the next.
MAX_RECORD = 256 << 20


class _Scan:
    """One pass over a text of JSON records; ``pos``/``line`` say where it stopped.

    ``wide``: whether the text may hold an integer orjson widens to a float
    (``_may_widen``); only then are the records orjson reads walked for one.
    """

    def __init__(
        self,
        text: str,
        where: str,
        report: ReadReport,
        line: int,
        final: bool,
        wide: bool = True,
    ) -> None:
        self.text = text
        self.where = where
        self.report = report
        self.line = line
        self.final = final
        self.wide = wide
        self.pos = 0

    def _advance(self, stop: int) -> None:
        self.line += self.text.count("\n", self.pos, stop)
        self.pos = stop

    def objects(self) -> Iterator[tuple[int, dict[str, Any]]]:
        text = self.text
        decoder = json.JSONDecoder()
        end = len(text)
        while True:
            yield from self._json_lines()
            gap = _GAP.match(text, self.pos)
            if gap is not None:
                self._advance(gap.end())
            if self.pos >= end:
                return
            label = _RECORD_LABEL.match(text, self.pos)
            if label is not None:
                if label.end() >= end and not self.final:
                    return
                self.pos = label.end()
                continue
            try:
                value, stop = _line_object(text, self.pos, end, self.final, self.wide)
                if stop < 0:
                    value, stop = decoder.raw_decode(text, self.pos)
            except (json.JSONDecodeError, RecursionError) as exc:
                resume = _NEXT_OBJECT.search(text, self.pos + 1)
                if resume is None and not self.final and end - self.pos < MAX_RECORD:
                    return  # probably cut by the block boundary: carried over
                why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                self.report.skip(f"{self.where}:{self.line}", f"malformed JSON: {why}")
                self._advance(end if resume is None else resume.start() + 1)
                continue
            if isinstance(value, dict):
                yield self.line, value
            else:
                self.report.skip(
                    f"{self.where}:{self.line}", f"not a JSON object but {type(value).__name__}"
                )
            self._advance(stop)

    def _json_lines(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """The records from ``pos`` on while each is one line of its own (JSON lines).

        What ``objects`` does for such a line, without its regular
        expressions: the line starts with "{" (no gap before it), and
        orjson reads it whole to an object (after the gap characters that
        may end it). Stops before the first other line, at ``pos``.
        """
        text, pos, line, end = self.text, self.pos, self.line, len(self.text)
        loads, find = orjson.loads, text.find
        try:
            while text.startswith("{", pos):
                stop = find("\n", pos)
                if stop < 0:
                    if not self.final:
                        return
                    stop = end
                record = text[pos:stop]
                if not record.endswith("}"):
                    record = record.rstrip(" \t\r,")
                    if not record.endswith("}"):
                        return
                try:
                    value = loads(record)
                except orjson.JSONDecodeError:
                    return
                if self.wide and _has_wide_integer(value):
                    return
                yield line, value
                # the rest of the line is gap: the next record starts on the next line
                pos, line = stop + 1, line + 1
        finally:
            self.pos, self.line = min(pos, end), line


def _line_object(text: str, pos: int, end: int, final: bool, wide: bool = True) -> tuple[Any, int]:
    """The record at ``pos`` when it fills its line (JSON lines), parsed by orjson.

    Returns ``(None, -1)`` for anything else (a pretty-printed object, two
    records on a line, a value orjson refuses such as NaN or a lone
    surrogate): the standard library's decoder reads those as before, so
    both accept the same input. ``wide``: whether the line may hold an
    integer orjson widens (else its values are not walked).
    """
    stop = text.find("\n", pos)
    if stop < 0:
        if not final:
            return None, -1
        stop = end
    line = text[pos:stop].rstrip(" \t\r,")
    if not line.endswith("}"):
        return None, -1
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, -1
    if wide and _has_wide_integer(value):
        return None, -1
    return value, pos + len(line)


def _has_wide_integer(value: Any) -> bool:
    """Whether a parsed object or array holds a float that may be an integer beyond 64 bits.

    orjson reads such integers as floats; the standard library keeps them exact.
    """
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if kind is dict or kind is list:
            if _has_wide_integer(item):
                return True
        elif kind is float and item.is_integer() and not _NARROWEST < item < _WIDEST:
            return True
    return False


def loads(text: str) -> Any:
    """``json.loads`` through orjson: the standard library reads what orjson refuses or widens."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    if _may_widen(text.encode("utf-8", "surrogatepass")) and _has_wide_integer([value]):
        return json.loads(text)
    return value


def decode_text(data: bytes) -> str:
    """Bytes as text: UTF-8 (with or without BOM), UTF-16 with BOM, bad bytes replaced."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def ndjson_frames(
    stream: IO[bytes],
    where: str,
    report: ReadReport,
    chunk_size: int = 32 << 20,
    prefix: bytes = b"",
) -> Iterator[pl.DataFrame]:
    """Frames of the JSON lines in ``stream``, nested objects as struct columns.

    Each frame carries the source line of every row in ``__line``. A line that
    is not a JSON object is counted in ``report`` and left out. ``prefix`` is
    what the caller already read from ``stream``.
    """
    for first, chunk in iter_line_chunks(stream, chunk_size, prefix):
        frame = _fast_frame(first, chunk)
        if frame is None:
            frame = _slow_frame(first, chunk, where, report)
        if frame is not None and frame.height:
            yield frame


def _fast_frame(first: int, chunk: bytes) -> pl.DataFrame | None:
    """Polars reads the block at once when every line is a non-empty JSON object.

    Not a block with the escape of a high surrogate (D800 to DBFF): polars
    reads one without its low half as a NUL, silently; line by line it
    becomes U+FFFD, and a whole pair the character it stands for.
    """
    stripped = chunk.rstrip(b"\r\n")
    if (
        not stripped
        or b"\n\n" in stripped
        or b"\n\r\n" in stripped
        or not stripped.lstrip().startswith(b"{")
        or (b"\\u" in chunk and _HIGH_SURROGATE_ESCAPE.search(chunk))
    ):
        return None
    try:
        frame = pl.read_ndjson(io.BytesIO(chunk), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError, OverflowError):
        return None
    if frame.height != stripped.count(b"\n") + 1:
        return None
    return frame.with_columns(
        pl.int_range(first, first + frame.height, dtype=pl.Int64).alias(LINE_COLUMN)
    )


def _slow_frame(first: int, chunk: bytes, where: str, report: ReadReport) -> pl.DataFrame | None:
    """Line by line: keep the objects, count the rest, let polars build the frame."""
    good: list[bytes] = []
    lines: list[int] = []
    for offset, raw in enumerate(chunk.split(b"\n")):
        text = raw.strip()
        if not text:
            continue
        number = first + offset
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            report.skip(f"{where}:{number}", f"malformed JSON: {why}")
            continue
        if not isinstance(value, dict):
            report.skip(f"{where}:{number}", f"not a JSON object but {type(value).__name__}")
            continue
        if not value:
            report.skip(f"{where}:{number}", "empty JSON object")
            continue
        good.append(_utf8_json(value))
        lines.append(number)
    if not good:
        return None
    data = b"\n".join(good)
    try:
        frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError, OverflowError):
        frame = _as_text_frame(good)
    return frame.with_columns(pl.Series(LINE_COLUMN, lines, dtype=pl.Int64))


def _utf8_json(value: dict[str, Any]) -> bytes:
    """``value`` as UTF-8 JSON; a lone surrogate (kept by the decoder) becomes U+FFFD."""
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        return dumped.encode()
    except UnicodeEncodeError:
        return replace_surrogates(dumped).encode()


def _as_text_frame(lines: list[bytes]) -> pl.DataFrame:
    """Last resort for lines polars cannot type: top-level values as JSON text."""
    rows = []
    for raw in lines:
        doc = json.loads(raw)
        rows.append({k: v if isinstance(v, str) else json.dumps(v) for k, v in doc.items()})
    return pl.from_dicts(rows, infer_schema_length=None)
