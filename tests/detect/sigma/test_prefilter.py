"""Literal requirements: necessary literals of a rule, or None when it has none."""

from __future__ import annotations

from sigma.rule import SigmaRule

from sekimori.detect.sigma.fields import lower_name
from sekimori.detect.sigma.prefilter import ClauseIndex, holds, requirement

HEAD = "title: t\nlogsource: {product: windows, category: process_creation}\ndetection:\n"


def _req(detection: str) -> object:
    return requirement(SigmaRule.from_yaml(HEAD + detection).detection)


IMAGE, CMD = lower_name("Image"), lower_name("CommandLine")
PS = frozenset({(IMAGE, "\\powershell.exe"), (IMAGE, "\\pwsh.exe")})


def test_or_of_values_and_every_clause_of_and() -> None:
    req = _req(
        "  sel:\n    Image|endswith: ['\\\\powershell.exe', '\\\\pwsh.exe']\n"
        "    CommandLine|contains: ' -enc'\n  condition: sel\n"
    )
    assert req == (PS, frozenset({(CMD, " -enc")}))
    # a literal shorter than MIN_LITERAL filters nothing: its clause is left out
    short = _req(
        "  sel:\n    Image|endswith: ['\\\\powershell.exe', '\\\\pwsh.exe']\n"
        "    CommandLine|contains: '-e'\n  condition: sel\n"
    )
    assert short == (PS,)


def test_and_of_selections_and_all_modifier_give_clauses() -> None:
    req = _req(
        "  img:\n    Image|endswith: ['\\\\powershell.exe', '\\\\pwsh.exe']\n"
        "  cli:\n    CommandLine|contains|all: ['downloadstring', 'http']\n"
        "  condition: img and cli\n"
    )
    assert req == (PS, frozenset({(CMD, "downloadstring")}), frozenset({(CMD, "http")}))
    # an OR keeps one clause: the best of each side, joined
    either = _req(
        "  img:\n    Image|endswith: ['\\\\powershell.exe', '\\\\pwsh.exe']\n"
        "  cli:\n    CommandLine|contains|all: ['downloadstring', 'http']\n"
        "  condition: img or cli\n"
    )
    assert either == (frozenset({(CMD, "downloadstring")}) | PS,)


def test_holds_needs_every_clause() -> None:
    req = (PS, frozenset({(CMD, " -enc")}))
    assert holds(req, {(IMAGE, "\\pwsh.exe"), (CMD, " -enc")})
    assert not holds(req, {(IMAGE, "\\pwsh.exe")})


def test_wildcard_keeps_longest_literal() -> None:
    req = _req("  sel:\n    Image: 'C:\\\\*\\\\AppData\\\\*.exe'\n  condition: sel\n")
    assert req == (frozenset({(IMAGE, "\\appdata\\")}),)


def test_no_requirement_for_regex_or_negation() -> None:
    assert _req("  sel:\n    CommandLine|re: 'a.b'\n  condition: sel\n") is None
    assert _req("  sel:\n    Image: 'x.exe'\n  condition: not sel\n") is None
    assert _req("  a:\n    Image: 'xyz.exe'\n  b:\n    User|re: 'x'\n  condition: a or b\n") is None


def test_clause_index_checks_every_clause_within_one_signature() -> None:
    index = ClauseIndex.of([(PS, frozenset({(CMD, " -enc")})), (PS,)])
    signatures = [
        [(IMAGE, "\\pwsh.exe")],  # rule 1 only
        [(CMD, " -enc")],  # neither: rule 0 needs both in one event
        [(IMAGE, "\\powershell.exe"), (CMD, " -enc")],  # both
        [],
    ]
    assert index.satisfied(signatures) == {0: [2], 1: [0, 2]}
    assert index.satisfied([[(CMD, " -enc")], []]) == {}
