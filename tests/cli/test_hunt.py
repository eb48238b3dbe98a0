"""``sekimori hunt`` as a user runs it: tables, JSON lines, one error line per bad file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from sekimori.cli import app
from sekimori.schemas import load

DATA = Path(__file__).resolve().parent.parent / "data" / "cli"
LOGS = DATA / "logs"
RULES = DATA / "rules"
RULE_NAME = "Test - Office application spawns PowerShell"


def hunt(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["hunt", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_prints_one_valid_finding_per_line() -> None:
    code, out, err = hunt(str(LOGS), "--rules", str(RULES), "--no-default-rules", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["rule"]["name"] for r in rows] == [RULE_NAME]
    # The lines are json.dumps's own (", " and ": ", text as it is): tools compare them.
    assert out.splitlines() == [json.dumps(r, ensure_ascii=False) for r in rows]
    schema = load("finding")
    for row in rows:
        jsonschema.validate(row, schema)
    row = rows[0]
    assert row["host"]["name"] == "WS-07.corp.sekimori-test.example"
    assert row["event"]["id"] == "101"
    assert row["log"]["file"]["path"].endswith("ws-07-sysmon.json")
    assert row["threat"]["technique"]["id"] == ["T1059.001"]
    assert row["evidence"]["fields"]["ParentImage"].endswith("WINWORD.EXE")
    # the command line is not in the rule, but an analyst reads it first
    assert row["evidence"]["context"]["CommandLine"].startswith("powershell -enc ")
    assert row["incident"]["id"]


def test_incidents_prints_one_valid_incident_per_line() -> None:
    code, out, _ = hunt(
        str(LOGS), "--rules", str(RULES), "--no-default-rules", "--json", "--incidents"
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1
    jsonschema.validate(rows[0], load("incident"))
    assert rows[0]["severity"] == "high"
    assert rows[0]["finding_count"] == 1


def test_bad_files_get_one_line_each_and_the_rest_is_read() -> None:
    code, out, err = hunt(str(LOGS), "--rules", str(RULES), "--no-default-rules")
    assert code == 0
    assert RULE_NAME in out and "Incidents (1)" in out
    assert "powershell -enc" in out  # the detail column shows the command line
    lines = err.splitlines()
    broken = [line for line in lines if "broken.evtx" in line]
    assert len(broken) == 1 and broken[0].startswith("error: ")
    truncated = [line for line in lines if "truncated.json" in line]
    assert len(truncated) == 1 and "skipped 1 malformed record" in truncated[0]
    assert any("passed over 1 file" in line for line in lines)
    assert "Traceback" not in err
    assert lines[-1].startswith("2 file(s), 2 event(s) read; 1 finding(s), 1 incident(s)")


def test_min_severity_filters_output() -> None:
    code, out, _ = hunt(
        str(LOGS), "--rules", str(RULES), "--no-default-rules", "--json", "-s", "critical"
    )
    assert code == 0 and out == ""


def test_min_severity_keeps_the_findings_at_the_floor() -> None:
    args = (str(LOGS), "--rules", str(RULES), "--no-default-rules", "--json")
    _, every, _ = hunt(*args)
    code, high, _ = hunt(*args, "-s", "high")
    assert code == 0 and high == every and RULE_NAME in high


def test_missing_path_is_an_error_line_not_a_traceback(tmp_path: Path) -> None:
    code, _, err = hunt(str(tmp_path / "nowhere"), "--no-default-rules")
    assert code == 1
    assert f"error: {tmp_path / 'nowhere'}: no such file or folder" in err


def test_bad_severity_is_a_usage_error() -> None:
    code, _, err = hunt(str(LOGS), "-s", "severe")
    assert code == 2
    assert "critical" in err


def test_help_explains_the_command() -> None:
    result = CliRunner().invoke(app, ["hunt", "--help"])
    assert result.exit_code == 0
    for option in ("--rules", "--intel", "--config", "--json", "--incidents"):
        assert option in result.stdout


def test_table_detail_of_a_service_install_is_what_it_runs() -> None:
    from datetime import UTC, datetime

    from sekimori.cli.hunt import _detail
    from sekimori.model import Finding, Observable, Severity

    finding = Finding(
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        host_name="FS-01",
        rule_id="r",
        rule_name="Service Installed",
        ruleset="sigma",
        severity=Severity.HIGH,
        observables=(Observable("ip", "10.0.0.7"),),
        evidence={
            "fields": {"Provider_Name": "Service Control Manager"},
            "context": {
                "ServiceName": "abcd",
                "ImagePath": r"C:\Windows\abcd.exe",
                "IpAddress": "10.0.0.7",
            },
        },
    )
    assert _detail(finding) == r"C:\Windows\abcd.exe"


def test_incident_span_shows_dates_when_it_crosses_a_day() -> None:
    from datetime import UTC, datetime

    from sekimori.cli.hunt import _span

    day = datetime(2020, 10, 17, 11, 43, tzinfo=UTC)
    assert _span(day, day.replace(hour=22)) == "2020-10-17 11:43:00 → 22:43:00"
    assert _span(day, day.replace(year=2021)) == "2020-10-17 11:43:00 → 2021-10-17 11:43:00"


def test_parallel_prints_what_one_process_prints() -> None:
    base = (str(LOGS), "--rules", str(RULES), "--no-default-rules", "--json")
    code, alone, err = hunt(*base, "--no-parallel")
    assert code == 0, err
    code, beside, err = hunt(*base, "--parallel")
    assert code == 0, err
    assert beside == alone and RULE_NAME in beside
