"""Engine: rules grouped by variant; matches explain themselves; only asked columns kept."""

from __future__ import annotations

import random
from collections.abc import Callable

import polars as pl
import pytest
from polars.expr.meta import ExprMetaNameSpace
from sigma.rule import SigmaRule

from sekimori.detect.sigma import engine
from sekimori.detect.sigma.compiler import CompiledRule, RuleCompiler, exact_requirement
from sekimori.detect.sigma.engine import _restricted, _variant_masks, evaluate, group_rules
from sekimori.detect.sigma.fields import FieldResolver
from sekimori.detect.sigma.logsource import CATEGORY_VARIANTS

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


def _compile(detection: str, key: str) -> CompiledRule:
    text = f"title: {key}\nlogsource: {{product: windows, category: process_creation}}\n"
    return RuleCompiler().compile(SigmaRule.from_yaml(text + detection), key=key, ruleset="sigma")


# Both literals occur in the batch, never in one event: "both" is not evaluated.
BOTH = """detection:
  img: {Image|endswith: '\\\\rundll32.exe'}
  cli: {CommandLine|contains: 'javascript:'}
  condition: img and cli
"""
EITHER = """detection:
  img: {Image|endswith: '\\\\rundll32.exe'}
  cli: {CommandLine|contains|all: ['javascript:', 'x']}
  filter: {ParentImage|endswith: '\\\\explorer.exe'}
  condition: (img or cli) and not filter
"""
# An IPv6 network, tested in Python: not serialized, evaluated on every row.
PYTHON = """detection:
  img: {Image|endswith: '\\\\rundll32.exe'}
  net: {DestinationIp|cidr: 'fc00::/7'}
  condition: img and net
"""


def _rundll_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event.code": ["1"] * 5,
            "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"] * 5,
            "winlog.event_data.Image": [
                "C:\\Windows\\rundll32.exe",
                "C:\\cmd.exe",
                "C:\\Windows\\RUNDLL32.EXE",
                "C:\\Windows\\rundll32.exe",
                None,
            ],
            "winlog.event_data.CommandLine": [
                "rundll32 a.dll",
                "cmd /c javascript:x",
                "rundll32 javascript:alert",
                "rundll32 JavaScript:1",
                "javascript:",
            ],
            "winlog.event_data.ParentImage": [None, None, None, "C:\\explorer.exe", None],
            "winlog.event_data.DestinationIp": [None, "fd00::1", "fd00::2", None, "fd00::3"],
        }
    )


def test_rules_run_on_the_rows_holding_their_literals() -> None:
    rules = [_compile(BOTH, "both"), _compile(EITHER, "either"), _compile(PYTHON, "python")]
    groups = group_rules(rules)
    frame = _rundll_frame()
    matches = {m.rule.key: m for m in evaluate(frame, groups)}
    found = {key: m.row_ids for key, m in matches.items()}
    assert found == {"both": (2, 3), "either": (0, 1, 2), "python": (2,)}
    # Selections and values are worked out on each rule's own rows.
    either = matches["either"]
    assert [either.evidence(i)["selections"] for i in range(3)] == [
        ["img"],
        ["cli"],
        ["img"],
    ]
    assert matches["python"].evidence(0)["values"] == {
        "Image": ["\\rundll32.exe"],
        "DestinationIp": ["fc00::/7"],
    }
    group = groups[0]
    assert _restricted(group, rules[0]) is not None
    assert _restricted(group, rules[2]) is None
    # Each rule restricted to its own rows gives what the whole rule gives there.
    for row in range(frame.height):
        alone = {m.rule.key: m.row_ids for m in evaluate(frame[row], groups)}
        expected = {k: (0,) for k, ids in found.items() if row in ids}
        assert alone == expected


def test_columns_without_a_value_are_not_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [_compile(BOTH, "both"), _compile(EITHER, "either")]
    groups = group_rules(rules)
    frame = _rundll_frame().with_columns(
        pl.lit(None, dtype=pl.String).alias("winlog.event_data.CommandLine")
    )
    scanned: list[str] = []
    found = engine._found

    def recording(column: str, literals: tuple[str, ...], rows: int) -> pl.Expr:
        scanned.append(column)
        return found(column, literals, rows)

    monkeypatch.setattr(engine, "_found", recording)
    matches = {m.rule.key: m.row_ids for m in evaluate(frame, groups)}
    assert matches == {"either": (0, 2)}  # row 3 is filtered: explorer.exe its parent
    assert scanned and not any("CommandLine" in column for column in scanned)
    # No column with a value: no rule with a requirement can hold.
    empty = frame.with_columns(pl.lit(None, dtype=pl.String).alias("winlog.event_data.Image"))
    assert evaluate(empty, groups) == []


def _serialize_fails(_meta: object, **_kw: object) -> str:
    raise pl.exceptions.ComputeError("cannot serialize")


def _no_json(_meta: object, **_kw: object) -> str:
    return "not json"


def _other_shape(_meta: object, **_kw: object) -> str:
    return '{"Column": ["a", "b"], "Filter": null}'


def _deserialize_fails(_source: object, **_kw: object) -> pl.Expr:
    raise ValueError("unknown variant")


def _deserialize_panics(_source: object, **_kw: object) -> pl.Expr:
    raise pl.exceptions.PanicException("unreachable")


def _runs_badly(_source: object, **_kw: object) -> pl.Expr:
    # Built, but fails on the batch: no such column.
    return pl.col("__nowhere__") > 1


@pytest.mark.parametrize(
    ("target", "fake", "built"),
    [
        (ExprMetaNameSpace, _serialize_fails, False),
        (ExprMetaNameSpace, _no_json, False),
        (ExprMetaNameSpace, _other_shape, False),
        (pl.Expr, _deserialize_fails, False),
        (pl.Expr, _deserialize_panics, False),
        (pl.Expr, _runs_badly, True),
    ],
)
def test_rules_whose_restriction_fails_run_on_every_row(
    monkeypatch: pytest.MonkeyPatch, target: type, fake: Callable[..., object], built: bool
) -> None:
    rules = [_compile(BOTH, "both"), _compile(EITHER, "either"), _compile(PYTHON, "python")]
    frame = _rundll_frame()
    expected = [(m.rule.key, m.row_ids, m.selections) for m in evaluate(frame, group_rules(rules))]
    name = "serialize" if target is ExprMetaNameSpace else "deserialize"
    monkeypatch.setattr(target, name, fake if name == "serialize" else staticmethod(fake))
    groups = group_rules(rules)
    assert (_restricted(groups[0], rules[0]) is not None) is built
    found = [(m.rule.key, m.row_ids, m.selections) for m in evaluate(frame, groups)]
    assert found == expected
    # Once it failed, the rule is evaluated whole, without trying again.
    assert _restricted(groups[0], rules[0]) is None


# A test of a missing field is null, not false: "not" must see it as false.
MISSING_UNDER_NOT = """detection:
  selection: {Image|endswith: '\\\\powershell.exe'}
  filter_parent: {ParentImage|endswith: '\\\\explorer.exe'}
  filter_user: {User|contains: 'SYSTEM'}
  filter_both: {ParentImage|endswith: '\\\\services.exe', IntegrityLevel: 'System'}
  condition: selection and not 1 of filter_* and not (filter_parent or filter_user and filter_both)
"""


def test_missing_fields_are_false_under_not() -> None:
    rule = _compile(MISSING_UNDER_NOT, "missing")
    rows = [
        {},
        {"ParentImage": "C:\\explorer.exe"},
        {"ParentImage": "C:\\services.exe"},
        {"ParentImage": "C:\\services.exe", "IntegrityLevel": "System"},
        {"User": "NT AUTHORITY\\SYSTEM"},
        {"User": "bob", "ParentImage": "C:\\winword.exe"},
    ]
    frame = pl.DataFrame(
        {
            "event.code": ["1"] * len(rows),
            "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"] * len(rows),
            "winlog.event_data.Image": ["C:\\powershell.exe"] * len(rows),
            **{
                f"winlog.event_data.{name}": [r.get(name) for r in rows]
                for name in ("ParentImage", "User", "IntegrityLevel")
            },
        }
    )
    (match,) = evaluate(frame, group_rules([rule]))
    assert match.row_ids == (0, 2, 5)


def test_variant_masks_once_per_distinct_key_as_row_by_row() -> None:
    variants = [v for vs in CATEGORY_VARIANTS.values() for v in vs]
    frame = pl.DataFrame(
        {
            "event.code": ["1", "12", "12", "13", "4688", None, "12", "1"],
            "winlog.channel": [
                "Microsoft-Windows-Sysmon/Operational",
                "microsoft-windows-sysmon/operational",
                None,
                "Microsoft-Windows-Sysmon/Operational",
                "Security",
                "Security",
                "Microsoft-Windows-Sysmon/Operational",
                "Microsoft-Windows-Sysmon/Operational",
            ],
            "winlog.event_data.EventType": [
                None,
                "CreateKey",
                "DeleteValue",
                "SetValue",
                None,
                None,
                "createkey",
                None,
            ],
        }
    )
    resolver = FieldResolver(frame.schema)
    masks = [v.mask(resolver).alias(f"g{i}") for i, v in enumerate(variants)]
    assert len(masks) > 8
    assert _variant_masks(frame, masks).equals(frame.select(masks))


EXACT = """detection:
  cli: {CommandLine|contains|all: ['javascript:', 'rundll32']}
  img: {Image|contains: 'windows'}
  condition: cli and img
"""


def test_exact_rules_match_where_their_literals_are_without_evaluation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = [_compile(EXACT, "exact"), _compile(BOTH, "both")]
    assert [exact_requirement(r) for r in rules] == [True, False]
    frame = _rundll_frame()
    found = [(m.rule.key, m.row_ids, m.evidence(0)) for m in evaluate(frame, group_rules(rules))]
    monkeypatch.setattr(engine, "exact_requirement", lambda _rule: False)
    evaluated = [
        (m.rule.key, m.row_ids, m.evidence(0)) for m in evaluate(frame, group_rules(rules))
    ]
    assert found == evaluated
    assert [(key, rows) for key, rows, _ in found] == [("exact", (2, 3)), ("both", (2, 3))]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def test_hash_lists_are_found_as_tokens_as_by_aho_corasick() -> None:
    rng = random.Random(7)
    sizes = {"md5": 32, "sha1": 40, "sha256": 64, "imphash": 32}
    hashes = sorted({f"{name}={_hex(rng, n)}" for name, n in sizes.items() for _ in range(300)})
    literals = (*hashes, "\\evil.sys", "md5=", "sha1=zz", "sha1=ab")
    assert engine._hash_tokens(literals)[0] is not None
    pieces = [*rng.sample(hashes, 40), "md5=", "sha", "1=", "=", ",", "x", "imp", "hash=", "f0"]
    pieces += ["\\evil.sys", "zz", "ab"]
    texts: list[str | None] = [None, "", f"xmd5={hashes[0][4:]}", f"md5=md5={hashes[0][4:]}"]
    texts += [hashes[1] + "ff", hashes[2][:-1], "imp" + hashes[3], ",".join(hashes[4:8])]
    texts += ["".join(rng.choices(pieces, k=rng.randint(1, 12))) for _ in range(400)]
    frame = pl.DataFrame({"h": texts}, schema={"h": pl.String})
    tokens = frame.select(engine._found("h", literals, rows=1)).to_series().to_list()
    scanned = frame.select(pl.col("h").str.extract_many(list(literals), overlapping=True))
    for text, got, want in zip(texts, tokens, scanned.to_series().to_list(), strict=True):
        assert set(got or ()) == set(want or ()), text
    # Names one of which ends another could start inside it: the automaton is kept.
    nested = tuple(f"{name}={_hex(rng, 32)}" for name in ("hash", "imphash") for _ in range(600))
    assert engine._hash_tokens(nested)[0] is None


VALUES = """detection:
  sel:
    CommandLine|contains: ['javascript:', 'rundll32', 'alert', 'zzz']
    Image|endswith: ['\\\\rundll32.exe', '.exe', '\\\\cmd.exe']
  other: {CommandLine|startswith: ['rundll32 j', 'cmd']}
  condition: sel or other
"""


def test_values_of_many_plain_tests_and_again_on_the_next_batch() -> None:
    groups = group_rules([_compile(VALUES, "values")])
    frame = _rundll_frame()
    expected = [
        {"CommandLine": ["rundll32"], "Image": ["\\rundll32.exe", ".exe"]},
        {"CommandLine": ["javascript:", "cmd"], "Image": [".exe", "\\cmd.exe"]},
        {
            "CommandLine": ["javascript:", "rundll32", "alert", "rundll32 j"],
            "Image": ["\\rundll32.exe", ".exe"],
        },
        {
            "CommandLine": ["javascript:", "rundll32", "rundll32 j"],
            "Image": ["\\rundll32.exe", ".exe"],
        },
    ]
    for _batch in range(2):
        (match,) = evaluate(frame, groups)
        assert match.row_ids == (0, 1, 2, 3)
        assert [match.evidence(i)["values"] for i in range(4)] == expected
    assert set(groups[0].values) == {("values", "sel"), ("values", "other")}
