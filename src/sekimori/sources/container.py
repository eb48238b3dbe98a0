"""Transparent access to plain, gzip-compressed and zipped input files.

Sources never open a path themselves: ``open_members`` gives them each stream
inside a file (one for plain and gzip files, one per member of a zip), and
``read_head`` gives the sniffers the decompressed start of the first one, so
that ``conn.log.gz`` or an OTRF ``.zip`` of JSON lines is recognized by its
content like any plain file. Gzip follows RFC 1952; zip members are read with
the standard library (stored and deflated members).
"""

from __future__ import annotations

import gzip
import logging
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from sekimori.errors import SourceError

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
# A zip member larger than this (uncompressed) is not read: zip-bomb guard.
MAX_MEMBER_SIZE = 8 * 1024**3
# How many members of one zip are read at most.
MAX_MEMBERS = 10_000


@dataclass(frozen=True, slots=True)
class Member:
    """One readable stream inside a file: ``where`` names it in reports."""

    where: str
    stream: IO[bytes]


def read_head(path: Path, size: int) -> bytes:
    """The first ``size`` decompressed bytes of ``path`` (first member of a zip)."""
    with path.open("rb") as fh:
        raw = fh.read(size)
    if raw.startswith(GZIP_MAGIC):
        return _gunzip_head(raw, size)
    if raw.startswith(ZIP_MAGIC):
        return _unzip_head(raw, size)
    return raw


def _gunzip_head(raw: bytes, size: int) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, size)
    except zlib.error:
        return raw


def _unzip_head(raw: bytes, size: int) -> bytes:
    """Decompress the start of a zip's first member from the local file header."""
    if len(raw) < 30:
        return raw
    (method,) = struct.unpack_from("<H", raw, 8)
    name_len, extra_len = struct.unpack_from("<HH", raw, 26)
    start = 30 + name_len + extra_len
    if method == 0:
        return raw[start : start + size]
    if method != 8:
        return raw
    try:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw[start:], size)
    except zlib.error:
        return raw


def is_zip(path: Path) -> bool:
    """True when ``path`` starts like a zip archive."""
    with path.open("rb") as fh:
        return fh.read(4) == ZIP_MAGIC


@contextmanager
def open_stream(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for reading, gunzipped on the fly when it is gzip."""
    with path.open("rb") as fh:
        if fh.read(2) == GZIP_MAGIC:
            fh.seek(0)
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                yield cast(IO[bytes], gz)
        else:
            fh.seek(0)
            yield fh


def open_members(path: Path) -> Iterator[Member]:
    """Each stream inside ``path``: itself (gunzipped), or every zip member.

    Folders inside the zip, hidden members and members over ``MAX_MEMBER_SIZE``
    are left out; a broken zip raises ``SourceError``.
    """
    if not is_zip(path):
        with open_stream(path) as stream:
            yield Member(str(path), stream)
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"unreadable zip archive: {exc}", where=str(path)) from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        for info in infos[:MAX_MEMBERS]:
            name = info.filename
            if Path(name).name.startswith(".") or name.startswith("__MACOSX/"):
                continue
            if info.file_size > MAX_MEMBER_SIZE:
                log.warning("zip member %s of %s is too large, not read", name, path)
                continue
            try:
                with archive.open(info) as member:
                    yield Member(f"{path}!{name}", member)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
                raise SourceError(f"unreadable zip member {name}: {exc}", where=str(path)) from exc


def iter_line_chunks(
    stream: IO[bytes], chunk_size: int = 32 << 20, prefix: bytes = b""
) -> Iterator[tuple[int, bytes]]:
    """Blocks of whole lines from ``stream`` with the 1-based number of their first line.

    Each block ends at a newline (except the last one of a file without a final
    newline), so that vectorized parsers never see half a record. ``prefix``
    is data already read from the start of ``stream``.
    """
    line = 1
    rest = b""
    pending = prefix
    while True:
        block = pending or stream.read(chunk_size)
        pending = b""
        if not block:
            break
        data = rest + block
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        chunk, rest = data[: cut + 1], data[cut + 1 :]
        yield line, chunk
        line += chunk.count(b"\n")
    if rest:
        yield line, rest
