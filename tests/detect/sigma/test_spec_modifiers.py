"""Every value modifier pySigma knows, honoured as the Sigma specification says.

The timestamp-part modifiers (``minute`` … ``year``) read the time a field
holds: Sysmon's ``UtcTime`` text, ISO 8601 with an offset, epoch seconds, or
a datetime column. ``test_every_modifier_is_tested`` fails when pySigma
knows a modifier that neither these tests nor the data-driven cases use.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sigma.modifiers
import yaml

from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.model import EventBatch
from tests.conftest import TEST_DATA
from tests.detect.sigma.cases import batch_of, event_row

SYSMON = {"event.code": "1", "winlog.channel": "Microsoft-Windows-Sysmon/Operational"}


def _detector(detection: dict[str, Any], tmp_path: Path) -> SigmaDetector:
    rule = {
        "title": "spec modifier",
        "id": "5e1f0000-0000-4000-8000-000000000001",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": detection,
        "level": "medium",
    }
    (tmp_path / "rule.yml").write_text(yaml.safe_dump(rule), encoding="utf-8")
    return SigmaDetector([tmp_path], use_default_rules=False, rule_cache=False)


def _matches(detection: dict[str, Any], events: list[dict[str, Any]], tmp_path: Path) -> list[int]:
    detector = _detector(detection, tmp_path)
    assert detector.load_report.rejected == []
    batch = batch_of([event_row(i, e, SYSMON, "spec") for i, e in enumerate(events)])
    findings = detector.detect(batch, detector.new_state())
    return sorted(int(f.event_id or -1) for f in findings)


# 2026-11-25 is in ISO week 48, 2025-10-24 in week 43.
@pytest.mark.parametrize(
    ("modifier", "hit", "miss"),
    [
        ("minute", 7, 8),
        ("hour", 22, 21),
        ("day", 25, 24),
        ("week", 48, 43),
        ("month", 11, 10),
        ("year", 2026, 2025),
    ],
)
def test_timestamp_part_of_sysmon_utc_time(
    modifier: str, hit: int, miss: int, tmp_path: Path
) -> None:
    events = [{"UtcTime": "2026-11-25 22:07:03.671"}, {"UtcTime": "2025-10-24 21:08:00.000"}]
    assert _matches(
        {"sel": {f"UtcTime|{modifier}": hit}, "condition": "sel"}, events, tmp_path
    ) == [0]
    assert _matches(
        {"sel": {f"UtcTime|{modifier}": miss}, "condition": "sel"}, events, tmp_path
    ) == [1]


def test_timestamp_part_spellings_and_missing_values(tmp_path: Path) -> None:
    events = [
        {"UtcTime": "2026-11-25T03:00:00Z"},
        {"UtcTime": "2026-11-25T12:00:00+09:00"},  # 03:00 UTC
        {"UtcTime": "1795575600"},  # epoch seconds: 2026-11-25 03:00 UTC
        {"UtcTime": "2026-11-25T03:00:00.1234567Z"},
        {"UtcTime": "2026-11-25T04:00:00Z"},
        {"UtcTime": "not a time"},
        {"UtcTime": ""},
        {},
    ]
    assert _matches({"sel": {"UtcTime|hour": 3}, "condition": "sel"}, events, tmp_path) == [
        0,
        1,
        2,
        3,
    ]
    # A value that is no time is not "not hour 3" either way: only the negation holds.
    assert _matches({"sel": {"UtcTime|hour": 3}, "condition": "not sel"}, events, tmp_path) == [
        4,
        5,
        6,
        7,
    ]


def test_timestamp_part_of_a_bare_date(tmp_path: Path) -> None:
    events = [{"UtcTime": "2026-11-25"}, {"UtcTime": "2026-11-24"}]
    assert _matches({"sel": {"UtcTime|day": 25}, "condition": "sel"}, events, tmp_path) == [0]


def test_year_is_judged_in_utc_not_by_the_text(tmp_path: Path) -> None:
    # 23:30 on New Year's Eve at UTC-5 is already the next year in UTC; "2027" is nowhere
    # in the text, so the literal prefilter must not drop the rule.
    events = [{"UtcTime": "2026-12-31T23:30:00-05:00"}, {"UtcTime": "2026-12-31T12:00:00Z"}]
    assert _matches({"sel": {"UtcTime|year": 2027}, "condition": "sel"}, events, tmp_path) == [0]


def test_timestamp_part_of_a_datetime_column(tmp_path: Path) -> None:
    detector = _detector({"sel": {"event.created|hour": 5}, "condition": "sel"}, tmp_path)
    frame = pl.DataFrame(
        {
            "@timestamp": [datetime(2026, 1, 1, tzinfo=UTC)] * 2,
            "event.created": [
                datetime(2026, 1, 1, 5, 59, tzinfo=UTC),
                datetime(2026, 1, 1, 6, tzinfo=UTC),
            ],
            "tenant": ["default"] * 2,
            "host.name": ["ws01"] * 2,
            "event.id": ["0", "1"],
            "event.dataset": ["windows"] * 2,
            "log.file.path": ["spec"] * 2,
            **{k: [v] * 2 for k, v in SYSMON.items()},
        },
        schema_overrides={
            "@timestamp": pl.Datetime("us", "UTC"),
            "event.created": pl.Datetime("us", "UTC"),
        },
    )
    findings = detector.detect(EventBatch("windows", frame, "spec"), detector.new_state())
    assert [f.event_id for f in findings] == ["0"]


def test_neq(tmp_path: Path) -> None:
    events = [{"User": "alice"}, {"User": "ALICE"}, {"User": "bob"}, {}]
    detection = {"sel": {"EventID": 1, "User|neq": "alice"}, "condition": "sel"}
    # Not equal, case-insensitively like every string; a missing field is not "alice".
    assert _matches(detection, events, tmp_path) == [2, 3]
    detection = {"sel": {"User|neq": ["alice", "bob"]}, "condition": "sel"}
    assert _matches(detection, events, tmp_path) == [3]


def test_exists(tmp_path: Path) -> None:
    events = [{"User": "alice"}, {"User": ""}, {}]
    assert _matches({"sel": {"User|exists": True}, "condition": "sel"}, events, tmp_path) == [0, 1]
    assert _matches({"sel": {"User|exists": False}, "condition": "sel"}, events, tmp_path) == [2]


def test_fieldref_startswith_and_endswith(tmp_path: Path) -> None:
    events = [
        {"CommandLine": "C:\\Tools\\a.exe -x", "Image": "c:\\tools\\A.EXE"},
        {"CommandLine": "run c:\\tools\\a.exe", "Image": "C:\\Tools\\a.exe"},
        {"CommandLine": "something else", "Image": "C:\\Tools\\a.exe"},
        {"CommandLine": "C:\\Tools\\a.exe"},
    ]
    starts = {"sel": {"CommandLine|fieldref|startswith": "Image"}, "condition": "sel"}
    ends = {"sel": {"CommandLine|fieldref|endswith": "Image"}, "condition": "sel"}
    assert _matches(starts, events, tmp_path) == [0]
    assert _matches(ends, events, tmp_path) == [1]


def test_cased_with_contains(tmp_path: Path) -> None:
    events = [{"CommandLine": "x -EncodedCommand y"}, {"CommandLine": "x -encodedcommand y"}]
    detection = {"sel": {"CommandLine|contains|cased": "-EncodedCommand"}, "condition": "sel"}
    assert _matches(detection, events, tmp_path) == [0]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("", [0]),
        ("|i", [0, 1]),
        ("|ignorecase", [0, 1]),
    ],
)
def test_regex_ignorecase(flags: str, expected: list[int], tmp_path: Path) -> None:
    events = [{"CommandLine": "Invoke-Expression"}, {"CommandLine": "invoke-expression"}]
    detection = {"sel": {f"CommandLine|re{flags}": "^Invoke-"}, "condition": "sel"}
    assert _matches(detection, events, tmp_path) == expected


@pytest.mark.parametrize("flag", ["m", "multiline"])
def test_regex_multiline(flag: str, tmp_path: Path) -> None:
    events = [{"ScriptBlockText": "a\nIEX (x)\nb"}, {"ScriptBlockText": "a IEX (x) b"}]
    assert _matches(
        {"sel": {f"ScriptBlockText|re|{flag}": "^IEX"}, "condition": "sel"}, events, tmp_path
    ) == [0]
    assert (
        _matches({"sel": {"ScriptBlockText|re": "^IEX"}, "condition": "sel"}, events, tmp_path)
        == []
    )


@pytest.mark.parametrize("flag", ["s", "dotall"])
def test_regex_dotall(flag: str, tmp_path: Path) -> None:
    events = [{"ScriptBlockText": "start\nend"}, {"ScriptBlockText": "start end"}]
    assert _matches(
        {"sel": {f"ScriptBlockText|re|{flag}": "start.end"}, "condition": "sel"}, events, tmp_path
    ) == [0, 1]
    assert _matches(
        {"sel": {"ScriptBlockText|re": "start.end"}, "condition": "sel"}, events, tmp_path
    ) == [1]


@pytest.mark.parametrize(
    ("modifier", "encoding"),
    [("utf16", "utf-16"), ("utf16be", "utf-16-be"), ("wide", "utf-16-le")],
)
def test_utf16_with_base64(modifier: str, encoding: str, tmp_path: Path) -> None:
    import base64

    encoded = base64.b64encode("whoami /all".encode(encoding)).decode()
    events = [
        {"CommandLine": f"powershell -enc {encoded}"},
        {"CommandLine": "powershell -enc d2hvYW1p"},
    ]
    detection = {
        "sel": {f"CommandLine|{modifier}|base64|contains": "whoami /all"},
        "condition": "sel",
    }
    assert _matches(detection, events, tmp_path) == [0]


def _used_modifiers(text: str) -> set[str]:
    return {
        m for key in re.findall(r"[\w.@]+((?:\|\w+)+)[\"']?\s*:", text) for m in key.split("|") if m
    }


def test_every_modifier_is_tested() -> None:
    used = _used_modifiers(Path(__file__).read_text(encoding="utf-8"))
    for case in (TEST_DATA / "sigma" / "cases").glob("*.yml"):
        used |= _used_modifiers(case.read_text(encoding="utf-8"))
    # The parametrized flags and modifiers above, written without a field name.
    used |= {"minute", "hour", "day", "week", "month", "year", "multiline", "dotall", "ignorecase"}
    used |= {"utf16", "utf16be"}
    assert set(sigma.modifiers.modifier_mapping) - used == set()


@pytest.mark.parametrize(
    ("modifiers", "value", "expected"),
    [
        ("hour|gte", 22, [0, 2]),
        ("hour|lt", 22, [1]),
        ("day|lte", 24, [1]),
        ("year|gt", 2025, [0, 2]),
        ("week|neq", 48, [1, 3]),
    ],
)
def test_timestamp_part_compared(
    modifiers: str, value: int, expected: list[int], tmp_path: Path
) -> None:
    events = [
        {"UtcTime": "2026-11-25 22:07:03.671"},
        {"UtcTime": "2025-10-24 21:08:00.000"},
        {"UtcTime": "2026-11-25T23:00:00Z"},
        {"UtcTime": "no time"},
    ]
    detection = {"sel": {f"UtcTime|{modifiers}": value}, "condition": "sel"}
    assert _matches(detection, events, tmp_path) == expected


def test_cased_fieldref_is_reported(tmp_path: Path) -> None:
    detector = _detector(
        {"sel": {"Image|cased|fieldref": "ParentImage"}, "condition": "sel"}, tmp_path
    )
    [(rule_id, why)] = detector.load_report.rejected
    assert rule_id == "5e1f0000-0000-4000-8000-000000000001"
    assert "cased with fieldref is not supported" in why


def test_fieldref_neq(tmp_path: Path) -> None:
    events = [
        {"Image": "C:\\x\\a.exe", "ParentImage": "c:\\X\\A.EXE"},
        {"Image": "C:\\x\\a.exe", "ParentImage": "C:\\x\\b.exe"},
        {"Image": "C:\\x\\a.exe"},
    ]
    detection = {"sel": {"Image|fieldref|neq": "ParentImage"}, "condition": "sel"}
    # Different from the other field; without the other field there is nothing it equals.
    assert _matches(detection, events, tmp_path) == [1, 2]
