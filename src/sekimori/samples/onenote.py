"""Builder of minimal OneNote section files (.one) carrying embedded files (MS-ONESTORE).

In 2023 Emotet mailed .one files: a page with a "double-click to view"
picture over an embedded .vbs/.hta/.wsf. What a mail scanner looks at is the
file header and the embedded file objects, and that is what this builder
writes:

- the 1,024-byte Header (MS-ONESTORE 2.3.1) with guidFileType
  ``{7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}`` (a .one section),
  guidFileFormat ``{109ADD3F-911B-49F5-A5D0-1791EDC8AED8}``, the 0x2A file
  format versions and nil references elsewhere;
- one FileDataStoreObject (2.6.13) per file: guidHeader
  ``{BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}``, cbLength, the data, padding that makes
  the object a multiple of 8 bytes, and guidFooter ``{71FBA722-0F79-4A0B-BB13-899256426B24}``.

It is a minimal container: there is no root file node list, so OneNote
itself shows no page; scanners that identify the header and carve the
FileDataStoreObjects (as onedump and YARA rules do) see the embedded files.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Sequence

from sekimori.samples import SampleError

GUID_FILE_TYPE_ONE = uuid.UUID("7B5C52E4-D88C-4DA7-AEB1-5378D02996D3")
GUID_FILE_FORMAT = uuid.UUID("109ADD3F-911B-49F5-A5D0-1791EDC8AED8")
GUID_FILE_DATA_HEADER = uuid.UUID("BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC")
GUID_FILE_DATA_FOOTER = uuid.UUID("71FBA722-0F79-4A0B-BB13-899256426B24")
HEADER_SIZE = 1024
_FCR32_NIL = struct.pack("<II", 0xFFFFFFFF, 0)
_FCR64X32_NIL = struct.pack("<QI", 0xFFFFFFFFFFFFFFFF, 0)
_FCR64X32_ZERO = struct.pack("<QI", 0, 0)

INERT_VBS = b'CreateObject("WScript.Shell").Run "cmd /c echo detector-test", 0\r\n'


def _header(file_id: uuid.UUID, total: int) -> bytes:
    out = bytearray()
    out += GUID_FILE_TYPE_ONE.bytes_le + file_id.bytes_le + bytes(16)
    out += GUID_FILE_FORMAT.bytes_le
    out += struct.pack("<4I", 0x2A, 0x2A, 0x2A, 0x2A)
    out += bytes(8)  # fcrLegacyFreeChunkList: zero
    out += _FCR32_NIL  # fcrLegacyTransactionLog
    out += struct.pack("<II", 0, 0)  # cTransactionsInLog, cbLegacyExpectedFileLength
    out += bytes(8)  # rgbPlaceholder
    out += _FCR32_NIL  # fcrLegacyFileNodeListRoot
    out += struct.pack("<I4B", 0, 0, 0, 0, 0)  # free space, defrag/repair/GC/no-embedded flags
    out += bytes(16) + struct.pack("<I", 0)  # guidAncestor, crcName
    out += _FCR64X32_ZERO  # fcrHashedChunkList
    out += _FCR64X32_NIL  # fcrTransactionLog
    out += _FCR64X32_NIL  # fcrFileNodeListRoot
    out += _FCR64X32_ZERO  # fcrFreeChunkList
    out += struct.pack("<QQ", total, 0)  # cbExpectedFileLength, cbFreeSpaceInFreeChunkList
    out += file_id.bytes_le + struct.pack("<Q", 1) + bytes(16)  # version, generation, deny
    out += struct.pack("<I", 0) + _FCR64X32_ZERO + _FCR64X32_ZERO  # debug log, alloc check
    out += struct.pack("<4I", 0x2A, 0x2A, 0x2A, 0x2A)  # bn* build numbers
    out += bytes(HEADER_SIZE - len(out))
    if len(out) != HEADER_SIZE:
        raise SampleError(f"OneNote header is {len(out)} bytes")
    return bytes(out)


def file_data_store_object(data: bytes) -> bytes:
    """One FileDataStoreObject (MS-ONESTORE 2.6.13) holding ``data``."""
    return (
        GUID_FILE_DATA_HEADER.bytes_le
        + struct.pack("<QIQ", len(data), 0, 0)
        + data
        + bytes(-(36 + len(data) + 16) % 8)  # the object is a multiple of 8 bytes
        + GUID_FILE_DATA_FOOTER.bytes_le
    )


def build_one(files: Sequence[bytes] = (INERT_VBS,)) -> bytes:
    """A .one section file whose embedded file objects hold ``files``, in order."""
    if not files:
        raise SampleError("a OneNote lure needs at least one embedded file")
    body = b"".join(file_data_store_object(data) for data in files)
    file_id = uuid.UUID(bytes=hashlib.sha256(body).digest()[:16])
    return _header(file_id, HEADER_SIZE + len(body)) + body


def carve_embedded_files(data: bytes) -> list[bytes]:
    """The embedded files of a .one, found by their FileDataStoreObject GUIDs."""
    if data[:16] != GUID_FILE_TYPE_ONE.bytes_le:
        raise SampleError("not a OneNote section file")
    marker = GUID_FILE_DATA_HEADER.bytes_le
    found = []
    position = data.find(marker)
    while position >= 0:
        (length,) = struct.unpack_from("<Q", data, position + 16)
        start = position + 36
        found.append(data[start : start + length])
        position = data.find(marker, start + length)
    return found
