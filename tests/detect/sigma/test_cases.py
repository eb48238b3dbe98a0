"""Every modifier and condition form, as small data-driven cases (tests/data/sigma/cases)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from sekimori.detect.sigma.detector import SigmaDetector
from tests.conftest import TEST_DATA
from tests.detect.sigma.cases import case_batch, load_case, write_rules

CASES = sorted((TEST_DATA / "sigma" / "cases").glob("*.yml"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path, tmp_path: Path) -> None:
    case = load_case(path)
    write_rules(case, tmp_path)
    detector = SigmaDetector(
        [tmp_path], use_default_rules=False, placeholders=case.get("placeholders"), rule_cache=False
    )
    assert detector.load_report.rejected == []
    state = detector.new_state()
    findings = detector.detect(case_batch(case, path.name), state)
    correlated = detector.finish(state)

    got: dict[str, list[int]] = defaultdict(list)
    for f in findings:
        assert f.event_id is not None
        got[f.rule_id].append(int(f.event_id))
    expected = case["matches"]
    if isinstance(expected, list):
        rule_ids = [
            r["id"] for r in (case.get("rules") or [case["rule"]]) if "correlation" not in r
        ]
        expected = {rule_ids[0]: expected} if expected else {}
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in expected.items()}

    counts: dict[str, int] = defaultdict(int)
    for f in correlated:
        counts[f.rule_id] += 1
    assert dict(counts) == (case.get("correlations") or {})


def test_case_findings_explain_themselves(tmp_path: Path) -> None:
    case = load_case(TEST_DATA / "sigma" / "cases" / "contains_startswith_endswith.yml")
    write_rules(case, tmp_path)
    detector = SigmaDetector([tmp_path], use_default_rules=False, rule_cache=False)
    findings = detector.detect(case_batch(case, "x"), detector.new_state())
    first = next(f for f in findings if f.event_id == "0")
    assert first.evidence["selections"] == ["sel_contains", "sel_start", "sel_end"]
    assert first.evidence["fields"] == {
        "CommandLine": "powershell (new-object net.webclient).downloadstring(x)",
        "Image": "c:\\users\\bob\\a.exe",
        "ParentImage": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
    }
    assert first.ruleset == "sigma"
    assert first.host_name == "ws01"
