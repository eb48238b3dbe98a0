"""Builders of archives: zip (plain, ZipCrypto, AES), 7z, gzip, zip bombs and nested zips.

Plain and ZipCrypto zips are written here from PKWARE APPNOTE.TXT 6.3.x
(4.3.7 local file header, 4.3.12 central directory header, 4.3.16 end of
central directory, 4.5.3 Zip64 extra field, 6.1 traditional PKWARE
encryption), because neither ``zipfile`` nor ``pyzipper`` writes ZipCrypto,
and because zip bombs need precompressed data and header sizes that may lie.
AES zips (WinZip AE-2, APPNOTE 7.2) are written by ``pyzipper``, 7z archives by
``py7zr``, gzip (RFC 1952) by the standard library.

Everything is deterministic: fixed timestamps and, for ZipCrypto, an
encryption header derived from the password and the member name.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO

import py7zr
import pyzipper
from pyzipper.zipfile_aes import AESZipInfo

from sekimori.samples import SampleError

Files = Mapping[str, bytes] | Sequence[tuple[str, bytes]]

_DOS_TIME = 0  # 00:00:00
_DOS_DATE = (2026 - 1980) << 9 | 1 << 5 | 1  # 2026-01-01
_ZIP_DATE_TIME = (2026, 1, 1, 0, 0, 0)
_FLAG_ENCRYPTED = 0x0001
_FLAG_UTF8 = 0x0800
_STORED = 0
_DEFLATED = 8
_MAX32 = 0xFFFFFFFF
_ZEROS_BLOCK = 1 << 20


def _crc_table() -> list[int]:
    table = []
    for index in range(256):
        value = index
        for _ in range(8):
            value = (value >> 1) ^ 0xEDB88320 if value & 1 else value >> 1
        table.append(value)
    return table


_CRC_TABLE = _crc_table()


class _ZipCrypto:
    """Traditional PKWARE encryption (APPNOTE 6.1): three keys updated per byte."""

    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    def _update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = (k0 >> 8) ^ _CRC_TABLE[(k0 ^ byte) & 0xFF]
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = (k2 >> 8) ^ _CRC_TABLE[(k2 ^ (k1 >> 24)) & 0xFF]
        self.keys = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray(len(data))
        for index, byte in enumerate(data):
            temp = self.keys[2] | 2
            out[index] = byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF)
            self._update(byte)
        return bytes(out)


@dataclass(frozen=True)
class ZipMember:
    """One member ready to be laid out: its (compressed, maybe encrypted) payload.

    ``size`` and ``crc`` describe the uncompressed data; ``declared_size``, when
    set, is written in the headers instead of ``size`` (a lying header).
    """

    name: bytes
    payload: bytes
    size: int
    crc: int
    method: int
    flags: int
    declared_size: int | None = None


def _files(files: Files) -> list[tuple[str, bytes]]:
    items = list(files.items()) if isinstance(files, Mapping) else list(files)
    if not items:
        raise SampleError("an archive needs at least one member")
    return items


def _encode_name(name: str, encoding: str) -> tuple[bytes, int]:
    if not name or name.startswith("/") or "\\" in name:
        raise SampleError(f"not a relative zip member name: {name!r}")
    if name.isascii():
        return name.encode("ascii"), 0
    if encoding == "utf-8":
        return name.encode("utf-8"), _FLAG_UTF8
    try:
        # Japanese Windows writes CP932 names without the UTF-8 flag (APPNOTE 4.4.4 bit 11).
        return name.encode(encoding), 0
    except UnicodeEncodeError as exc:
        raise SampleError(f"member name not representable in {encoding}: {name!r}") from exc


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def make_member(
    name: str,
    data: bytes,
    *,
    password: bytes | None = None,
    compress: bool = True,
    name_encoding: str = "utf-8",
) -> ZipMember:
    """A member holding ``data``, deflated unless ``compress`` is False, ZipCrypto if a password."""
    encoded, flags = _encode_name(name, name_encoding)
    crc = zlib.crc32(data)
    method = _DEFLATED if compress else _STORED
    payload = _deflate(data) if compress else data
    if password is not None:
        cipher = _ZipCrypto(password)
        seed = hashlib.sha256(password + b"\x00" + encoded).digest()[:11]
        # The 12th header byte is the CRC's high byte, the check value (APPNOTE 6.1.6).
        payload = cipher.encrypt(seed + bytes([crc >> 24])) + cipher.encrypt(payload)
        flags |= _FLAG_ENCRYPTED
    return ZipMember(encoded, payload, len(data), crc, method, flags)


def write_zip(members: Sequence[ZipMember], comment: bytes = b"") -> bytes:
    """Lay out ``members`` as a zip file (APPNOTE 4.3), with Zip64 sizes when needed."""
    out = bytearray()
    central = bytearray()
    for member in members:
        size = member.size if member.declared_size is None else member.declared_size
        csize = len(member.payload)
        zip64 = size >= _MAX32 or csize >= _MAX32
        version = 45 if zip64 else 20
        extra = struct.pack("<HHQQ", 0x0001, 16, size, csize) if zip64 else b""
        size32, csize32 = (_MAX32, _MAX32) if zip64 else (size, csize)
        offset = len(out)
        if offset >= _MAX32:
            raise SampleError("zip too large for 32-bit offsets")
        out += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            version,
            member.flags,
            member.method,
            _DOS_TIME,
            _DOS_DATE,
            member.crc,
            csize32,
            size32,
            len(member.name),
            len(extra),
        )
        out += member.name + extra + member.payload
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            version,
            version,
            member.flags,
            member.method,
            _DOS_TIME,
            _DOS_DATE,
            member.crc,
            csize32,
            size32,
            len(member.name),
            len(extra),
            0,
            0,
            0,
            0,
            offset,
        )
        central += member.name + extra
    start = len(out)
    out += central
    out += struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        len(members),
        len(members),
        len(central),
        start,
        len(comment),
    )
    return bytes(out + comment)


def build_zip(
    files: Files,
    password: str | bytes | None = None,
    aes: bool = True,
    *,
    name_encoding: str = "utf-8",
) -> bytes:
    """A zip of ``files`` (name -> bytes), optionally password-protected.

    With a password, ``aes=True`` gives WinZip AES-256 (pyzipper) and
    ``aes=False`` the traditional ZipCrypto that Windows Explorer opens, the
    one PPAP mails and Emotet campaigns use. ``name_encoding="cp932"`` writes
    non-ASCII names as Japanese Windows does, without the UTF-8 flag
    (ZipCrypto and plain zips only).
    """
    items = _files(files)
    secret = password.encode("utf-8") if isinstance(password, str) else password
    if secret is not None and not secret:
        raise SampleError("empty zip password")
    if secret is not None and aes:
        if name_encoding != "utf-8":
            raise SampleError("AES zips are written with UTF-8 names only")
        buffer = BytesIO()
        with pyzipper.AESZipFile(
            buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as archive:
            archive.setpassword(secret)
            for name, data in items:
                _encode_name(name, "utf-8")
                info = AESZipInfo(name, date_time=_ZIP_DATE_TIME)
                info.compress_type = pyzipper.ZIP_DEFLATED
                archive.writestr(info, data)
        return buffer.getvalue()
    members = [
        make_member(name, data, password=secret, name_encoding=name_encoding)
        for name, data in items
    ]
    return write_zip(members)


def build_7z(files: Files, password: str | None = None, encrypt_headers: bool = False) -> bytes:
    """A 7z archive of ``files`` (py7zr), AES-256 encrypted when a password is given.

    ``encrypt_headers`` also hides the member names (7-Zip's "encrypt file names").
    """
    items = _files(files)
    if encrypt_headers and password is None:
        raise SampleError("header encryption needs a password")
    buffer = BytesIO()
    with py7zr.SevenZipFile(
        buffer, "w", password=password, header_encryption=encrypt_headers
    ) as archive:
        for name, data in items:
            _encode_name(name, "utf-8")
            archive.writestr(data, name)
    return buffer.getvalue()


def build_gzip(data: bytes, name: str | None = None) -> bytes:
    """A gzip member (RFC 1952) of ``data``, with FNAME ``name`` and mtime 0."""
    buffer = BytesIO()
    with gzip.GzipFile(filename=name or "", mode="wb", fileobj=buffer, mtime=0) as stream:
        stream.write(data)
    return buffer.getvalue()


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    index = 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, row) for row in matrix]


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B), as zlib's crc32_combine does.

    Appending zero bits to the CRC register is linear over GF(2); the operator
    for ``length2`` zero bytes is built by repeated squaring.
    """
    if length2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << bit for bit in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _gf2_square(even)
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


def crc32_of_zeros(size: int) -> int:
    """CRC-32 of ``size`` zero bytes in O(log size) steps, without touching them."""
    crc, block_crc, block = 0, zlib.crc32(bytes(1)), 1
    while size:
        if size & 1:
            crc = crc32_combine(crc, block_crc, block)
        block_crc = crc32_combine(block_crc, block_crc, block)
        block *= 2
        size >>= 1
    return crc


def _deflated_zeros(size: int) -> bytes:
    """Raw deflate data for ``size`` zero bytes, built without deflating them all.

    One 1 MiB block of zeros is compressed and ended with a full flush, which
    makes it byte-aligned and free of references to earlier data (RFC 1951
    3.2.3, zlib Z_FULL_FLUSH), so it can be repeated; a final empty fixed-
    Huffman block (bits 1, 01, end-of-block) ends the stream.
    """
    blocks, rest = divmod(size, _ZEROS_BLOCK)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(_ZEROS_BLOCK)) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(bytes(rest)) + tail.flush(zlib.Z_FULL_FLUSH) if rest else b""
    return block * blocks + last + b"\x03\x00"


def build_zip_bomb(
    size: int = 2 * 1024**3, name: str = "zeros.bin", declared_size: int | None = None
) -> bytes:
    """A small zip whose one member inflates to ``size`` zero bytes (about 1,000:1).

    2 GiB gives a file of about 2 MiB, built in milliseconds: the deflate
    data repeats one compressed block and the CRC-32 is computed, not summed
    over the zeros (:func:`crc32_of_zeros`). Sizes of 4 GiB and more use the Zip64 extra
    field. ``declared_size`` writes a different (lying) uncompressed size in
    the headers, for scanners that trust them.
    """
    if size < 0:
        raise SampleError("negative bomb size")
    encoded, flags = _encode_name(name, "utf-8")
    payload = _deflated_zeros(size)
    member = ZipMember(
        encoded, payload, size, crc32_of_zeros(size), _DEFLATED, flags, declared_size
    )
    return write_zip([member])


def build_padded_zip(name: str, data: bytes, size: int = 500 * 1024**2) -> bytes:
    """A small zip whose member is ``data`` padded with zero bytes to ``size`` bytes.

    The 2023 Emotet trick: a .doc inflated to about 500 MB so that scanners
    with a size limit skip it, mailed in a zip of a few hundred kilobytes.
    ``data`` is deflated and fully flushed (byte-aligned, RFC 1951), the zeros
    follow as repeated blocks, and the CRC-32 is combined without
    materializing the padding.
    """
    if size < len(data):
        raise SampleError("padded size smaller than the data")
    encoded, flags = _encode_name(name, "utf-8")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)
    padding = size - len(data)
    crc = crc32_combine(zlib.crc32(data), crc32_of_zeros(padding), padding)
    member = ZipMember(encoded, head + _deflated_zeros(padding), size, crc, _DEFLATED, flags)
    return write_zip([member])


def build_nested_zip(
    depth: int,
    inner: bytes = b"detector-test\n",
    inner_name: str = "payload.txt",
    width: int = 1,
) -> bytes:
    """A zip nested ``depth`` levels deep (zip in zip), ``width`` copies per level.

    Level 1 holds ``inner``; each further level holds ``width`` copies of the
    level below (``layer1.zip`` …), like 42.zip. The total unpacked size grows
    as ``width ** depth``; the file size as well when the layers exceed the
    32 KiB deflate window, so keep ``width`` small.
    """
    if depth < 1 or width < 1:
        raise SampleError("depth and width must be at least 1")
    current = build_zip({inner_name: inner})
    for level in range(2, depth + 1):
        names = (
            [f"layer{level - 1}.zip"]
            if width == 1
            else [f"layer{level - 1}-{copy}.zip" for copy in range(width)]
        )
        current = build_zip([(name, current) for name in names])
    return current
