"""Keyword rules: the joined text is built only for events holding a keyword literal."""

from __future__ import annotations

import io

import polars as pl
import pytest
from sigma.rule import SigmaRule

from sekimori.detect.sigma.compiler import CompiledRule, RuleCompiler, keyword_literals
from sekimori.detect.sigma.engine import (
    _holds_any,
    _keyword_needs,
    _with_keywords,
    evaluate,
    group_rules,
)
from sekimori.detect.sigma.fields import KEYWORD_COLUMN, ROW_COLUMN, column_name, lower_name
from sekimori.detect.sigma.values import KEYWORD_LOWER_COLUMN


def _rule(detection: str, key: str = "r0") -> CompiledRule:
    text = f"title: t\nlogsource: {{product: windows}}\ndetection:\n{detection}"
    return RuleCompiler().compile(SigmaRule.from_yaml(text), key=key, ruleset="sigma")


KEYWORDS = """
  keywords:
    - 'sekurlsa::'
    - 'eo.oe.kiwi'
    - 'Privilege::Debug'
  filter:
    EventID: 15
  condition: keywords and not filter
"""

NOT_KEYWORDS = """
  selection:
    EventID: 4688
  keywords:
    - 'mimikatz'
  condition: selection and not keywords
"""

ALL_KEYWORDS = """
  keywords:
    '|all':
      - 'lsadump'
      - 'sam*system'
  condition: keywords
"""

NUMBER_KEYWORD = """
  keywords:
    - 31337
  condition: keywords
"""

REGEX_KEYWORD = """
  keywords:
    '|re': 'mimi[kc]atz'
  condition: keywords
"""

FRAME = pl.DataFrame(
    {
        "event.code": ["1", "4688", "4688", "15", "4688", "1", "1", "1", "4688", "1"],
        "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"] * 10,
        "winlog.event_data.CommandLine": [
            "mimikatz SEKURLSA::logonpasswords",
            "cmd.exe /c whoami",
            "x MimiKatz y",
            "privilege::debug",
            None,
            "EO.OE.KIW\u0130",  # lower case: 'eo.oe.kiwi' and a combining dot
            "se\u212aurlsa::",  # Kelvin sign: 'sekurlsa::' once lower-cased
            "lsadump::sam",
            None,
            "port 31337 open",
        ],
        "winlog.event_data.Details": [
            None,
            None,
            None,
            None,
            "Privilege::DEBUG",
            None,
            None,
            "sam hive system",
            None,
            None,
        ],
        "winlog.event_data.Count": [1, 2, 3, 4, 5, 6, 7, 8, 31337, 10],
    }
)


def _hits(rule: CompiledRule, frame: pl.DataFrame = FRAME) -> list[int]:
    return sorted(i for m in evaluate(frame, group_rules([rule])) for i in m.row_ids)


def test_literals_of_keyword_rules() -> None:
    assert keyword_literals(_rule(KEYWORDS)) == ("eo.oe.kiwi", "privilege::debug", "sekurlsa::")
    assert keyword_literals(_rule(NOT_KEYWORDS)) == ("mimikatz",)
    assert keyword_literals(_rule(ALL_KEYWORDS)) == ("lsadump", "system")
    assert keyword_literals(_rule(NUMBER_KEYWORD)) == ("31337",)


@pytest.mark.parametrize(
    "values",
    [
        "'|re': 'mimi[kc]atz'",  # a regular expression
        "- '*'",  # any text
        "- 'ab'",  # too short to filter
        "- 'mimikatz'\n    - 'ünïcode'",  # not ASCII
        "- 'a*b'",  # no part long enough
    ],
)
def test_keyword_values_without_literal_join_every_event(values: str) -> None:
    rule = _rule(f"  keywords:\n    {values}\n  condition: keywords\n")
    assert keyword_literals(rule) is None
    assert _keyword_needs(group_rules([rule, _rule(NOT_KEYWORDS, key="r1")])) is None


def test_literals_survive_serialization() -> None:
    rule = _rule(KEYWORDS)
    blob = rule.expr.meta.serialize(format="binary")
    again = pl.Expr.deserialize(io.BytesIO(blob), format="binary")
    name = again.meta.output_name()
    assert name == rule.expr.meta.output_name()
    # A rule without keywords has no literals to give.
    assert keyword_literals(_rule("  sel:\n    EventID: 1\n  condition: sel\n")) is None


def test_keyword_matches() -> None:
    # Row 3 is Sysmon event 15, filtered out; rows 5 and 6 hold the keywords once
    # lower-cased (Unicode lower case), row 4 in another field.
    assert _hits(_rule(KEYWORDS)) == [0, 4, 5, 6]
    # Each value of '|all' may be in another field; a wildcard stays within one field.
    assert _hits(_rule(ALL_KEYWORDS)) == [7]
    split = FRAME.with_columns(pl.col("winlog.event_data.Details").str.replace("sam ", ""))
    assert _hits(_rule(ALL_KEYWORDS), split) == []
    # The number is in a text field of row 9; row 8 has it only in a number column.
    assert _hits(_rule(NUMBER_KEYWORD)) == [9]
    assert _hits(_rule(REGEX_KEYWORD)) == [0]


def test_not_keywords_matches_events_without_the_text() -> None:
    # 4688 events without 'mimikatz' in any text field, including one with no text at all.
    assert _hits(_rule(NOT_KEYWORDS)) == [1, 4, 8]


def test_prefiltered_text_decides_as_the_full_text() -> None:
    rules = [
        _rule(text, key=f"r{n}")
        for n, text in enumerate([KEYWORDS, NOT_KEYWORDS, ALL_KEYWORDS, NUMBER_KEYWORD])
    ]
    literals = _keyword_needs(group_rules(rules))
    assert literals is not None
    frame = FRAME.with_row_index(ROW_COLUMN)
    full = _with_keywords(frame)
    some = _with_keywords(frame, literals)
    # Only the events holding a literal get the text, and theirs is the full text.
    held = some[KEYWORD_COLUMN].is_not_null().arg_true().to_list()
    assert held == [0, 2, 3, 4, 5, 6, 7, 9]
    for column in (KEYWORD_COLUMN, KEYWORD_LOWER_COLUMN):
        assert some[column].gather(held).to_list() == full[column].gather(held).to_list()
    assert full[KEYWORD_COLUMN][0] == (
        "1\nMicrosoft-Windows-Sysmon/Operational\nmimikatz SEKURLSA::logonpasswords"
    )
    # Every keyword rule decides alike on both, for every event (log source aside).
    event_id = [
        pl.col("event.code").alias(column_name("EventID")),
        pl.col("event.code").alias(lower_name("EventID")),
    ]
    # A rule's value is null where it reads a missing field: false for the engine.
    exprs = [r.expr.fill_null(False).alias(r.key) for r in rules]
    decided = some.with_columns(event_id).select(exprs)
    assert decided.equals(full.with_columns(event_id).select(exprs))
    assert decided.sum().row(0) == (4, 3, 1, 1)


def test_no_event_holds_a_literal() -> None:
    frame = FRAME.filter(pl.col("event.code") == "4688").with_columns(
        pl.lit("nothing here").alias("winlog.event_data.CommandLine"),
        pl.lit(None, dtype=pl.String).alias("winlog.event_data.Details"),
    )
    assert _hits(_rule(NOT_KEYWORDS), frame) == list(range(frame.height))
    assert _hits(_rule(KEYWORDS), frame) == []


def test_many_fields_are_scanned_a_few_at_a_time() -> None:
    # 30 text fields, mostly empty: the literal is found in whichever field holds it,
    # and the text of those events is every field's, joined in order.
    width = 30
    rows = [{}, {7: "x mimikatz"}, {0: "a", 29: "PRIVILEGE::Debug"}, {3: "b", 12: "c"}, {15: ""}]
    frame = pl.DataFrame(
        {f"winlog.event_data.F{k:02d}": [r.get(k) for r in rows] for k in range(width)},
        schema={f"winlog.event_data.F{k:02d}": pl.String for k in range(width)},
    ).with_row_index(ROW_COLUMN)
    full = _with_keywords(frame)
    some = _with_keywords(frame, ("mimikatz", "privilege::debug"))
    assert some[KEYWORD_COLUMN].to_list() == [None, "x mimikatz", "a\nPRIVILEGE::Debug", None, None]
    held = [1, 2]
    assert some[KEYWORD_LOWER_COLUMN].gather(held).equals(full[KEYWORD_LOWER_COLUMN].gather(held))
    assert _with_keywords(frame, ("nowhere",))[KEYWORD_COLUMN].null_count() == len(rows)


def test_holds_any_is_ascii_case_insensitive() -> None:
    texts = pl.Series(
        "t",
        [
            "SEKURLSA::x",
            "se\u212aurlsa::",  # Kelvin sign
            "EO.OE.KIW\u0130",  # dotted capital I
            "sekurlsa:",
            "a.b(c)",  # regular-expression characters are literal
            "axb(c)",
            "ſekurlsa::",  # long s: its lower case is not 's'
            None,
        ],
    )
    held = pl.select(_holds_any(pl.lit(texts), ("a.b(c)", "sekurlsa::"))).to_series()
    assert held.to_list() == [True, True, True, False, True, False, False, None]
