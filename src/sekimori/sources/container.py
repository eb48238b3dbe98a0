"""Transparent access to plain, gzip-compressed, zipped and tarred input files.

Sources never open a path themselves: ``open_members`` gives them each stream
inside a file (one for plain and gzip files, one per member of a zip or tar),
and ``read_head`` gives the sniffers the decompressed start of the first one,
so that ``conn.log.gz`` or an OTRF ``.zip``/``.tar.gz`` of JSON lines is
recognized by its content like any plain file. Gzip follows RFC 1952; zip and
tar members are read with the standard library.

Compressed data that ends early or is damaged (a cut ``.gz``, a bad CRC) is
not an error of the whole file: the stream ends where the damage starts, the
records read so far are kept, and the damage is counted in the read report.
"""

from __future__ import annotations

import io
import logging
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from sekimori.errors import SourceError
from sekimori.sources.base import ReadReport

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
TAR_MAGIC_OFFSET = 257
# A member larger than this (uncompressed) is not read: zip-bomb guard.
MAX_MEMBER_SIZE = 8 * 1024**3
# How many members of one archive are read at most.
MAX_MEMBERS = 10_000
_STEP = 1 << 20
_DAMAGE = (EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError)


@dataclass(frozen=True, slots=True)
class Member:
    """One readable stream inside a file: ``where`` names it in reports."""

    where: str
    stream: IO[bytes]


class _Tolerant(io.RawIOBase):
    """A stream that ends, instead of raising, where compressed data is damaged."""

    def __init__(self, inner: IO[bytes], where: str, report: ReadReport | None) -> None:
        super().__init__()
        self._inner = inner
        self._where = where
        self._report = report
        self.damaged: str | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        # Read in small steps so that damage loses at most one step of data.
        wanted = -1 if size is None else size
        parts: list[bytes] = []
        got = 0
        while self.damaged is None and (wanted < 0 or got < wanted):
            step = _STEP if wanted < 0 else min(_STEP, wanted - got)
            try:
                data = self._inner.read(step)
            except _DAMAGE as exc:
                self.damaged = " ".join(str(exc).split()) or type(exc).__name__
                if self._report is not None:
                    why = f"compressed data damaged or cut short: {self.damaged}"
                    self._report.skip(self._where, why)
                break
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _tolerant(inner: IO[bytes], where: str, report: ReadReport | None) -> IO[bytes]:
    return cast(IO[bytes], _Tolerant(inner, where, report))


def read_head(path: Path, size: int) -> bytes:
    """The first ``size`` decompressed bytes of ``path`` (of the first member of an archive)."""
    window = max(size, 512)  # enough to see a tar header
    with path.open("rb") as fh:
        raw = fh.read(window)
    if raw.startswith(GZIP_MAGIC):
        head = _gunzip_head(raw, window)
        if not _is_tar(head):
            return head[:size]
    elif not raw.startswith(ZIP_MAGIC) and not _is_tar(raw):
        return raw[:size]
    try:
        return _first_member_head(path, size)
    except SourceError:
        return _unzip_head(raw, size) if raw.startswith(ZIP_MAGIC) else b""


def _first_member_head(path: Path, size: int) -> bytes:
    """The head of the first member of an archive that has content (of the first ten)."""
    for count, member in enumerate(open_members(path), start=1):
        head = member.stream.read(size)
        if head.strip() or count >= 10:
            return head
    return b""


def _is_tar(head: bytes) -> bool:
    return head[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] == b"ustar"


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


def is_plain(path: Path) -> bool:
    """True when ``path`` is neither compressed nor an archive (read as it is)."""
    with path.open("rb") as fh:
        head = fh.read(TAR_MAGIC_OFFSET + 5)
    return not (head.startswith((GZIP_MAGIC, ZIP_MAGIC)) or _is_tar(head))


def is_zip(path: Path) -> bool:
    """True when ``path`` starts like a zip archive."""
    with path.open("rb") as fh:
        return fh.read(4) == ZIP_MAGIC


@contextmanager
def open_stream(path: Path, report: ReadReport | None = None) -> Iterator[IO[bytes]]:
    """``path`` opened for reading, gunzipped on the fly when it is gzip."""
    with path.open("rb") as fh:
        if fh.read(2) == GZIP_MAGIC:
            fh.seek(0)
            yield _tolerant(cast(IO[bytes], _Gunzip(fh)), str(path), report)
        else:
            fh.seek(0)
            yield fh


def open_members(path: Path, report: ReadReport | None = None) -> Iterator[Member]:
    """Each stream inside ``path``: itself (gunzipped), or every zip or tar member.

    Folders, hidden members and members over ``MAX_MEMBER_SIZE`` are left out;
    an archive whose index cannot be read raises ``SourceError``. Damage found
    while reading is counted in ``report`` and ends that stream.
    """
    if is_zip(path):
        yield from _zip_members(path, report)
        return
    with open_stream(path, report) as stream:
        head = stream.read(512)
        if not _is_tar(head):
            yield Member(str(path), cast(IO[bytes], _Prefixed(head, stream)))
            return
        yield from _tar_members(path, cast(IO[bytes], _Prefixed(head, stream)), report)


def _skip_member(name: str, size: int, path: Path) -> bool:
    if Path(name).name.startswith(".") or name.startswith("__MACOSX/"):
        return True
    if size > MAX_MEMBER_SIZE:
        log.warning("member %s of %s is too large, not read", name, path)
        return True
    return False


def _zip_members(path: Path, report: ReadReport | None) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceError(f"unreadable zip archive: {exc}", where=str(path)) from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        for info in infos[:MAX_MEMBERS]:
            if _skip_member(info.filename, info.file_size, path):
                continue
            where = f"{path}!{info.filename}"
            why = _unreadable(info)
            if why is None:
                try:
                    member = archive.open(info)
                except (zipfile.BadZipFile, RuntimeError, ValueError) as exc:
                    why = f"unreadable zip member: {exc}"
            if why is not None:
                if report is not None:
                    report.skip(where, why)
                continue
            with member:
                yield Member(where, _tolerant(member, where, report))


_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _unreadable(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member cannot be read here (encrypted, unknown method), or None."""
    if info.flag_bits & 0x1:
        return "encrypted zip member, not read"
    if info.compress_type not in _ZIP_METHODS:
        return f"zip compression method {info.compress_type} is not supported"
    return None


def _tar_members(path: Path, stream: IO[bytes], report: ReadReport | None) -> Iterator[Member]:
    try:
        archive = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 (closed by the with below)
    except tarfile.TarError as exc:
        raise SourceError(f"unreadable tar archive: {exc}", where=str(path)) from exc
    with archive:
        count = 0
        while count < MAX_MEMBERS:
            try:
                info = archive.next()
            except tarfile.TarError as exc:
                if report is not None:
                    report.skip(str(path), f"tar archive damaged or cut short: {exc}")
                return
            if info is None:
                return
            count += 1
            if not info.isfile() or _skip_member(info.name, info.size, path):
                continue
            extracted = archive.extractfile(info)
            if extracted is None:
                continue
            where = f"{path}!{info.name}"
            yield Member(where, _tolerant(extracted, where, report))


class _Gunzip(io.RawIOBase):
    """Gzip members one after the other (RFC 1952); trailing garbage is ignored, as gzip(1) does.

    A stream that ends before its end-of-stream marker raises ``EOFError``.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        wanted = _STEP if size is None or size < 0 else max(1, size)
        while not self._done:
            inflate = self._inflate
            if inflate.eof:
                data = self._next_member(inflate.unused_data + inflate.unconsumed_tail, wanted)
            elif inflate.unconsumed_tail:
                data = inflate.decompress(inflate.unconsumed_tail, wanted)
            else:
                block = self._raw.read(_STEP)
                if not block:
                    self._done = True
                    raise EOFError("compressed file ended before the end-of-stream marker")
                data = inflate.decompress(block, wanted)
            if data:
                return data
        return b""

    def _next_member(self, rest: bytes, wanted: int) -> bytes:
        if len(rest) < 2:
            rest += self._raw.read(2 - len(rest))
        if not rest.startswith(GZIP_MAGIC):
            if rest.strip(b"\x00\r\n "):
                log.debug("trailing data after the gzip stream ignored")
            self._done = True
            return b""
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return self._inflate.decompress(rest, wanted)


class _Prefixed(io.RawIOBase):
    """``stream`` with ``prefix`` (bytes already read from it) put back in front."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self._prefix = self._prefix + self._stream.read(), b""
            return data
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(data) < size:
                data += self._stream.read(size - len(data))
            return data
        return self._stream.read(size)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


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
        cut = block.rfind(b"\n")
        if cut < 0:
            rest += block
            continue
        # one copy per block: the carried-over tail joined with the block's whole lines
        chunk = (
            b"".join((rest, memoryview(block)[: cut + 1]))
            if rest or cut + 1 < len(block)
            else block
        )
        rest = block[cut + 1 :]
        yield line, chunk
        line += chunk.count(b"\n")
    if rest:
        yield line, rest
