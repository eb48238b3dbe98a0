r"""Builder of Windows shortcut files (.lnk, MS-SHLLINK) that start a command.

Emotet waves of 2022 mailed ``.lnk`` files (zipped) whose target is
``cmd.exe`` or ``powershell.exe`` with the whole script in the arguments and
an icon borrowed from a document. This writer produces:

- the ShellLinkHeader (MS-SHLLINK 2.1): size 0x4C, the link CLSID, LinkFlags
  HasLinkInfo | HasName | HasWorkingDir | HasArguments | HasIconLocation |
  IsUnicode, a minimized window (SW_SHOWMINNOACTIVE);
- LinkInfo (2.3) with a VolumeID (2.3.1, fixed drive) and the target's
  LocalBasePath;
- StringData (2.4): NAME_STRING, WORKING_DIR, COMMAND_LINE_ARGUMENTS and
  ICON_LOCATION as counted UTF-16LE strings;
- the terminal ExtraData block (2.5).

:func:`parse_lnk` reads these fields back; the default arguments are the
inert ``-enc`` PowerShell of :mod:`sekimori.samples.vba`.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from sekimori.samples import SampleError
from sekimori.samples.vba import encoded_powershell, inert_powershell

LINK_CLSID = uuid.UUID("00021401-0000-0000-C000-000000000046")
POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
_HAS_LINK_INFO = 0x00000002
_HAS_NAME = 0x00000004
_HAS_WORKING_DIR = 0x00000010
_HAS_ARGUMENTS = 0x00000020
_HAS_ICON_LOCATION = 0x00000040
_IS_UNICODE = 0x00000080
_SW_SHOWMINNOACTIVE = 7
_FILE_ATTRIBUTE_ARCHIVE = 0x20


@dataclass(frozen=True)
class Shortcut:
    """The fields of a shortcut that matter to an analyst."""

    target: str
    arguments: str
    description: str
    working_dir: str
    icon_location: str
    show_command: int


def inert_shortcut() -> Shortcut:
    """A shortcut shaped like Emotet's: hidden PowerShell ``-enc`` behind a Word icon."""
    return Shortcut(
        target=POWERSHELL,
        arguments=f"-w hidden -enc {encoded_powershell(inert_powershell())}",
        description="請求書.docx",
        working_dir="C:\\Windows\\System32",
        icon_location="C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        show_command=_SW_SHOWMINNOACTIVE,
    )


def _string_data(text: str) -> bytes:
    units = len(text.encode("utf-16-le")) // 2
    if units > 0xFFFF:
        raise SampleError("shortcut string longer than 65,535 characters")
    return struct.pack("<H", units) + text.encode("utf-16-le")


def _link_info(target: str) -> bytes:
    try:
        base_path = target.encode("cp1252") + b"\x00"
    except UnicodeEncodeError as exc:
        raise SampleError(f"shortcut target must be Windows-1252: {target!r}") from exc
    volume_id = struct.pack("<IIII", 0x11, 3, 0x1234ABCD, 0x10) + b"\x00"  # DRIVE_FIXED
    header_size = 0x1C
    volume_offset = header_size
    base_offset = volume_offset + len(volume_id)
    suffix_offset = base_offset + len(base_path)
    size = suffix_offset + 1
    header = struct.pack(
        "<IIIIIII", size, header_size, 0x1, volume_offset, base_offset, 0, suffix_offset
    )
    return header + volume_id + base_path + b"\x00"


def build_lnk(shortcut: Shortcut | None = None) -> bytes:
    """The bytes of a .lnk file for ``shortcut`` (default: :func:`inert_shortcut`)."""
    link = shortcut or inert_shortcut()
    if not link.target.lower().endswith((".exe", ".com", ".bat", ".cmd")):
        raise SampleError(f"shortcut target is not a program: {link.target!r}")
    flags = (
        _HAS_LINK_INFO
        | _HAS_NAME
        | _HAS_WORKING_DIR
        | _HAS_ARGUMENTS
        | _HAS_ICON_LOCATION
        | _IS_UNICODE
    )
    header = struct.pack(
        "<I16sIIQQQIiIHHII",
        0x4C,
        LINK_CLSID.bytes_le,
        flags,
        _FILE_ATTRIBUTE_ARCHIVE,
        0,
        0,
        0,
        0,
        0,
        link.show_command,
        0,
        0,
        0,
        0,
    )
    strings = b"".join(
        _string_data(text)
        for text in (link.description, link.working_dir, link.arguments, link.icon_location)
    )
    return header + _link_info(link.target) + strings + struct.pack("<I", 0)


def parse_lnk(data: bytes) -> Shortcut:
    """Read back what :func:`build_lnk` writes (no LinkTargetIDList, Unicode strings)."""
    if len(data) < 0x4C or data[:4] != b"\x4c\x00\x00\x00":
        raise SampleError("not a shell link")
    flags = struct.unpack_from("<I", data, 20)[0]
    show = struct.unpack_from("<I", data, 60)[0]
    if flags & 0x1 or not flags & _IS_UNICODE or not flags & _HAS_LINK_INFO:
        raise SampleError("unsupported shell link layout")
    position = 0x4C
    info_size, _, _, _, base_offset = struct.unpack_from("<IIIII", data, position)
    target_end = data.index(b"\x00", position + base_offset)
    target = data[position + base_offset : target_end].decode("cp1252")
    position += info_size
    texts = []
    for bit in (_HAS_NAME, 0x8, _HAS_WORKING_DIR, _HAS_ARGUMENTS, _HAS_ICON_LOCATION):
        if not flags & bit:
            texts.append("")
            continue
        (units,) = struct.unpack_from("<H", data, position)
        texts.append(data[position + 2 : position + 2 + 2 * units].decode("utf-16-le"))
        position += 2 + 2 * units
    name, _, working_dir, arguments, icon = texts
    return Shortcut(target, arguments, name, working_dir, icon, show)
