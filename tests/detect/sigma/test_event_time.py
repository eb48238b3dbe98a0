"""The event's own time is the Sigma field TimeCreated, for the timestamp-part modifiers."""

from __future__ import annotations

from pathlib import Path

from sekimori.detect.sigma.detector import SigmaDetector
from tests.detect.sigma.cases import batch_of, event_row

NIGHT_RULE = """
title: Logon At Night
id: 5b0c6a4e-9d55-4a53-9a4e-000000000001
status: test
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4624
    TimeCreated|hour|gte: 22
  condition: selection
level: low
"""


def test_timecreated_hour_reads_the_event_time(tmp_path: Path) -> None:
    (tmp_path / "night.yml").write_text(NIGHT_RULE, encoding="utf-8")
    detector = SigmaDetector([tmp_path], use_default_rules=False, rule_cache=False)
    security = {"event.code": "4624", "winlog.channel": "Security"}
    rows = [
        event_row(0, {**security, "@timestamp": "2026-11-25T23:10:00Z"}, {}, "a"),
        event_row(1, {**security, "@timestamp": "2026-11-25T09:10:00Z"}, {}, "a"),
    ]
    findings = detector.detect(batch_of(rows), detector.new_state())
    assert [f.event_id for f in findings] == ["0"]
