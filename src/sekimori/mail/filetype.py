"""What kind of file an attachment is, by content first and by name second.

The name is attacker-controlled and only breaks ties (plain text that is VBA
source, a script); magic numbers decide everything else. Kinds are the keys
of the analyzer registry in ``scan.py``.
"""

from __future__ import annotations

import io
import zipfile

from sekimori.mail.mime import looks_like_message

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
LNK_MAGIC = b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F"
ONENOTE_MAGIC = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
ONEPKG_MAGIC = b"MSCF"

# Extensions Windows runs (or hands to a script host) on a double click.
EXECUTABLE_EXTENSIONS = frozenset(
    (
        *(".exe", ".scr", ".com", ".pif", ".cpl", ".msi", ".msp", ".dll", ".js", ".jse"),
        *(".vbs", ".vbe", ".wsf", ".wsh", ".hta", ".bat", ".cmd", ".ps1", ".psm1", ".jar"),
        *(".reg", ".msc", ".appref-ms", ".application", ".gadget", ".inf", ".scf", ".url"),
        *(".iqy", ".settingcontent-ms", ".xll", ".chm", ".sct", ".lnk"),
    )
)
DISK_IMAGE_EXTENSIONS = frozenset((".iso", ".img", ".vhd", ".vhdx"))
DOCUMENT_EXTENSIONS = frozenset(
    (
        *(".doc", ".docm", ".docx", ".dot", ".dotm", ".xls", ".xlsm", ".xlsx", ".xlsb", ".xlt"),
        *(".xltm", ".xla", ".xlam", ".ppt", ".pptm", ".pptx", ".pps", ".ppsm", ".pot", ".potm"),
        *(".rtf", ".pdf", ".one", ".slk", ".csv", ".txt", ".jpg", ".jpeg", ".png", ".gif"),
        *(".zip", ".htm", ".html", ".xml"),
    )
)


def extension(name: str) -> str:
    """The lower-case last extension of ``name`` (``""`` when none), as ``PurePosixPath.suffix``.

    Written out rather than through ``PurePosixPath``, which costs ten times
    as much, and the scan asks for every file's and member's extension.
    """
    parts = [p for p in name.replace("\\", "/").split("/") if p and p != "."]
    base = parts[-1] if parts else ""
    dot = base.rfind(".")
    return base[dot:].lower() if 0 < dot < len(base) - 1 else ""


def _is_ooxml(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist()[:2000])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return False
    return "[Content_Types].xml" in names


def _is_outlook_msg(data: bytes) -> bool:
    # Stream names are UTF-16LE in the CFB directory; __substg1.0_ marks a MAPI message.
    return "__substg1.0_".encode("utf-16-le") in data[:1_000_000]


def sniff(data: bytes, name: str = "") -> str:
    """The kind of ``data``: ``message``, ``outlook``, ``ooxml``, ``ole``, ``zip`` and so on."""
    head = data[:8192]
    ext = extension(name)
    if head.startswith(OLE_MAGIC):
        return "outlook" if ext == ".msg" or _is_outlook_msg(data) else "ole"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "ooxml" if _is_ooxml(data) else "zip"
    if head.startswith(b"%PDF") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"{\\rt"):
        return "rtf"
    if head.startswith(LNK_MAGIC):
        return "lnk"
    if head.startswith(ONENOTE_MAGIC):
        return "onenote"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(ONEPKG_MAGIC):
        return "cab"
    if head.startswith(b"MZ"):
        return "executable"
    if ext in DISK_IMAGE_EXTENSIONS or data[0x8001:0x8006] == b"CD001":
        return "disk_image"
    if head.startswith(b"ID;P"):
        return "slk"
    if ext in (".eml", ".mht") or looks_like_message(head):
        return "message"
    if ext in EXECUTABLE_EXTENSIONS:
        return "script"
    if ext in (".vba", ".bas", ".cls", ".frm", ".vbs"):
        return "vba"
    if head.lstrip().startswith(b"<?xml") and (
        b"<?mso-application" in head or b"schemas.microsoft.com/office" in head
    ):
        return "office_xml"
    if ext == ".csv":
        return "csv"
    if ext in (".htm", ".html") or head.lstrip()[:15].lower().startswith(
        (b"<!doctype html", b"<html")
    ):
        return "html"
    if b"\x00" not in head:
        return "text"
    return "binary"
