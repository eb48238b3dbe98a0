from __future__ import annotations

import base64
import struct
import uuid

import pytest

from sekimori.samples import SampleError
from sekimori.samples.shortcut import (
    LINK_CLSID,
    POWERSHELL,
    Shortcut,
    build_lnk,
    inert_shortcut,
    parse_lnk,
)


def test_round_trip_of_the_inert_shortcut() -> None:
    data = build_lnk()
    assert struct.unpack_from("<I", data)[0] == 0x4C
    assert uuid.UUID(bytes_le=data[4:20]) == LINK_CLSID
    link = parse_lnk(data)
    assert link == inert_shortcut()
    assert link.target == POWERSHELL
    assert link.description == "請求書.docx"
    encoded = link.arguments.rsplit(" ", 1)[1]
    script = base64.b64decode(encoded).decode("utf-16-le")
    assert script.endswith("Write-Output 'detector-test'")


def test_link_info_points_at_the_target() -> None:
    data = build_lnk()
    info_size, header_size, flags, volume_offset, base_offset = struct.unpack_from(
        "<IIIII", data, 0x4C
    )
    assert (header_size, flags) == (0x1C, 1)
    drive_type = struct.unpack_from("<I", data, 0x4C + volume_offset + 4)[0]
    assert drive_type == 3
    assert data[0x4C + base_offset :].startswith(POWERSHELL.encode() + b"\x00")
    assert data.endswith(b"\x00\x00\x00\x00")
    assert info_size < len(data)


def test_bad_shortcuts() -> None:
    base = inert_shortcut()
    with pytest.raises(SampleError):
        build_lnk(Shortcut("C:\\x\\invoice.pdf", "", "", "", "", 1))
    with pytest.raises(SampleError):
        build_lnk(Shortcut("C:\\請求\\x.exe", "", "", "", "", 1))
    with pytest.raises(SampleError):
        parse_lnk(b"MZ" + bytes(100))
    assert parse_lnk(build_lnk(base)).show_command == 7
