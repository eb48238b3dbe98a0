"""SigmaHQ's regression suite: every rule fires on its own sample, match_count times.

Each ``regression_data/**/info.yml`` names a rule id and an ``.evtx`` sample (the
same events are beside it as evtx JSON). Both are read by Sekimori's own sources;
the rule must match the EVTX and the JSON form alike, exactly ``match_count``
times where upstream gives one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.detect.sigma.engine import evaluate, group_rules
from sekimori.model import EventBatch
from sekimori.sources import ReadContext, read_file
from tests.conftest import SHARED_DATA, shared_path

REGRESSION = SHARED_DATA / "sigma" / "regression_data"

# Samples where upstream's match_count is lower than the events that plainly match:
# each listed event satisfies the rule's only selection (checked by hand).
UPSTREAM_COUNT_DIFFERS: dict[str, tuple[int, str]] = {
    "0b9ad457-2554-44c1-82c2-d56a99c42377": (3, "3 events write ...\\AnyDesk\\user.conf*"),
    "8fbf3271-1ef6-4e94-8210-03c2317947f6": (3, "procdump64.exe, procdump64a.exe, procdump.exe"),
    "45e112d0-7759-4c2a-aa36-9f8fb79d3393": (3, "3 ZoneMap\\Domains values set (http, https, *)"),
    "c7dcacd0-cc59-4004-b0a4-1d6cdebe6f3e": (2, "AutoShareServer and AutoShareWks both set to 0"),
}


def _samples() -> list[tuple[str, str, Path, int | None]]:
    out = []
    for info in sorted(REGRESSION.glob("**/info.yml")):
        doc = yaml.safe_load(info.read_text(encoding="utf-8"))
        rule_id = doc["rule_metadata"][0]["id"]
        for test in doc.get("regression_tests_info") or []:
            if test.get("type") == "evtx":
                evtx = REGRESSION.parent / test["path"]
                out.append(
                    (rule_id, doc["rule_metadata"][0]["title"], evtx, test.get("match_count"))
                )
    return out


SAMPLES = _samples()


def _read(path: Path) -> pl.DataFrame:
    """Events of ``path`` through Sekimori's own sources (EVTX or evtx JSON)."""
    frames = []
    for item in read_file(path, ReadContext()):
        assert item.report.error is None, item.report.error
        if item.batch.frame.height:
            frames.append(item.batch.frame)
    return pl.concat(frames, how="diagonal_relaxed")


def _count(detector: SigmaDetector, rule_id: str, frame: Any) -> int:
    rules = [r for r in detector.rules if r.meta.rule_id == rule_id]
    assert rules, f"rule {rule_id} not loaded: " + str(
        [r for r in detector.load_report.rejected if r[0] == rule_id]
    )
    return sum(len(m) for m in evaluate(frame, group_rules(rules)))


def test_regression_data_present() -> None:
    shared_path("sigma", "regression_data")
    assert len(SAMPLES) >= 200


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("rule_id", "title", "evtx", "match_count"),
    SAMPLES,
    ids=[f"{s[1][:50]}-{s[0][:8]}" for s in SAMPLES],
)
def test_rule_fires_on_its_sample(
    sigmahq_detector: SigmaDetector, rule_id: str, title: str, evtx: Path, match_count: int | None
) -> None:
    expected = UPSTREAM_COUNT_DIFFERS.get(rule_id, (match_count, ""))[0]
    got = _count(sigmahq_detector, rule_id, _read(evtx))
    if expected is None:
        assert got >= 1, title
    else:
        assert got == expected, title
    sidecar = evtx.with_suffix(".json")
    if sidecar.exists():
        assert _count(sigmahq_detector, rule_id, _read(sidecar)) == got


@pytest.mark.shared_data
def test_whole_rule_set_on_a_sample_finds_the_rule(sigmahq_detector: SigmaDetector) -> None:
    rule_id, _title, evtx, _expected = next(s for s in SAMPLES if s[3] == 7)
    batch = EventBatch("windows", _read(evtx), str(evtx))
    findings = sigmahq_detector.detect(batch, sigmahq_detector.new_state())
    assert sum(1 for f in findings if f.rule_id == rule_id) == 7
    assert all(f.evidence["selections"] for f in findings)
