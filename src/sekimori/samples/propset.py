r"""Writer of the ``\x05SummaryInformation`` property set stream (MS-OLEPS).

Office 97-2003 files carry document metadata (title, author, application,
code page, times) in a property set stream: a PropertySetStream header
(MS-OLEPS 2.21) with one PropertySet (2.20) whose FMTID is
``{F29F85E0-4FF9-1068-AB91-08002B27B3D9}`` (the Summary Information set,
2.25.1), each property a TypedPropertyValue (2.15): VT_I2 for the code page,
VT_LPSTR (2.9 CodePageString) for text in that code page, VT_FILETIME for
times, VT_I4 for counts. ``olefile``'s ``get_metadata`` and ``oleid`` read it.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sekimori.samples import SampleError

FMTID_SUMMARY_INFORMATION = uuid.UUID("F29F85E0-4FF9-1068-AB91-08002B27B3D9")
STREAM_NAME = "\x05SummaryInformation"

_VT_I2 = 0x0002
_VT_I4 = 0x0003
_VT_LPSTR = 0x001E
_VT_FILETIME = 0x0040
_CODECS = {1252: "cp1252", 932: "cp932", 65001: "utf-8"}
_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SummaryInformation:
    """Document metadata written in the Summary Information property set."""

    title: str = ""
    author: str = ""
    last_author: str = ""
    app_name: str = "Microsoft Office Word"
    template: str = "Normal.dotm"
    created: datetime = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    saved: datetime = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    codepage: int = 1252


def _filetime(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise SampleError("metadata times must be timezone-aware")
    delta = moment.astimezone(UTC) - _EPOCH_1601
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _lpstr(text: str, codec: str) -> bytes:
    raw = text.encode(codec) + b"\x00"
    return struct.pack("<HHI", _VT_LPSTR, 0, len(raw)) + raw + bytes(-len(raw) % 4)


def build_summary_information(info: SummaryInformation) -> bytes:
    r"""The bytes of a ``\x05SummaryInformation`` stream holding ``info``."""
    codec = _CODECS.get(info.codepage)
    if codec is None:
        raise SampleError(f"unsupported code page {info.codepage}")
    try:
        properties: list[tuple[int, bytes]] = [
            (0x01, struct.pack("<HHhH", _VT_I2, 0, _signed16(info.codepage), 0)),  # CodePage
            (0x02, _lpstr(info.title, codec)),  # Title
            (0x04, _lpstr(info.author, codec)),  # Author
            (0x07, _lpstr(info.template, codec)),  # Template
            (0x08, _lpstr(info.last_author or info.author, codec)),  # LastAuthor
            (0x09, _lpstr("1", codec)),  # RevNumber
            (0x0C, struct.pack("<HHQ", _VT_FILETIME, 0, _filetime(info.created))),  # CreateTime
            (0x0D, struct.pack("<HHQ", _VT_FILETIME, 0, _filetime(info.saved))),  # LastSaveTime
            (0x0E, struct.pack("<HHi", _VT_I4, 0, 1)),  # PageCount
            (0x12, _lpstr(info.app_name, codec)),  # AppName
            (0x13, struct.pack("<HHi", _VT_I4, 0, 0)),  # DocSecurity
        ]
    except UnicodeEncodeError as exc:
        raise SampleError(f"metadata not representable in code page {info.codepage}") from exc
    table_size = 8 + 8 * len(properties)
    offsets = []
    body = bytearray()
    for pid, value in properties:
        offsets.append(struct.pack("<II", pid, table_size + len(body)))
        body += value
    property_set = struct.pack("<II", table_size + len(body), len(properties))
    property_set += b"".join(offsets) + body
    header = struct.pack("<HHI16sI", 0xFFFE, 0, 0x00020006, bytes(16), 1)
    header += FMTID_SUMMARY_INFORMATION.bytes_le + struct.pack("<I", 48)
    return header + property_set


def _signed16(value: int) -> int:
    """The code page as the signed 16-bit integer VT_I2 stores (65001 -> -535)."""
    return value - 0x10000 if value >= 0x8000 else value
