"""Correlation windows: sliding bursts, fewer-than conditions, and early compaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sekimori.detect.sigma.correlating import (
    CompiledCorrelation,
    ConditionOp,
    CorrelationKind,
    Occurrence,
    compact,
    evaluate_correlation,
)
from sekimori.detect.sigma.meta import RuleMeta
from sekimori.model import Severity

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _corr(op: ConditionOp, count: int) -> CompiledCorrelation:
    return CompiledCorrelation(
        meta=RuleMeta("c", "c", None, Severity.HIGH, "sigma"),
        kind=CorrelationKind.EVENT_COUNT,
        refs={"r0": "base"},
        order=("base",),
        timespan=timedelta(minutes=1),
        timespan_spec="1m",
        group_by=("IpAddress",),
        group_fields={"r0": ("IpAddress",)},
        value_fields={},
        op=op,
        count=count,
    )


def _occ(seconds: int, group: str = "192.0.2.1") -> Occurrence:
    return Occurrence(
        timestamp=T0 + timedelta(seconds=seconds),
        ref="base",
        group=(group,),
        value=None,
        tenant="default",
        host="dc01",
        event_id=str(seconds),
        log_file_path=None,
    )


def test_one_finding_per_burst_and_per_group() -> None:
    corr = _corr(ConditionOp.GTE, 3)
    occs = [_occ(s) for s in (0, 1, 2, 3, 4, 5, 300, 301, 302)] + [_occ(0, "198.51.100.2")]
    hits = evaluate_correlation(corr, occs)
    assert [len(h.occurrences) for h in hits] == [6, 3]


def test_fewer_than_uses_fixed_windows() -> None:
    corr = _corr(ConditionOp.LT, 3)
    hits = evaluate_correlation(corr, [_occ(s) for s in (0, 10, 20, 30, 200)])
    assert [h.measure for h in hits] == [1.0]


def test_compaction_keeps_the_result() -> None:
    corr = _corr(ConditionOp.GTE, 3)
    occs = [_occ(s) for s in (0, 1, 2, 100, 101, 102, 500, 501)]
    early, keep = compact(corr, occs)
    assert len(early) == 2
    assert [o.event_id for o in keep] == ["500", "501"]
    late = evaluate_correlation(corr, [*keep, _occ(502)])
    assert len(early) + len(late) == len(evaluate_correlation(corr, [*occs, _occ(502)]))
