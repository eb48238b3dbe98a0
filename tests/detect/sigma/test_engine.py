"""Engine: rules grouped by variant; matches explain themselves; only asked columns kept."""

from __future__ import annotations

import polars as pl
from sigma.rule import SigmaRule

from sekimori.detect.sigma.compiler import RuleCompiler
from sekimori.detect.sigma.engine import evaluate, group_rules

RULE = """
title: t
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\mshta.exe'}
  other: {CommandLine|contains: 'http'}
  condition: sel and (other or not other)
"""


def test_evaluate_explains_and_keeps_columns() -> None:
    rule = RuleCompiler().compile(SigmaRule.from_yaml(RULE), key="r0", ruleset="sigma")
    groups = group_rules([rule])
    assert [g.variant.key for g in groups] == [
        "process_creation/sysmon",
        "process_creation/security",
    ]
    frame = pl.DataFrame(
        {
            "event.code": ["1", "1", "4688"],
            "winlog.channel": ["Microsoft-Windows-Sysmon/Operational", None, "Security"],
            "winlog.event_data.Image": ["C:\\mshta.exe", "C:\\cmd.exe", None],
            "winlog.event_data.NewProcessName": [None, None, "C:\\MSHTA.EXE"],
            "winlog.event_data.CommandLine": ["mshta http://x.invalid/", None, "mshta"],
            "extra": ["a", "b", "c"],
        }
    )
    matches = evaluate(frame, groups, keep=["event.code"])
    assert sorted(i for m in matches for i in m.row_ids) == [0, 2]
    first = next(m for m in matches if m.row_ids == (0,))
    assert first.evidence(0) == {
        "selections": ["sel", "other"],
        "fields": {"Image": "C:\\mshta.exe", "CommandLine": "mshta http://x.invalid/"},
        "values": {"Image": ["\\mshta.exe"], "CommandLine": ["http"]},
    }
    assert "extra" not in first.rows.columns


NULL_RULE = """
title: t
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\mshta.exe', ParentImage: null}
  condition: sel
"""


def test_null_value_is_labelled_null() -> None:
    rule = RuleCompiler().compile(SigmaRule.from_yaml(NULL_RULE), key="r0", ruleset="sigma")
    frame = pl.DataFrame(
        {
            "event.code": ["1"],
            "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"],
            "winlog.event_data.Image": ["C:\\mshta.exe"],
        }
    )
    (match,) = evaluate(frame, group_rules([rule]))
    assert match.evidence(0)["values"] == {"Image": ["\\mshta.exe"], "ParentImage": ["null"]}
