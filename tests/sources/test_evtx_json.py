from __future__ import annotations

import json
from pathlib import Path

import pytest

from sekimori.sources import sniff
from tests.conftest import shared_path
from tests.sources.conftest import read_all

ENC = "VwByAGkAdABlAC0ATwB1AHQAcAB1AHQAIAAnAGQAZQB0AGUAYwB0AG8AcgAtAHQAZQBzAHQAJwA="


def test_pretty_printed_with_record_labels(data: Path) -> None:
    report, frame, datasets = read_all(data / "evtx_json" / "sysmon_pretty.json")
    assert report.source == "evtx_json" and datasets == ["windows"]
    assert frame.height == 2
    assert report.skipped == 1 and "sysmon_pretty.json:61: malformed JSON" in report.problems[0]
    proc, net = frame.sort("event.id").iter_rows(named=True)
    assert proc["event.code"] == "1" and proc["event.id"] == "4101"
    assert proc["process.command_line"] == f"powershell.exe -nop -w hidden -enc {ENC}"
    assert proc["process.parent.name"] == "WINWORD.EXE"
    assert proc["process.pe.original_file_name"] == "PowerShell.EXE"
    assert proc["hash.imphash"] == "fedcba9876543210fedcba9876543210"
    assert proc["hash.md5"] == "0123456789abcdef0123456789abcdef"
    assert proc["user.name"] == "CORP\\tanaka"
    assert proc["winlog.user.identifier"] == "S-1-5-18"
    assert net["event.code"] == "3"
    assert net["source.ip"] == "10.0.0.21" and net["source.port"] == 49712
    assert net["destination.ip"] == "203.0.113.50" and net["destination.port"] == 8080
    assert net["destination.domain"] == "c2.example.com"
    assert net["winlog.event_data.Initiated"] == "true"


def test_lines_with_userdata_unnamed_data_and_at_attributes(data: Path) -> None:
    report, frame, _ = read_all(data / "evtx_json" / "mixed.jsonl")
    assert frame.height == 3
    assert report.skipped == 3  # the three items of the stray array [1, 2, 3]
    rows = {r["event.code"]: r for r in frame.iter_rows(named=True)}
    ps = rows["800"]
    assert ps["winlog.event_data.param1"] == "Write-Output 'detector-test'"
    assert "HostApplication=powershell.exe" in ps["winlog.event_data.Data"]
    wmi = rows["5857"]
    assert wmi["winlog.user_data.ProviderName"] == "CIMWin32"
    assert wmi["winlog.user_data.xml_name"] == "Operation_StartedOperational"
    logon = rows["4624"]
    assert logon["winlog.event_data.TargetUserName"] == "administrator"
    assert logon["user.name"] == "administrator" and logon["user.domain"] == "CORP"
    assert logon["source.ip"] == "10.0.0.21" and logon["source.port"] == 51010
    assert logon["winlog.logon.type"] == "3"
    assert logon["process.pid"] == 0  # hex "0x0"
    assert logon["host.name"] == "FS-01.corp.example"


def test_json_array(data: Path) -> None:
    report, frame, _ = read_all(data / "evtx_json" / "array.json")
    assert report.skipped == 0 and sorted(frame["event.id"].to_list()) == ["4101", "4102"]


def test_sniffed_by_content(tmp_path: Path, data: Path) -> None:
    other = tmp_path / "export.txt"
    other.write_bytes((data / "evtx_json" / "array.json").read_bytes())
    source = sniff(other)
    assert source is not None and source.name == "evtx_json"


def _regression_pairs() -> list[Path]:
    root = shared_path("sigma", "regression_data", "rules", "windows")
    return sorted(root.rglob("*.evtx"))[:25]


def test_regression_data_json_matches_evtx() -> None:
    pairs = _regression_pairs()
    assert pairs
    for evtx_path in pairs:
        json_path = evtx_path.with_suffix(".json")
        if not json_path.exists():
            pytest.fail(f"no JSON beside {evtx_path}")
        r1, binary, _ = read_all(evtx_path)
        r2, text, _ = read_all(json_path)
        assert r1.source == "evtx" and r2.source == "evtx_json"
        assert r1.skipped == r2.skipped == 0
        a = binary.sort("event.id")
        b = text.sort("event.id")
        for column in ("event.id", "event.code", "host.name", "@timestamp", "winlog.channel"):
            assert a[column].to_list() == b[column].to_list(), (evtx_path, column)
        assert sorted(c for c in a.columns if c.startswith("winlog.event_data.")) == sorted(
            c for c in b.columns if c.startswith("winlog.event_data.")
        )


def _sysmon(record_id: int, command_line: str) -> dict[str, object]:
    system = {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
        "EventID": 1,
        "EventRecordID": record_id,
        "TimeCreated": {"#attributes": {"SystemTime": f"2024-01-01T00:00:0{record_id}Z"}},
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "WS-1",
    }
    data = {"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": command_line}
    return {"Event": {"System": system, "EventData": data}}


@pytest.mark.parametrize("indent", [None, 2])
def test_lone_surrogate_is_replaced_and_the_file_read_on(
    tmp_path: Path, indent: int | None
) -> None:
    commands = ["cmd /c one", "abc\ud800def", "cmd /c three"]
    events = [json.dumps(_sysmon(i, c), indent=indent) for i, c in enumerate(commands, 1)]
    path = tmp_path / "events.json"
    path.write_text("\n".join(events) + "\n", encoding="ascii")
    assert "\\ud800" in path.read_text()  # the escape the JSON decoder keeps as a lone surrogate
    report, frame, _ = read_all(path)
    assert report.error is None and report.skipped == 0 and report.events == 3
    assert frame.sort("event.id")["process.command_line"].to_list() == [
        "cmd /c one",
        "abc\ufffddef",
        "cmd /c three",
    ]
