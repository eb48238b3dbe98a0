"""Literal requirements: necessary literals of a rule, or None when it has none."""

from __future__ import annotations

from sigma.rule import SigmaRule

from sekimori.detect.sigma.fields import lower_name
from sekimori.detect.sigma.prefilter import requirement

HEAD = "title: t\nlogsource: {product: windows, category: process_creation}\ndetection:\n"


def _req(detection: str) -> object:
    return requirement(SigmaRule.from_yaml(HEAD + detection).detection)


def test_or_of_values_and_best_of_and() -> None:
    req = _req(
        "  sel:\n    Image|endswith: ['\\\\powershell.exe', '\\\\pwsh.exe']\n"
        "    CommandLine|contains: ' -e'\n  condition: sel\n"
    )
    assert req == frozenset(
        {(lower_name("Image"), "\\powershell.exe"), (lower_name("Image"), "\\pwsh.exe")}
    )


def test_wildcard_keeps_longest_literal() -> None:
    req = _req("  sel:\n    Image: 'C:\\\\*\\\\AppData\\\\*.exe'\n  condition: sel\n")
    assert req == frozenset({(lower_name("Image"), "\\appdata\\")})


def test_no_requirement_for_regex_or_negation() -> None:
    assert _req("  sel:\n    CommandLine|re: 'a.b'\n  condition: sel\n") is None
    assert _req("  sel:\n    Image: 'x.exe'\n  condition: not sel\n") is None
    assert _req("  a:\n    Image: 'xyz.exe'\n  b:\n    User|re: 'x'\n  condition: a or b\n") is None
