"""Loading SigmaHQ folders: every parsed rule loads or is reported once, with a reason."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection

from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.detect.sigma.loader import load_rules

LOOKAROUND_RULE = """
title: look-around regex
id: 0a4b2c9e-1111-4000-8000-000000000001
logsource: {product: windows, category: process_creation}
detection:
    selection:
        User|re: '(?<!NT AUTHORITY\\\\)SYSTEM'
    condition: selection
"""
OK_RULE = """
title: plain rule
id: 0a4b2c9e-2222-4000-8000-000000000001
logsource: {product: windows, category: process_creation}
detection:
    selection:
        User: SYSTEM
    condition: selection
"""


@pytest.mark.shared_data
def test_every_parsed_rule_loads_or_is_reported(
    sigmahq_detector: SigmaDetector, sigmahq_folders: list[Path]
) -> None:
    parsed = SigmaCollection.load_ruleset(list(sigmahq_folders), collect_errors=True)
    report = sigmahq_detector.load_report
    sigmahq_ids = {str(r.id) for r in parsed.rules}
    loaded_ids = {r.meta.rule_id for r in sigmahq_detector.rules} | {
        c.meta.rule_id for c in sigmahq_detector.ruleset.correlations
    }
    rejected = Counter(what for what, _why in report.rejected)
    assert all(n == 1 for n in rejected.values()), "a rule is reported more than once"
    assert all(why for _what, why in report.rejected)
    missing = sigmahq_ids - loaded_ids - set(rejected)
    assert not missing, f"silently dropped: {sorted(missing)[:5]}"
    reasons = Counter(why.split("'")[0] for _what, why in report.rejected)
    print(f"loaded {report.loaded}, rejected {len(report.rejected)}: {dict(reasons)}")
    # Every Windows rule loads, except the two categories without an event log
    # source and the two rules whose %placeholder% has no configured values.
    windows_rejected = [
        why
        for what, why in report.rejected
        if what in sigmahq_ids and "is not a Windows event log" not in why
    ]
    assert all(
        "has no Windows event log source" in why or "placeholder %known_cdcs%" in why
        for why in windows_rejected
    ), windows_rejected
    assert len(windows_rejected) <= 20
    assert report.loaded >= 2800


def test_rejected_rule_is_reported_once_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "lookaround.yml").write_text(LOOKAROUND_RULE, encoding="utf-8")
    (tmp_path / "broken.yml").write_text("title: [unclosed\n", encoding="utf-8")
    ruleset = load_rules([tmp_path])
    assert ruleset.report.loaded == 0
    reasons = dict(ruleset.report.rejected)
    assert len(ruleset.report.rejected) == 2
    assert "is invalid" in reasons["0a4b2c9e-1111-4000-8000-000000000001"]
    assert "unreadable rule file" in reasons[str(tmp_path / "broken.yml")]


def test_missing_rule_folder_is_an_error(tmp_path: Path) -> None:
    from sekimori.errors import RuleError

    with pytest.raises(RuleError):
        load_rules([tmp_path / "absent"])


def test_parsed_rules_are_cached(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "lookaround.yml").write_text(LOOKAROUND_RULE, encoding="utf-8")
    (rules / "ok.yml").write_text(OK_RULE, encoding="utf-8")
    cache = tmp_path / "cache"
    first = load_rules([rules], cache_dir=cache)
    assert len(list(cache.glob("*.pickle"))) == 1
    second = load_rules([rules], cache_dir=cache)
    assert (second.report.loaded, second.report.rejected) == (
        first.report.loaded,
        first.report.rejected,
    )
    assert first.report.loaded == 1
    next(cache.glob("*.pickle")).write_bytes(b"not a pickle")
    third = load_rules([rules], cache_dir=cache)
    assert third.report.loaded == 1
    (rules / "ok.yml").write_text("title: [broken\n", encoding="utf-8")
    fourth = load_rules([rules], cache_dir=cache)
    assert fourth.report.loaded == 0
