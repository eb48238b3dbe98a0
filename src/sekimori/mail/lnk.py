"""Windows shortcut (.lnk) analyzer: target and command-line arguments.

A small reader of the MS-SHLLINK structures that matter here (§2.1 header
and LinkFlags, §2.3 LinkInfo local base path, §2.4 StringData: name,
relative path, working directory, arguments, icon location). Shortcuts
that start PowerShell, cmd, mshta, script hosts or LOLBins are
``lnk.command``; the arguments go through ``decode.py``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from sekimori.mail.context import ScanContext
from sekimori.mail.decode import analyze_text
from sekimori.mail.result import Analysis

_HAS_ID_LIST = 0x01
_HAS_LINK_INFO = 0x02
_STRING_FLAGS = (
    (0x04, "name"),
    (0x08, "relative_path"),
    (0x10, "working_dir"),
    (0x20, "arguments"),
    (0x40, "icon_location"),
)
_IS_UNICODE = 0x80
_HEADER_SIZE = 0x4C
_LAUNCHERS = re.compile(
    r"(?i)\b(powershell|pwsh|cmd(?:\.exe)?|mshta|wscript|cscript|rundll32|regsvr32|"
    r"certutil|bitsadmin|msiexec|forfiles|conhost|curl)\b"
)


@dataclass(slots=True)
class Shortcut:
    """What a shortcut runs: target path, arguments and the other strings."""

    target: str = ""
    strings: dict[str, str] = field(default_factory=dict)

    @property
    def command_line(self) -> str:
        """Target and arguments as Windows would start them."""
        parts = (
            self.target or self.strings.get("relative_path", ""),
            self.strings.get("arguments", ""),
        )
        return " ".join(p for p in parts if p).strip()


def parse_lnk(data: bytes) -> Shortcut:
    """Parse the fields of a shortcut; raises ``ValueError`` on a truncated file."""
    if len(data) < _HEADER_SIZE:
        raise ValueError("shorter than the shortcut header")
    (flags,) = struct.unpack_from("<I", data, 0x14)
    offset = _HEADER_SIZE
    out = Shortcut()
    if flags & _HAS_ID_LIST:
        (size,) = struct.unpack_from("<H", data, offset)
        out.strings["id_list_text"] = " ".join(
            _id_list_strings(data[offset + 2 : offset + 2 + size])
        )
        offset += 2 + size
    if flags & _HAS_LINK_INFO:
        (info_size,) = struct.unpack_from("<I", data, offset)
        info = data[offset : offset + info_size]
        if len(info) >= 28:
            info_flags, _, base_offset = struct.unpack_from("<III", info, 8)
            if info_flags & 1 and base_offset < len(info):
                out.target = info[base_offset:].split(b"\0", 1)[0].decode("cp1252", "replace")
        offset += info_size
    unicode = bool(flags & _IS_UNICODE)
    for bit, key in _STRING_FLAGS:
        if not flags & bit:
            continue
        (count,) = struct.unpack_from("<H", data, offset)
        offset += 2
        width = 2 if unicode else 1
        raw = data[offset : offset + count * width]
        if len(raw) < count * width:
            raise ValueError(f"truncated {key}")
        out.strings[key] = raw.decode("utf-16-le" if unicode else "cp1252", "replace")
        offset += count * width
    if not out.target:
        # Without LinkInfo the target lives only in the ID list; its file names are enough here.
        names = out.strings.get("id_list_text", "").split()
        out.target = next((n for n in reversed(names) if "." in n), "")
    return out


def _id_list_strings(raw: bytes) -> list[str]:
    found = [m.decode("ascii") for m in re.findall(rb"[\x21-\x7e]{3,}", raw)]
    found += [m.decode("utf-16-le") for m in re.findall(rb"(?:[\x21-\x7e]\x00){3,}", raw)]
    return [s for s in found if re.search(r"[A-Za-z]", s)]


def analyze_lnk(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """Report a shortcut and what it starts."""
    result = Analysis(kind="lnk")
    try:
        shortcut = parse_lnk(data)
        text = " ".join([shortcut.command_line, *shortcut.strings.values()])
    except (ValueError, struct.error) as exc:
        result.hit("scan.parser_error", parser="lnk", error=str(exc))
        shortcut = Shortcut()
        text = " ".join([*_id_list_strings(data), data.decode("utf-16-le", "ignore")])
    result.facts.update(target=shortcut.target, arguments=shortcut.strings.get("arguments", ""))
    result.hit(
        "lnk.shortcut",
        target=shortcut.target,
        arguments=shortcut.strings.get("arguments", "")[:500],
    )
    launcher = _LAUNCHERS.search(text)
    if launcher:
        result.hit(
            "lnk.command", launcher=launcher.group(1).lower(), command=shortcut.command_line[:500]
        )
    result.merge(analyze_text(text, origin="lnk"))
    return result
