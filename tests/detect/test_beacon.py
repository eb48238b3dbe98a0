from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from sekimori.config import BeaconSettings, SiteConfig, load_site
from sekimori.detect.beacon import (
    BeaconDetector,
    bowley,
    histogram_score,
    mad_score,
    prevalence_weight,
    quartiles,
    score_pair,
)
from sekimori.intel.ipaddr import parse_network
from sekimori.model import Finding, Severity
from sekimori.sources import SOURCES, ReadContext, iter_files, read_file
from tests.conftest import missing, shared_path
from tests.detect.netframes import DAY, conn, zeek

START = int(DAY.timestamp())
END = START + 86400


def test_statistics() -> None:
    assert quartiles([1, 2, 3, 4, 5, 6, 7, 8]) == (2.5, 4.5, 6.5)
    assert bowley([10, 20, 30, 40, 50, 60, 70, 80])[0] == 0.0
    skew, score = bowley([0, 10, 11, 12, 13, 100, 200, 300])
    assert skew > 0 and score < 1
    assert mad_score([300, 300, 300], 1.0) == (0, 1.0)
    assert mad_score([0, 0, 0], 0.0) == (0, 0.0)
    assert histogram_score([5] * 24)[0] == 1.0
    assert prevalence_weight(0.3, 0.5) == 1.0
    assert prevalence_weight(1.0, 0.5) == 0.0


def test_perfect_beacon_scores_one_and_noise_scores_low() -> None:
    times = list(range(START, END, 300))
    perfect = score_pair(times, [420] * len(times), START, END)
    assert perfect is not None and perfect.score == 1.0
    rnd = random.Random(1)
    bursts = sorted(START + int(rnd.uniform(0, 4 * 3600)) for _ in range(60))
    noisy = score_pair(bursts, [rnd.randint(100, 90000) for _ in bursts], START, END)
    assert noisy is not None and noisy.score < 0.6
    assert score_pair([START, START, START + 5], None, START, END) is None


def run(detector: BeaconDetector, batches: list) -> list[Finding]:
    state = detector.new_state()
    for batch in batches:
        detector.detect(batch, state)
    return detector.finish(state)


def periodic(
    src: str, dst: str, every: int, jitter: float, seed: int = 3, port: int = 8080
) -> list[dict]:
    rnd = random.Random(seed)
    rows, t = [], DAY
    while t < DAY + timedelta(days=1):
        rows.append(conn(t, src, dst, port, orig_bytes=420, resp_bytes=140))
        t += timedelta(seconds=every + rnd.uniform(-jitter, jitter))
    return rows


def test_beacon_found_and_state_spans_batches() -> None:
    rows = periodic("10.0.0.5", "192.0.2.10", 600, 10)
    half = len(rows) // 2
    found = run(
        BeaconDetector(SiteConfig()), [zeek("conn", rows[:half]), zeek("conn", rows[half:])]
    )
    assert [(f.rule_id, f.host_name, f.destination_ip) for f in found] == [
        ("beacon.ip", "10.0.0.5", "192.0.2.10")
    ]
    finding = found[0]
    assert finding.severity is Severity.HIGH
    assert finding.evidence["connections"] == len(rows)
    assert 590 <= finding.evidence["interval_seconds"] <= 610
    assert finding.evidence["uids"] and "T1071" in finding.techniques


def test_internal_allowed_and_multicast_destinations_are_out_of_scope() -> None:
    site = SiteConfig(allow_networks=(parse_network("192.0.2.10"),))  # type: ignore[arg-type]
    rows = (
        periodic("10.0.0.5", "192.0.2.10", 600, 5)
        + periodic("10.0.0.5", "10.0.0.9", 600, 5)
        + periodic("10.0.0.5", "224.0.0.251", 600, 5)
    )
    assert run(BeaconDetector(site), [zeek("conn", rows)]) == []
    inside = SiteConfig(beacon=BeaconSettings(include_internal=True))
    found = run(BeaconDetector(inside), [zeek("conn", periodic("10.0.0.5", "10.0.0.9", 600, 5))])
    assert [f.destination_ip for f in found] == ["10.0.0.9"]


def test_periodic_benign_traffic_of_every_host_does_not_drown_the_beacon() -> None:
    rows = []
    for i in range(40):
        host = f"10.0.1.{i + 1}"
        rows += periodic(host, "100.64.2.2", 1024, 1, seed=i, port=123)  # NTP pool
        rows += periodic(host, "100.64.1.10", 3600, 30, seed=i, port=443)  # update service
    rows += periodic("10.0.1.7", "192.0.2.10", 300, 8)
    found = run(BeaconDetector(SiteConfig()), [zeek("conn", rows)])
    assert [(f.host_name, f.destination_ip) for f in found] == [("10.0.1.7", "192.0.2.10")]


def test_http_names_and_allowed_domains() -> None:
    rows = [
        {
            "ts": r["ts"],
            "src": "10.0.0.5",
            "dst": "10.0.0.3",
            "dport": 3128,
            "host": "c2.example.invalid",
            "uri": "/",
            "request_body_len": 0,
            "response_body_len": 0,
        }
        for r in periodic("10.0.0.5", "x", 300, 5)
    ]
    found = run(BeaconDetector(SiteConfig()), [zeek("http", rows)])
    assert [(f.rule_id, f.observables[0].value) for f in found] == [
        ("beacon.fqdn", "c2.example.invalid")
    ]
    allowed = SiteConfig(allow_domains=("*.example.invalid",))
    assert run(BeaconDetector(allowed), [zeek("http", rows)]) == []


def _read_all(detector: BeaconDetector, folder: Path) -> list[Finding]:
    if "zeek" not in SOURCES:
        missing("the Zeek source is not registered")
    state = detector.new_state()
    for path in iter_files([folder]):
        if not path.name.startswith(("conn.", "http.", "ssl.")):
            continue
        for file_batch in read_file(path, ReadContext()):
            if detector.wants(file_batch.batch.dataset):
                detector.detect(file_batch.batch, state)
    return detector.finish(state)


@pytest.mark.shared_data
def test_rita_proxy_beacon() -> None:
    folder = shared_path("zeek", "rita", "test_data", "proxy")
    found = _read_all(BeaconDetector(SiteConfig()), folder)
    by_pair = {(f.host_name, f.observables[0].value): f for f in found}
    beacon = by_pair[("10.136.0.18", "www.honestimnotevil.com")]
    # RITA scores this pair 0.979
    assert beacon.evidence["score"] >= 0.95 and beacon.severity is Severity.HIGH
    assert ("10.136.0.18", "www.google.com") not in by_pair


@pytest.mark.shared_data
def test_rita_missing_host_beacon(tmp_path: Path) -> None:
    folder = shared_path("zeek", "rita", "test_data", "missing_host", "2024-04-19")
    site_file = tmp_path / "site.toml"
    site_file.write_text('[site]\ninternal = ["73.54.23.0/24"]\n')
    found = _read_all(BeaconDetector(load_site(site_file)), folder)
    pairs = {(f.host_name, f.destination_ip) for f in found}
    assert ("73.54.23.243", "64.225.56.201") in pairs
    beacon = next(f for f in found if f.destination_ip == "64.225.56.201")
    assert 200 <= beacon.evidence["interval_seconds"] <= 350


def test_sparse_histogram_matches_the_dense_one() -> None:
    from sekimori.detect.beacon import histogram, longest_run

    dense = [0, 3, 3, 0, 0, 2, 2, 2, 0, 1, 0, 4]
    sparse = {i: c for i, c in enumerate(dense) if c}
    assert histogram_score(dense) == histogram_score(sparse, len(dense))
    assert longest_run([0, 1, 5, 6, 7, 11], 12) == 3
    assert longest_run([0, 1, 10, 11], 12) == 4  # wraps around
    counts, bins = histogram([START, START + 10, START + 7200], START, START + 86400)
    assert counts == {0: 2, 2: 1} and bins == 24


def test_a_stray_old_timestamp_does_not_blow_up_the_window() -> None:
    times = list(range(START, END, 300))
    result = score_pair(times, [420] * len(times), 0, END)  # the run "starts" in 1970
    # fast, and a day of steady beaconing still stands out (consistency, not coverage)
    assert result is not None and result.score >= 0.8 and result.dur_score == 1.0
