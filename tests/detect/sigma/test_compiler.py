"""Rule metadata: ATT&CK tags split into tactics and technique ids; level to severity."""

from __future__ import annotations

from sigma.rule import SigmaRule

from sekimori.detect.sigma.compiler import RuleCompiler, attack_tags
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
