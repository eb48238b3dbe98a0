"""The hunt's on-disk finding log: order, deduplication, replacement, cleanup."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sekimori.errors import StoreError
from sekimori.findinglog import FindingLog
from sekimori.model import Finding, Observable, Severity, Stage, json_line


def finding(second: float, host: str = "WS-07", rule: str = "r1", **kw: object) -> Finding:
    ts = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC).timestamp() + second
    fields: dict[str, object] = {"severity": Severity.MEDIUM, **kw}
    return Finding(
        timestamp=datetime.fromtimestamp(ts, UTC),
        host_name=host,
        rule_id=rule,
        rule_name=f"rule {rule}",
        ruleset="sigma",
        **fields,  # type: ignore[arg-type]
    )


def test_findings_come_back_in_time_order_with_fractions_of_a_second() -> None:
    with FindingLog() as log:
        late, early, fraction = finding(1), finding(0), finding(0.5)
        log.extend([late, fraction, early])
        assert [f.id for f in log] == [early.id, fraction.id, late.id]


def test_the_same_detection_is_kept_once() -> None:
    with FindingLog() as log:
        one = finding(0)
        log.extend([one, one])
        log.extend([one])
        assert len(log) == 1
        assert [f.id for f in log] == [one.id]


def test_findings_read_back_as_they_were_written() -> None:
    original = finding(
        3,
        tactics=("execution",),
        techniques=("T1059.001",),
        stage=Stage.EXECUTION,
        user_name="tanaka",
        observables=(Observable("url", "http://203.0.113.15/a"),),
        # A hostile event can carry a lone surrogate; it must survive the disk.
        evidence={"fields": {"CommandLine": "powershell -enc \udcff"}, "n": 3},
        event_id="42",
        dataset="windows",
    )
    with FindingLog() as log:
        log.extend([original])
        (back,) = list(log)
        assert back.id == original.id
        assert back.to_json() == original.to_json()


def test_every_kind_of_value_reads_back_exactly() -> None:
    # Plain values travel in marshal form; times in other zones, enums and
    # datetimes in evidence are pickled; each comes back of the same type.
    from datetime import timedelta, timezone
    from zoneinfo import ZoneInfo

    at = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=UTC)
    evidence = {"selections": ["s"], "fields": {"A": "1"}, "values": {"A": ["1"]}, "n": (1, 2.5)}
    originals = [
        finding(0, evidence=evidence, observables=(Observable("ip", "192.0.2.1"),)),
        replace(
            finding(1, host="A"), timestamp=at.replace(tzinfo=ZoneInfo("UTC")), stage=Stage.DELIVERY
        ),
        replace(finding(2, host="B"), timestamp=at.astimezone(timezone(timedelta(hours=9)))),
        replace(finding(3, host="C"), timestamp=at.astimezone(ZoneInfo("Asia/Tokyo"))),
        finding(4, evidence={"when": at, "level": Severity.HIGH, "ok": True}, confidence=0.25),
        finding(5, severity=Severity.CRITICAL, host_ip="10.0.0.1", description="d"),
    ]
    with FindingLog() as log:
        log.extend(originals)
        by_id = {f.id: f for f in log}
        kinds = dict(log._db.execute("SELECT id, substr(doc, 1, 1) FROM findings"))
    assert [kinds[f.id] for f in originals] == [b"m", b"m", b"p", b"p", b"p", b"m"]
    back = [by_id[f.id] for f in originals]
    assert back == originals
    for b, o in zip(back, originals, strict=True):
        assert b.timestamp.tzinfo == o.timestamp.tzinfo
        assert type(b.severity) is Severity and type(b.stage) is type(o.stage)
        assert b.to_json() == o.to_json()
        for key, value in o.evidence.items():
            assert type(b.evidence[key]) is type(value)
        assert all(type(obs) is Observable for obs in b.observables)


def test_a_finding_can_be_replaced_and_queried() -> None:
    with FindingLog() as log:
        download = finding(10, rule="download.exe", severity=Severity.LOW)
        macro = finding(0, rule="macro", stage=Stage.EXECUTION)
        log.extend([download, macro])
        raised = replace(download, severity=Severity.MEDIUM, evidence={"follows": "macro"})
        log.replace(download.id, raised)
        assert len(log) == 2
        assert [f.id for f in log] == [macro.id, raised.id]
        assert [f.rule_id for f in log.where("rule LIKE ?", "download.%")] == ["download.exe"]
        assert [f.rule_id for f in log.where("stage = ?", "execution")] == ["macro"]


def test_the_file_is_removed_when_closed() -> None:
    log = FindingLog()
    log.extend([finding(0)])
    assert log.path.exists()
    log.close()
    assert not log.path.exists()


def test_a_log_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot create the findings log"):
        FindingLog(tmp_path / "no such folder")


def test_output_lines_are_made_as_findings_come_and_kept() -> None:
    made: list[str] = []

    def render(f: Finding) -> str:
        made.append(f.id)
        return json_line(f)

    with FindingLog(render=render) as log:
        image = "ｗｏｒｄ\udcff.exe"  # a lone surrogate, as JSON input may carry
        high = finding(1, severity=Severity.HIGH, evidence={"fields": {"Image": image}})
        low = finding(0)
        log.extend([high, low])
        assert made == [high.id, low.id]
        assert list(log.lines(render)) == [(low.id, json_line(low)), (high.id, json_line(high))]
        assert made == [high.id, low.id]  # read back, not made again
        assert [i for i, _ in log.lines(render, "severity >= ?", Severity.HIGH.rank)] == [high.id]
        raised = replace(low, severity=Severity.CRITICAL)
        log.replace(low.id, raised)
        assert dict(log.lines(render))[raised.id] == json_line(raised)
    # Without a renderer, the lines are made when read.
    with FindingLog() as plain:
        plain.extend([high])
        assert list(plain.lines(json_line)) == [
            (high.id, json.dumps(high.to_json(), ensure_ascii=False))
        ]
