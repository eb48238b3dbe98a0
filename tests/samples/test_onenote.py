from __future__ import annotations

import struct
import uuid

import pytest

from sekimori.samples import SampleError
from sekimori.samples.onenote import (
    GUID_FILE_FORMAT,
    GUID_FILE_TYPE_ONE,
    HEADER_SIZE,
    INERT_VBS,
    build_one,
    carve_embedded_files,
)


def test_header_fields() -> None:
    data = build_one()
    assert uuid.UUID(bytes_le=data[:16]) == GUID_FILE_TYPE_ONE
    assert uuid.UUID(bytes_le=data[48:64]) == GUID_FILE_FORMAT
    assert struct.unpack_from("<4I", data, 64) == (0x2A, 0x2A, 0x2A, 0x2A)
    # cbExpectedFileLength (MS-ONESTORE 2.3.1) at offset 196 is the file size.
    assert struct.unpack_from("<Q", data, 196)[0] == len(data)
    assert data[HEADER_SIZE:].startswith(uuid.UUID("BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC").bytes_le)


def test_embedded_files_are_carved_back() -> None:
    files = [INERT_VBS, b"<script>/* detector-test */</script>", b"x" * 13]
    data = build_one(files)
    assert carve_embedded_files(data) == files
    assert (len(data) - HEADER_SIZE) % 8 == 0


def test_bad_input() -> None:
    with pytest.raises(SampleError):
        build_one([])
    with pytest.raises(SampleError):
        carve_embedded_files(b"PK\x03\x04")
