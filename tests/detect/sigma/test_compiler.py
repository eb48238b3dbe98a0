"""Rule metadata: ATT&CK tags split into tactics and technique ids; level to severity."""

from __future__ import annotations

import pytest
from sigma.rule import SigmaRule

from sekimori.detect.sigma.compiler import RuleCompiler, attack_tags, exact_requirement
from sekimori.model import Severity

RULE = """
title: t
id: 8f0e2f70-0000-4000-8000-000000000001
tags: [attack.execution, attack.t1059.001, attack.defense-evasion, attack.g0032, cve.2021-1]
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\x.exe'}
  condition: sel
level: critical
"""


def test_attack_tags() -> None:
    rule = SigmaRule.from_yaml(RULE)
    assert attack_tags(rule.tags) == (("execution", "defense-evasion"), ("T1059.001",))


def test_compiled_rule_meta_and_needs() -> None:
    compiled = RuleCompiler().compile(SigmaRule.from_yaml(RULE), key="r0", ruleset="sigma")
    assert compiled.meta.severity is Severity.CRITICAL
    assert compiled.meta.rule_id == "8f0e2f70-0000-4000-8000-000000000001"
    assert compiled.needs.raw == {"Image"}
    assert [s.name for s in compiled.selections] == ["sel"]


def _exact(detection: str) -> bool:
    text = "title: t\nlogsource: {product: windows, category: process_creation}\n" + detection
    rule = RuleCompiler().compile(SigmaRule.from_yaml(text), key="r", ruleset="sigma")
    return exact_requirement(rule)


@pytest.mark.parametrize(
    ("detection", "exact"),
    [
        (
            "detection:\n  sel: {CommandLine|contains: ['-enc ', 'frombase64']}\n"
            "  condition: sel\n",
            True,
        ),
        (
            "detection:\n  a: {CommandLine|contains|all: ['-nop', '-w hidden']}\n"
            "  b: {ParentCommandLine|contains: 'winword'}\n  condition: a and b\n",
            True,
        ),
        ("detection:\n  sel: {CommandLine|contains|windash: '-enc '}\n  condition: sel\n", True),
        ("detection:\n  sel: {Hashes|contains: 'MD5=0A1B'}\n  condition: all of sel*\n", True),
        ("detection:\n  keywords: ['mimikatz', '*sekurlsa*']\n  condition: keywords\n", True),
        # The prefilter's literal is necessary, not sufficient, for these.
        ("detection:\n  sel: {Image|endswith: '\\\\mshta.exe'}\n  condition: sel\n", False),
        ("detection:\n  sel: {CommandLine|contains: 'a*b-c'}\n  condition: sel\n", False),
        ("detection:\n  sel: {CommandLine|contains|cased: 'IEX'}\n  condition: sel\n", False),
        ("detection:\n  sel: {CommandLine|contains: ['-enc', 'ab']}\n  condition: sel\n", False),
        (
            "detection:\n  sel: {CommandLine|contains: '-enc'}\n"
            "  filter: {User|contains: 'system'}\n  condition: sel and not filter\n",
            False,
        ),
        (
            "detection:\n  sel1: {CommandLine|contains|all: ['-nop', '-w hidden']}\n"
            "  condition: 1 of sel*\n",
            False,
        ),
        (
            "detection:\n  sel:\n    - CommandLine|contains: '-enc'\n    - Image|contains: 'pwsh'\n"
            "  condition: sel\n",
            False,
        ),
        (
            "detection:\n  a: {CommandLine|contains: '-enc'}\n  b: {Image|contains: 'pwsh'}\n"
            "  condition: a or b\n",
            False,
        ),
    ],
)
def test_exact_requirement(detection: str, exact: bool) -> None:
    assert _exact(detection) is exact
