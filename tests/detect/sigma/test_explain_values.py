"""Evidence values: plain comparisons decided in Python give what polars gives, value by value."""

from __future__ import annotations

import io

import polars as pl
import pytest
from sigma.rule import SigmaRule

from sekimori.detect.sigma.compiler import (
    CompiledRule,
    RuleCompiler,
    forced_selections,
    plain_test,
)
from sekimori.detect.sigma.engine import Match, evaluate, group_rules
from sekimori.detect.sigma.fields import CANONICAL_PREFIX, LOWER_PREFIX

HEAD = """
title: t
logsource: {product: windows, category: process_creation}
detection:
"""

LIST_RULE = (
    HEAD
    + """
  sel:
    CommandLine|contains: ['-enc', ' -e ', 'http', 'HTTP://', 'x.invalid']
    Image|endswith: ['\\\\powershell.exe', '\\\\pwsh.exe']
  other:
    CommandLine|windash|contains: '-nop'
  cased:
    CommandLine|cased|contains: 'IEX'
  numbers:
    ProcessId: [42, 43]
    IntegrityLevel: ['High', 'System']
  any_parent:
    ParentImage: '*'
  starts:
    CurrentDirectory|startswith: ['C:\\\\Users\\\\', 'C:\\\\ProgramData\\\\']
  inner:
    CommandLine: '*http*invalid*'
  regex:
    CommandLine|re: '(?i)-e(nc)?\\s'
  filter:
    ParentImage|endswith: '\\\\explorer.exe'
  condition: (sel or other or cased or numbers or starts or inner or regex) and not filter
"""
)

FRAME = pl.DataFrame(
    {
        "event.code": ["1"] * 6,
        "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"] * 6,
        "winlog.event_data.Image": [
            "C:\\Windows\\PowerShell.exe",
            "C:\\pwsh.exe",
            "C:\\cmd.exe",
            "C:\\Windows\\PowerShell.exe",
            None,
            "C:\\Windows\\PowerShell.exe",
        ],
        "winlog.event_data.CommandLine": [
            "powershell -enc AAAA HTTP://X.invalid/ IEX",
            "pwsh /nop -e x",
            "cmd /c echo iex",
            "powershell -enc AAAA HTTP://X.invalid/ IEX",
            "Ünïcödé http ☃ x.invalid",
            "powershell -enc",
        ],
        "winlog.event_data.ProcessId": ["42", "7", "43", "42", None, "1"],
        "winlog.event_data.IntegrityLevel": ["high", "SYSTEM", "Medium", "high", None, None],
        "winlog.event_data.ParentImage": [
            "C:\\a.exe",
            "",
            None,
            "C:\\a.exe",
            "C:\\b",
            "C:\\Windows\\explorer.exe",
        ],
        "winlog.event_data.CurrentDirectory": [
            "c:\\users\\x\\",
            None,
            "C:\\ProgramData\\y",
            "c:\\users\\x\\",
            None,
            "C:\\Windows\\explorer.exe",
        ],
    }
)


def _compile(text: str, key: str = "r0") -> CompiledRule:
    return RuleCompiler().compile(SigmaRule.from_yaml(text), key=key, ruleset="sigma")


def _reference(match: Match) -> list[dict[str, list[str]]]:
    """Every value test of the true selections, evaluated by polars on the match's rows."""
    rows = match.rows[list(match.indices)]
    rows = rows.with_columns(
        pl.col(c).str.to_lowercase().alias(LOWER_PREFIX + c.removeprefix(CANONICAL_PREFIX))
        for c in rows.columns
        if c.startswith(CANONICAL_PREFIX)
    )
    out = []
    for k, names in enumerate(match.selections):
        found: dict[str, list[str]] = {}
        for sel in match.rule.selections:
            if sel.name not in names:
                continue
            for fname, label, test in sel.value_tests():
                if rows[k].select(test.fill_null(False)).item():
                    found.setdefault(fname, []).append(label)
        out.append(found)
    return out


def test_values_of_lists_cased_numbers_and_expansions_match_polars() -> None:
    rule = _compile(LIST_RULE)
    matches = evaluate(FRAME, group_rules([rule]))
    assert len(matches) == 1
    match = matches[0]
    assert match.row_ids == (0, 1, 2, 3, 4)
    assert list(match.values) == _reference(match)
    regex = "(\\?i)-e(nc)\\?\\s"  # the label pySigma gives the regular expression
    assert match.evidence(0)["values"] == {
        "CommandLine": ["-enc", "http", "HTTP://", "x.invalid", "IEX", "*http*invalid*", regex],
        "Image": ["\\powershell.exe"],
        "ProcessId": ["42"],
        "IntegrityLevel": ["High"],
        "ParentImage": ["*"],
        "CurrentDirectory": ["C:\\Users\\"],
    }
    # windash: '/nop' is one of the alternatives of '-nop'; the label is the rule's value.
    # 'SYSTEM' is one of the IntegrityLevel values, but 'numbers' is not true on the row.
    assert match.evidence(1)["values"] == {
        "CommandLine": [" -e ", "-nop", regex],
        "Image": ["\\pwsh.exe"],
        "ParentImage": ["*"],
    }
    # 'iex' is not 'IEX' for a cased value; an empty ParentImage exists.
    assert match.selections[2] == ("starts",)
    assert match.values[2] == {"CurrentDirectory": ["C:\\ProgramData\\"]}
    assert match.values[4] == {"ParentImage": ["*"], "CommandLine": ["*http*invalid*"]}
    # The same row twice gives the same evidence.
    assert match.values[3] == match.values[0]


def test_only_true_selections_give_values() -> None:
    rule = _compile(LIST_RULE)
    match = evaluate(FRAME, group_rules([rule]))[0]
    for names, values in zip(match.selections, match.values, strict=True):
        assert "filter" not in names
        assert set(values) <= {
            f for sel in rule.selections if sel.name in names for f in sel.fields
        }


def test_plain_tests_survive_serialization() -> None:
    rule = _compile(LIST_RULE)
    kinds = {}
    for sel in rule.selections:
        for fname, label, test in sel.value_tests():
            blob = test.meta.serialize(format="binary")
            again = pl.Expr.deserialize(io.BytesIO(blob), format="binary")
            assert plain_test(again) == plain_test(test)
            kinds[(sel.name, fname, label)] = plain_test(test)
    assert kinds[("sel", "CommandLine", "HTTP://")] == (
        ("__sigma_lc__.CommandLine", "contains", "http://"),
    )
    assert kinds[("cased", "CommandLine", "IEX")] == (("__sigma__.CommandLine", "contains", "IEX"),)
    assert kinds[("numbers", "ProcessId", "42")] == (("__sigma_lc__.ProcessId", "eq", "42"),)
    assert kinds[("any_parent", "ParentImage", "*")] == (("__sigma_lc__.ParentImage", "any", ""),)
    windash = kinds[("other", "CommandLine", "-nop")]
    assert windash is not None
    assert {t for _c, _op, t in windash} >= {"-nop", "/nop"}
    assert kinds[("inner", "CommandLine", "*http*invalid*")] is None
    assert kinds[("regex", "CommandLine", "(\\?i)-e(nc)\\?\\s")] is None


@pytest.mark.parametrize(
    "value",
    [
        "DestinationIp|cidr: '10.0.0.0/8'",
        "ProcessId|gt: 4",
        "ParentImage: null",
        "ParentImage|exists: true",
        "ParentImage|fieldref: Image",
        "UtcTime|hour: 3",
        "Image|re: 'a.c'",
        "Image: 'a?c'",
    ],
)
def test_other_values_are_left_to_polars(value: str) -> None:
    rule = _compile(HEAD + f"  sel:\n    {value}\n  condition: sel\n")
    tests = [t for sel in rule.selections for _f, _l, t in sel.value_tests()]
    assert tests
    assert all(plain_test(t) is None for t in tests)


MIXED_RULE = (
    HEAD
    + """
  sel_ip:
    DestinationIp|cidr: ['10.0.0.0/8', '192.168.0.0/16']
    DestinationPort: [445, 139]
  sel_cmd:
    CommandLine|contains|all: ['net', 'use']
    CommandLine|endswith: ['.exe', '.bat']
  condition: 1 of sel_*
"""
)


def test_mixed_plain_and_polars_tests_in_one_rule() -> None:
    rule = _compile(MIXED_RULE)
    frame = pl.DataFrame(
        {
            "event.code": ["1", "1", "1"],
            "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"] * 3,
            "winlog.event_data.DestinationIp": ["10.1.2.3", "8.8.8.8", "192.168.1.1"],
            "winlog.event_data.DestinationPort": ["445", "445", "139"],
            "winlog.event_data.CommandLine": ["net use x.bat", "NET USE y.EXE", None],
        }
    )
    match = evaluate(frame, group_rules([rule]))[0]
    assert list(match.values) == _reference(match)
    assert match.values == (
        {
            "DestinationIp": ["10.0.0.0/8"],
            "DestinationPort": ["445"],
            "CommandLine": ["net", "use", ".bat"],
        },
        {"CommandLine": ["net", "use", ".exe"]},
        {"DestinationIp": ["192.168.0.0/16"], "DestinationPort": ["139"]},
    )


def _reference_selections(match: Match) -> list[tuple[str, ...]]:
    """Every selection evaluated by polars on the match's rows."""
    rows = match.rows[list(match.indices)].with_columns(
        pl.col(c).str.to_lowercase().alias(LOWER_PREFIX + c.removeprefix(CANONICAL_PREFIX))
        for c in match.rows.columns
        if c.startswith(CANONICAL_PREFIX)
    )
    flags = rows.select(s.expr.alias(s.name) for s in match.rule.selections)
    return [tuple(n for n in flags.columns if flags[n][k]) for k in range(flags.height)]


@pytest.mark.parametrize(
    ("condition", "forced"),
    [
        ("sel and not filter", {"sel": True, "filter": False}),
        ("1 of sel* and not 1 of filter*", {"filter": False}),
        ("all of sel* and not filter", {"sel": True, "sel_b": True, "filter": False}),
        ("sel or filter", {}),
        ("not (sel or filter) and sel_b", {"sel": False, "filter": False, "sel_b": True}),
        ("sel and (sel_b or not filter)", {"sel": True}),
        ("not 1 of sel* and filter", {"sel": False, "sel_b": False, "filter": True}),
    ],
)
def test_forced_selections_are_not_evaluated_again(condition: str, forced: dict[str, bool]) -> None:
    rule = _compile(
        HEAD
        + f"""
  sel:
    CommandLine|contains: 'http'
  sel_b:
    Image|endswith: '.exe'
  filter:
    ParentImage|endswith: '\\\\explorer.exe'
  condition: {condition}
"""
    )
    assert dict(forced_selections(rule)) == forced
    blob = rule.expr.meta.serialize(format="binary")
    again = pl.Expr.deserialize(io.BytesIO(blob), format="binary")
    assert again.meta.output_name() == rule.expr.meta.output_name()
    frame = pl.DataFrame(
        {
            "event.code": ["1"] * 5,
            "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"] * 5,
            "winlog.event_data.CommandLine": ["http://x", "cmd", "http", None, "x"],
            "winlog.event_data.Image": ["a.exe", "b.exe", "c.exe", None, "y.dll"],
            "winlog.event_data.ParentImage": [
                "C:\\explorer.exe",
                None,
                "cmd.exe",
                None,
                "C:\\explorer.exe",
            ],
        }
    )
    matches = evaluate(frame, group_rules([rule]))
    assert matches
    for match in matches:
        assert list(match.selections) == _reference_selections(match)
        assert list(match.values) == _reference(match)


def test_several_conditions_force_nothing() -> None:
    text = HEAD + "  sel:\n    Image: x\n  filter:\n    Image: y\n"
    rule = _compile(text + "  condition:\n    - sel and not filter\n    - filter\n")
    assert dict(forced_selections(rule)) == {}


def test_selections_of_sigmahq_like_rule_match_polars() -> None:
    match = evaluate(FRAME, group_rules([_compile(LIST_RULE)]))[0]
    assert list(match.selections) == _reference_selections(match)
