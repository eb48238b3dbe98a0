"""Sekimori's Emotet rule pack: each rule fires on its positive sample and not on its negative.

Samples are in tests/data/rules/<rule file>.yml (``rule``: the id under test;
``positive``/``negative``: events, in the form of tests/detect/sigma/cases.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.detect.sigma.loader import bundled_rules_dir
from tests.conftest import TEST_DATA
from tests.detect.sigma.cases import batch_of, event_row

PACK = sorted(bundled_rules_dir().glob("*.yml"))
SAMPLES = sorted((TEST_DATA / "rules").glob("*.yml"))


@pytest.fixture(scope="module")
def detector() -> SigmaDetector:
    return SigmaDetector([], use_default_rules=True)


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _count(detector: SigmaDetector, sample: dict[str, Any], part: str) -> int:
    defaults = sample.get("defaults") or {}
    events = sample[part]["events"]
    batch = batch_of([event_row(i, e, defaults, part) for i, e in enumerate(events)], part)
    state = detector.new_state()
    findings = detector.detect(batch, state) + detector.finish(state)
    return sum(1 for f in findings if f.rule_id == sample["rule"])


def test_pack_loads_whole(detector: SigmaDetector) -> None:
    assert detector.load_report.rejected == []
    assert detector.load_report.loaded == sum(len(_docs(p)) for p in PACK)
    assert {r.meta.ruleset for r in detector.rules} == {"sekimori"}


@pytest.mark.parametrize("path", PACK, ids=[p.stem for p in PACK])
def test_rule_is_complete(path: Path) -> None:
    for doc in _docs(path):
        uuid.UUID(doc["id"])
        assert doc["author"] == "Sekimori"
        assert doc["status"] in {"experimental", "test", "stable"}
        assert doc["level"] in {"informational", "low", "medium", "high", "critical"}
        assert doc["description"].strip()
        assert doc["falsepositives"]
        assert any(t.startswith("attack.t") for t in doc["tags"])
    assert (TEST_DATA / "rules" / path.name).exists(), (
        f"no positive/negative sample for {path.name}"
    )


def test_rule_ids_are_unique() -> None:
    ids = [doc["id"] for path in PACK for doc in _docs(path)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_positive_sample_fires(detector: SigmaDetector, path: Path) -> None:
    sample = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _count(detector, sample, "positive") == sample["positive"]["count"]


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_negative_sample_is_quiet(detector: SigmaDetector, path: Path) -> None:
    sample = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _count(detector, sample, "negative") == 0
