from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import shared_path
from tests.sources.conftest import read_all

ENC = "VwByAGkAdABlAC0ATwB1AHQAcAB1AHQAIAAnAGQAZQB0AGUAYwB0AG8AcgAtAHQAZQBzAHQAJwA="


def test_winlogbeat_ndjson(data: Path) -> None:
    report, frame, datasets = read_all(data / "winlogbeat" / "winlogbeat.ndjson")
    # one batch per channel: Sysmon and Security
    assert report.source == "winlogbeat" and datasets == ["windows", "windows"]
    assert frame.height == 2 and report.skipped == 2
    assert "winlogbeat.ndjson:2: malformed JSON" in report.problems[0]
    assert "winlogbeat.ndjson:4" in report.problems[1]
    rows = {r["event.code"]: r for r in frame.iter_rows(named=True)}
    proc = rows["1"]
    assert proc["host.name"] == "WS-021.corp.example"  # the event's Computer, not the shipper
    assert proc["host.ip"] == "10.0.0.21"
    assert proc["event.id"] == "4101" == proc["winlog.record_id"]
    assert proc["winlog.event_data.CommandLine"].endswith(ENC)
    assert proc["process.command_line"] == proc["winlog.event_data.CommandLine"]
    assert proc["process.parent.executable"].endswith("WINWORD.EXE")
    assert proc["process.pid"] == 5012
    assert proc["hash.sha256"] == "0123456789abcdef" * 4
    assert proc["winlog.process.pid"] == "2140"
    assert proc["agent.type"] == "winlogbeat"
    fail = rows["4625"]
    assert fail["user.name"] == "administrator" and fail["source.ip"] == "10.0.0.21"
    assert fail["process.pid"] == 0x2C4
    assert fail["event.outcome"] == "failure"


def test_otrf_flat_lines(data: Path) -> None:
    report, frame, _ = read_all(data / "winlogbeat" / "otrf.json")
    assert report.source == "winlogbeat" and report.skipped == 0 and frame.height == 2
    proc, reg = frame.sort("@timestamp").iter_rows(named=True)
    assert proc["event.code"] == "1" and proc["host.name"] == "WORKSTATION5"
    assert proc["winlog.provider_name"] == "Microsoft-Windows-Sysmon"
    assert proc["process.command_line"] == "cmd.exe /c Write-Output detector-test"
    assert proc["event.id"] == "98765"
    assert "winlog.event_data.EventType" not in proc or proc["winlog.event_data.EventType"] is None
    assert proc["message"].startswith("Process Create")
    assert reg["winlog.event_data.EventType"] == "SetValue"
    assert reg["registry.path"].endswith("\\Run\\Updater")
    assert reg["event.id"].endswith("otrf.json:2")  # no record number: file and line


def test_otrf_zip_members() -> None:
    path = shared_path("json", "otrf", "atomic_windows_execution", "psh_python_webserver.zip")
    report, frame, _ = read_all(path)
    assert report.source == "winlogbeat" and report.error is None and report.skipped == 0
    assert frame.height == 2395
    assert set(frame["host.name"].unique()) == {"WORKSTATION5"}
    assert "1102" in frame["event.code"].to_list()


def test_winlogbeat6_top_level_shape(data: Path) -> None:
    report, frame, _ = read_all(data / "winlogbeat" / "winlogbeat6.json")
    assert report.source == "winlogbeat" and frame.height == 1
    row = frame.row(0, named=True)
    assert row["winlog.channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert row["event.code"] == "1" and row["event.id"] == "854126"
    assert row["host.name"] == "IT001.shire.example"  # the event's computer, not the collector
    assert row["process.name"] == "rundll32.exe"
    assert row["process.parent.executable"].endswith("powershell.exe")
    assert row["winlog.process.pid"] == "2044"


def test_otrf_tar_gz_with_trailing_byte() -> None:
    path = shared_path("json", "otrf", "atomic_windows_persistence", "covenant_persistwmi.tar.gz")
    report, frame, _ = read_all(path)
    assert report.source == "winlogbeat" and report.error is None and report.skipped == 0
    assert frame.height == 1001


def test_lone_surrogate_is_replaced_and_the_file_read_on(tmp_path: Path) -> None:
    commands = ["cmd /c one", "abc\ud800def", "cmd /c three"]
    lines = [
        {
            "@timestamp": f"2024-01-01T00:00:0{i}Z",
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_id": 1,
                "record_id": i,
                "computer_name": "WS-1",
                "event_data": {"Image": "C:\\cmd.exe", "CommandLine": command},
            },
        }
        for i, command in enumerate(commands, 1)
    ]
    path = tmp_path / "winlogbeat.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="ascii")
    assert "\\ud800" in path.read_text()  # the escape the JSON decoder keeps as a lone surrogate
    report, frame, _ = read_all(path)
    assert report.source == "winlogbeat" and report.error is None
    assert report.skipped == 0 and report.events == 3
    assert frame.sort("event.id")["process.command_line"].to_list() == [
        "cmd /c one",
        "abc\ufffddef",
        "cmd /c three",
    ]
