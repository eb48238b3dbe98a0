"""OneNote (.one) analyzer: embedded files by their FileDataStoreObject GUID.

MS-ONESTORE §2.6.13: an embedded file is stored as a FileDataStoreObject —
the GUID {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}, a 64-bit length, 12
reserved bytes, the file, and a footer GUID. A scan for the header GUID
finds every embedded file without parsing the revision store. Scripts and
executables inside (the 2023 OneNote campaigns: .hta, .bat, .wsf, .lnk,
.exe behind a fake "View" button) are ``onenote.embedded_file``.
"""

from __future__ import annotations

import re
import struct

from sekimori.mail.context import ScanContext
from sekimori.mail.filetype import LNK_MAGIC, OLE_MAGIC
from sekimori.mail.result import Analysis, Child

FILE_DATA_GUID = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
_DATA_OFFSET = 16 + 8 + 4 + 8
_SCRIPT_RE = re.compile(
    rb"(?i)<script|<hta:application|wscript\.|createobject\(|@echo\s+off|powershell|"
    rb"cmd(?:\.exe)?\s+/c|mshta|start-process|invoke-webrequest|\bcurl\s"
)
MAX_EMBEDDED = 100


def _kind(content: bytes) -> str:
    head = content[:4096]
    if head.startswith(b"MZ"):
        return "executable"
    if head.startswith(LNK_MAGIC):
        return "shortcut"
    if head.startswith(OLE_MAGIC):
        return "ole"
    if head.startswith(b"PK"):
        return "zip"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")):
        return "image"
    if b"\0" not in head and _SCRIPT_RE.search(content[:200_000]):
        return "script"
    return "data"


_EXTENSIONS = {"executable": ".exe", "shortcut": ".lnk", "ole": ".bin", "zip": ".zip"}


def analyze_onenote(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """List and extract the files embedded in a OneNote section."""
    result = Analysis(kind="onenote")
    result.hit("onenote.document")
    position = 0
    kinds: list[str] = []
    while len(result.children) < MAX_EMBEDDED:
        position = data.find(FILE_DATA_GUID, position)
        if position < 0:
            break
        start = position + _DATA_OFFSET
        if start > len(data):
            break
        (length,) = struct.unpack_from("<Q", data, position + 16)
        position += 16
        if length > len(data) - start:
            result.hit(
                "scan.parser_error", parser="onenote", error="embedded file runs past the end"
            )
            continue
        content = data[start : start + length]
        if not ctx.take(len(content)):
            result.hit("archive.bomb", limit="total size", member=f"embedded-{len(kinds) + 1}")
            break
        kind = _kind(content)
        kinds.append(kind)
        suffix = _EXTENSIONS.get(kind, ".txt" if kind == "script" else ".bin")
        result.children.append(Child(f"embedded-{len(kinds)}{suffix}", content))
    result.facts["embedded"] = kinds
    risky = [k for k in kinds if k in ("executable", "shortcut", "script")]
    if risky:
        result.hit("onenote.embedded_file", kinds=risky)
    return result
