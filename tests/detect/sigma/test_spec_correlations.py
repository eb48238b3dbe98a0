"""Correlation types on numeric fields, and correlations of correlations.

``value_sum``, ``value_avg``, ``value_median`` and ``value_percentile``
measure a numeric field of the matched events per group-by value within the
time span (Sigma correlation specification); a chained correlation takes the
hits of the correlations it names as its events.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sekimori.detect.sigma.correlation import compact, evaluate_correlation
from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.model import Finding, json_line
from tests.detect.sigma.cases import batch_of, event_row

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECURITY = {"winlog.channel": "Security"}

TRANSFER = {
    "title": "bytes sent",
    "id": "5e1f0000-0000-4000-8000-000000000101",
    "name": "sent",
    "logsource": {"product": "windows", "service": "security"},
    "detection": {"selection": {"EventID": 5156}, "condition": "selection"},
}


def _correlation(kind: str, condition: dict[str, Any], timespan: str = "10m") -> dict[str, Any]:
    return {
        "title": f"{kind} correlation",
        "id": "5e1f0000-0000-4000-8000-000000000102",
        "correlation": {
            "type": kind,
            "rules": ["sent"],
            "group-by": ["SourceAddress"],
            "timespan": timespan,
            "condition": condition,
        },
        "level": "high",
    }


def _transfer(minute: float, source: str, size: object) -> dict[str, Any]:
    return {
        "@timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
        "event.code": "5156",
        "SourceAddress": source,
        "Bytes": size,
    }


def _run(
    rules: list[dict[str, Any]], events: list[dict[str, Any]], tmp_path: Path
) -> tuple[SigmaDetector, list[Finding]]:
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump_all(rules, sort_keys=False), encoding="utf-8"
    )
    detector = SigmaDetector([tmp_path], use_default_rules=False, rule_cache=False)
    state = detector.new_state()
    batch = batch_of([event_row(i, e, SECURITY, "spec") for i, e in enumerate(events)])
    detector.detect(batch, state)
    return detector, detector.finish(state)


# Host A sends 100, 300, 800 bytes within ten minutes; host B 5, 5, 5; host C 900 an hour later.
EVENTS = [
    _transfer(0, "192.0.2.10", 100),
    _transfer(1, "192.0.2.10", 300),
    _transfer(2, "192.0.2.10", 800),
    _transfer(0, "192.0.2.20", 5),
    _transfer(1, "192.0.2.20", 5),
    _transfer(2, "192.0.2.20", "0x5"),
    _transfer(3, "192.0.2.20", "n/a"),
    _transfer(60, "192.0.2.30", 900),
]


@pytest.mark.parametrize(
    ("kind", "condition", "groups"),
    [
        ("value_sum", {"field": "Bytes", "gte": 1200}, {"192.0.2.10": 1200.0}),
        ("value_sum", {"field": "Bytes", "gt": 1200}, {}),
        ("value_sum", {"field": "Bytes", "lt": 20}, {"192.0.2.20": 15.0}),
        ("value_sum", {"field": "Bytes", "eq": 15}, {"192.0.2.20": 15.0}),
        ("value_avg", {"field": "Bytes", "gte": 400}, {"192.0.2.10": 400.0, "192.0.2.30": 900.0}),
        ("value_avg", {"field": "Bytes", "lte": 5}, {"192.0.2.20": 5.0}),
        ("value_avg", {"field": "Bytes", "neq": 5}, {"192.0.2.10": 400.0, "192.0.2.30": 900.0}),
        (
            "value_median",
            {"field": "Bytes", "gte": 300},
            {"192.0.2.10": 300.0, "192.0.2.30": 900.0},
        ),
        ("value_median", {"field": "Bytes", "gt": 1000}, {}),
        (
            "value_percentile",
            {"field": "Bytes", "percentile": 90, "gte": 700},
            {"192.0.2.10": 700.0, "192.0.2.30": 900.0},
        ),
        (
            "value_percentile",
            {"field": "Bytes", "percentile": 10, "lt": 200},
            {"192.0.2.10": 140.0, "192.0.2.20": 5.0},
        ),
    ],
)
def test_numeric_correlation(
    kind: str, condition: dict[str, Any], groups: dict[str, float], tmp_path: Path
) -> None:
    detector, found = _run([TRANSFER, _correlation(kind, condition)], EVENTS, tmp_path)
    assert detector.load_report.rejected == []
    got = {f.evidence["group_by"]["SourceAddress"]: f.evidence["count"] for f in found}
    assert got == groups
    for f in found:
        assert f.evidence["correlation"] == kind
        assert f.evidence["field"] == "Bytes"


def test_numeric_correlation_window_and_burst(tmp_path: Path) -> None:
    # 600 bytes twice within 10 minutes, then again after a 30-minute pause: two findings;
    # 600 and 600 twenty minutes apart never meet in one window.
    events = [
        _transfer(0, "192.0.2.10", 600),
        _transfer(5, "192.0.2.10", 600),
        _transfer(9, "192.0.2.10", 1),
        _transfer(40, "192.0.2.10", 600),
        _transfer(45, "192.0.2.10", 600),
        _transfer(0, "192.0.2.20", 600),
        _transfer(20, "192.0.2.20", 600),
    ]
    corr = _correlation("value_sum", {"field": "Bytes", "gte": 1200})
    _detector, found = _run([TRANSFER, corr], events, tmp_path)
    assert sorted(
        (f.evidence["group_by"]["SourceAddress"], len(f.evidence["events"])) for f in found
    ) == [
        ("192.0.2.10", 2),
        ("192.0.2.10", 3),
    ]


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ({"field": "Bytes", "gte": 1}, "value_percentile needs a 'percentile'"),
        ({"field": "Bytes", "percentile": 150, "gte": 1}, "not between 0 and 100"),
    ],
)
def test_percentile_must_be_given(condition: dict[str, Any], reason: str, tmp_path: Path) -> None:
    detector, _found = _run(
        [TRANSFER, _correlation("value_percentile", condition)], EVENTS, tmp_path
    )
    [(rule_id, why)] = detector.load_report.rejected
    assert rule_id == "5e1f0000-0000-4000-8000-000000000102"
    assert reason in why


# Chains: failed logons from one source, then a service installed on the target, both
# event_count correlations; a temporal correlation over the two.
FAILED = {
    "title": "failed logon",
    "id": "5e1f0000-0000-4000-8000-000000000201",
    "name": "failed",
    "logsource": {"product": "windows", "service": "security"},
    "detection": {"selection": {"EventID": 4625}, "condition": "selection"},
}
SERVICE = {
    "title": "service installed",
    "id": "5e1f0000-0000-4000-8000-000000000202",
    "name": "service",
    "logsource": {"product": "windows", "service": "security"},
    "detection": {"selection": {"EventID": 4697}, "condition": "selection"},
}


def _count(name: str, rule: str, gte: int, uid: str) -> dict[str, Any]:
    return {
        "title": f"many {rule}",
        "id": uid,
        "name": name,
        "correlation": {
            "type": "event_count",
            "rules": [rule],
            "group-by": ["Computer"],
            "timespan": "5m",
            "condition": {"gte": gte},
        },
    }


BURST = _count("burst", "failed", 3, "5e1f0000-0000-4000-8000-000000000203")
SERVICES = _count("services", "service", 2, "5e1f0000-0000-4000-8000-000000000204")
CHAIN = {
    "title": "brute force then services",
    "id": "5e1f0000-0000-4000-8000-000000000205",
    "correlation": {
        "type": "temporal_ordered",
        "rules": ["burst", "services"],
        "group-by": ["Computer"],
        "timespan": "30m",
    },
    "level": "critical",
}


def _on(host: str, minute: float, code: str) -> dict[str, Any]:
    return {
        "@timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
        "event.code": code,
        "winlog.computer_name": host,
    }


CHAIN_EVENTS = [
    # FS01: 3 failures, then 2 services 10 minutes later: the chain holds.
    *(_on("FS01", m, "4625") for m in (0, 1, 2)),
    *(_on("FS01", m, "4697") for m in (12, 13)),
    # FS02: 3 failures but one service only.
    *(_on("FS02", m, "4625") for m in (0, 1, 2)),
    _on("FS02", 12, "4697"),
    # FS03: services first, failures after.
    *(_on("FS03", m, "4697") for m in (0, 1)),
    *(_on("FS03", m, "4625") for m in (10, 11, 12)),
    # FS04: the services come an hour after the failures.
    *(_on("FS04", m, "4625") for m in (0, 1, 2)),
    *(_on("FS04", m, "4697") for m in (70, 71)),
]


def test_temporal_over_two_event_counts(tmp_path: Path) -> None:
    detector, found = _run([FAILED, SERVICE, BURST, SERVICES, CHAIN], CHAIN_EVENTS, tmp_path)
    assert detector.load_report.rejected == []
    assert detector.load_report.correlations == 3
    # The inner correlations feed the chain only (no ``generate``).
    assert [f.rule_id for f in found] == [CHAIN["id"]]
    [hit] = found
    assert hit.host_name == "FS01"
    assert hit.evidence["group_by"] == {"Computer": "fs01"}
    assert hit.evidence["rules"] == ["burst", "services"]
    assert len(hit.evidence["events"]) == 5
    assert hit.severity.name.lower() == "critical"


def test_chain_with_generate_reports_the_inner_correlations(tmp_path: Path) -> None:
    chain = {**CHAIN, "correlation": {**CHAIN["correlation"], "generate": True}}
    _detector, found = _run([FAILED, SERVICE, BURST, SERVICES, chain], CHAIN_EVENTS, tmp_path)
    counts = Counter(f.rule_id for f in found)
    assert counts == {BURST["id"]: 4, SERVICES["id"]: 3, CHAIN["id"]: 1}


def test_event_count_of_correlation_hits(tmp_path: Path) -> None:
    # Two bursts of failed logons on one host within an hour: a repeated brute force.
    repeated = {
        "title": "repeated bursts",
        "id": "5e1f0000-0000-4000-8000-000000000206",
        "correlation": {
            "type": "event_count",
            "rules": ["burst"],
            "group-by": ["Computer"],
            "timespan": "1h",
            "condition": {"gte": 2},
        },
    }
    events = [
        *(_on("DC01", m, "4625") for m in (0, 1, 2, 20, 21, 22)),
        *(_on("DC02", m, "4625") for m in (0, 1, 2, 90, 91, 92)),
    ]
    _detector, found = _run([FAILED, BURST, repeated], events, tmp_path)
    assert [(f.host_name, f.evidence["count"], len(f.evidence["events"])) for f in found] == [
        ("DC01", 2.0, 6)
    ]


@pytest.mark.parametrize(
    ("kind", "counted"),
    [("event_count", 4), ("value_count", 3), ("temporal", 1), ("temporal_ordered", 1)],
)
def test_counts_are_whole_numbers(kind: str, counted: int, tmp_path: Path) -> None:
    # The evidence and the JSON say 4 events, not 4.0.
    condition = {"field": "Bytes", "gte": 3} if kind == "value_count" else {"gte": 4}
    correlation = _correlation(kind, {} if kind.startswith("temporal") else condition)
    if kind.startswith("temporal"):
        del correlation["correlation"]["condition"]
    _detector, found = _run([TRANSFER, correlation], EVENTS, tmp_path)
    count = found[0].evidence["count"]
    assert type(count) is int and count == counted
    assert f'"count": {counted},' in json_line(found[0])


def test_chain_must_group_by_the_inner_fields(tmp_path: Path) -> None:
    chain = {**CHAIN, "correlation": {**CHAIN["correlation"], "group-by": ["TargetUserName"]}}
    detector, found = _run([FAILED, SERVICE, BURST, SERVICES, chain], CHAIN_EVENTS, tmp_path)
    [(rule_id, why)] = detector.load_report.rejected
    assert rule_id == CHAIN["id"]
    assert "'TargetUserName' must be a group-by field of 'burst'" in why
    assert found == []


def test_chain_through_aliases(tmp_path: Path) -> None:
    chain = {
        **CHAIN,
        "correlation": {
            **CHAIN["correlation"],
            "group-by": ["host"],
            "aliases": {"host": {"burst": "Computer", "services": "Computer"}},
        },
    }
    _detector, found = _run([FAILED, SERVICE, BURST, SERVICES, chain], CHAIN_EVENTS, tmp_path)
    assert [f.evidence["group_by"] for f in found] == [{"host": "fs01"}]


def test_correlation_loop_is_reported(tmp_path: Path) -> None:
    first = {
        "title": "a",
        "id": "5e1f0000-0000-4000-8000-000000000207",
        "name": "loop_a",
        "correlation": {
            "type": "event_count",
            "rules": ["loop_b"],
            "group-by": ["Computer"],
            "timespan": "5m",
            "condition": {"gte": 2},
        },
    }
    second = {
        "title": "b",
        "id": "5e1f0000-0000-4000-8000-000000000208",
        "name": "loop_b",
        "correlation": {
            "type": "event_count",
            "rules": ["loop_a"],
            "group-by": ["Computer"],
            "timespan": "5m",
            "condition": {"gte": 2},
        },
    }
    user = {**_count("user", "loop_a", 1, "5e1f0000-0000-4000-8000-00000000020a")}
    detector, _found = _run([FAILED, first, second, user], CHAIN_EVENTS, tmp_path)
    reasons = dict(detector.load_report.rejected)
    assert set(reasons) == {first["id"], second["id"], user["id"]}
    assert all("correlation chain loops" in r for r in reasons.values())


def test_chain_compaction_keeps_the_result(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump_all([FAILED, SERVICE, BURST, SERVICES, CHAIN], sort_keys=False),
        encoding="utf-8",
    )
    detector = SigmaDetector([tmp_path], use_default_rules=False, rule_cache=False)
    state = detector.new_state()
    events = [
        {
            **e,
            "@timestamp": (
                datetime.fromisoformat(e["@timestamp"]) + timedelta(hours=h)
            ).isoformat(),
            "winlog.computer_name": "FS01",
        }
        for h in range(4)
        for e in CHAIN_EVENTS[:5]
    ]
    detector.detect(
        batch_of([event_row(i, e, SECURITY, "spec") for i, e in enumerate(events)]), state
    )
    [(index, occurrences)] = state.occurrences.items()
    corr = detector.ruleset.correlations[index]
    early, keep = compact(corr, occurrences)
    late = evaluate_correlation(corr, keep)
    assert len(early) == 3
    assert len(early) + len(late) == len(evaluate_correlation(corr, occurrences)) == 4


def test_chain_of_a_chain(tmp_path: Path) -> None:
    named = {**CHAIN, "name": "chain", "correlation": {**CHAIN["correlation"], "generate": True}}
    outer = {
        "title": "chained attack",
        "id": "5e1f0000-0000-4000-8000-000000000209",
        "correlation": {
            "type": "event_count",
            "rules": ["chain"],
            "group-by": ["Computer"],
            "timespan": "1d",
            "condition": {"gte": 1},
        },
    }
    detector, found = _run([FAILED, SERVICE, BURST, SERVICES, named, outer], CHAIN_EVENTS, tmp_path)
    assert detector.load_report.rejected == []
    outer_hits = [f for f in found if f.rule_id == outer["id"]]
    assert [(f.host_name, len(f.evidence["events"])) for f in outer_hits] == [("FS01", 5)]
    # ``generate`` of a rule says whether the rules it names report: the middle chain
    # lets its event counts report, the outer rule keeps the middle chain quiet.
    counts = Counter(f.rule_id for f in found)
    assert counts == {BURST["id"]: 4, SERVICES["id"]: 3, outer["id"]: 1}


LOGON = {
    "title": "logon",
    "id": "5e1f0000-0000-4000-8000-000000000210",
    "name": "logon",
    "logsource": {"product": "windows", "service": "security"},
    "detection": {"selection": {"EventID": 4624}, "condition": "selection"},
}


def _temporal(kind: str, condition: dict[str, Any] | None) -> dict[str, Any]:
    corr: dict[str, Any] = {
        "type": kind,
        "rules": ["failed", "logon", "service"],
        "group-by": ["Computer"],
        "timespan": "10m",
    }
    if condition is not None:
        corr["condition"] = condition
    return {
        "title": "two of three",
        "id": "5e1f0000-0000-4000-8000-000000000211",
        "correlation": corr,
    }


TEMPORAL_EVENTS = [
    _on("WS01", 0, "4625"),
    _on("WS01", 1, "4624"),  # two of the three rules
    _on("WS02", 0, "4625"),
    _on("WS02", 1, "4625"),  # one rule, twice
    _on("WS03", 0, "4625"),
    _on("WS03", 1, "4624"),
    _on("WS03", 2, "4697"),  # all three
]


@pytest.mark.parametrize(
    ("condition", "hosts"),
    [(None, ["WS03"]), ({"gte": 2}, ["WS01", "WS03"]), ({"gt": 2}, ["WS03"])],
)
def test_temporal_counts_the_rules_seen(
    condition: dict[str, Any] | None, hosts: list[str], tmp_path: Path
) -> None:
    rules = [FAILED, LOGON, SERVICE, _temporal("temporal", condition)]
    detector, found = _run(rules, TEMPORAL_EVENTS, tmp_path)
    assert detector.load_report.rejected == []
    assert sorted(f.host_name for f in found) == hosts


@pytest.mark.parametrize(
    ("kind", "condition", "reason"),
    [
        ("temporal", {"lt": 2}, "temporal condition 'lt 2' is not supported"),
        ("temporal_ordered", {"gte": 2}, "temporal_ordered condition 'gte 2' is not supported"),
    ],
)
def test_temporal_conditions_not_judged_are_reported(
    kind: str, condition: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    rules = [FAILED, LOGON, SERVICE, _temporal(kind, condition)]
    detector, found = _run(rules, TEMPORAL_EVENTS, tmp_path)
    [(rule_id, why)] = detector.load_report.rejected
    assert rule_id == "5e1f0000-0000-4000-8000-000000000211"
    assert reason in why
    assert found == []
