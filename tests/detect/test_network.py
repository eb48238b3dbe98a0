from __future__ import annotations

from pathlib import Path

import pytest

from sekimori.config import load_site
from sekimori.detect.base import Detector
from sekimori.detect.network import load_index, network_detectors
from sekimori.errors import IntelError
from sekimori.model import EventBatch, Finding, Severity
from tests.conftest import TEST_DATA
from tests.detect.netframes import INFECTED, SITE_TOML, office_day

INTEL = TEST_DATA / "intel"


def run(detectors: list[Detector], batches: list[EventBatch]) -> list[Finding]:
    found: list[Finding] = []
    for detector in detectors:
        state = detector.new_state()
        for batch in batches:
            if detector.wants(batch.dataset):
                found.extend(detector.detect(batch, state))
        found.extend(detector.finish(state))
    return found


@pytest.fixture(scope="module")
def office_findings(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    site_file = tmp_path_factory.mktemp("site") / "site.toml"
    site_file.write_text(SITE_TOML)
    detectors = network_detectors(
        load_site(site_file), [INTEL / "feodo.csv", INTEL / "urlhaus.csv"]
    )
    return run(detectors, office_day())


def test_infected_host_is_named_for_every_stage(office_findings: list[Finding]) -> None:
    rules = {f.rule_id for f in office_findings if f.host_name == INFECTED}
    assert rules >= {
        "intel.ip",
        "intel.url",
        "beacon.ip",
        "lateral.smb_sweep",
        "bruteforce.auth",
        "spam.smtp_fanout",
        "download.executable",
    }
    for finding in office_findings:
        if finding.host_name == INFECTED:
            assert finding.severity is Severity.HIGH, finding.rule_id
            assert finding.techniques and finding.evidence


def test_clean_hosts_stay_at_low_or_below(office_findings: list[Finding]) -> None:
    noisy = [
        (f.host_name, f.rule_id, f.severity)
        for f in office_findings
        if f.host_name != INFECTED and f.severity.rank > Severity.LOW.rank
    ]
    assert noisy == []


def test_findings_serialize(office_findings: list[Finding]) -> None:
    for finding in office_findings:
        doc = finding.to_json()
        assert Finding.from_json(doc).id == finding.id


def test_without_intel_there_is_no_intel_detector() -> None:
    names = [d.name for d in network_detectors(load_site(None), [])]
    assert names == ["beacon", "lateral", "spam", "download"]


def test_unreadable_feed_is_an_intel_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a feed"}')
    with pytest.raises(IntelError):
        load_index([bad])


def test_hunt_over_zeek_logs_names_the_infected_host(tmp_path: Path) -> None:
    from sekimori.pipeline import HuntOptions, run_hunt
    from sekimori.sources import SOURCES
    from tests.conftest import missing
    from tests.detect.netframes import write_zeek_tsv

    if "zeek" not in SOURCES:
        missing("the Zeek source is not registered")
    folder = tmp_path / "zeek"
    folder.mkdir()
    for batch in office_day(hosts=60):
        write_zeek_tsv(batch, folder)
    site = tmp_path / "site.toml"
    site.write_text(SITE_TOML)
    options = HuntOptions(
        use_default_rules=False,
        intel_files=[INTEL / "feodo.csv", INTEL / "urlhaus.csv"],
        config_file=site,
    )
    result = run_hunt([folder], options)
    assert all(r.error is None for r in result.reports), [r.error for r in result.reports]
    rules = {f.rule_id for f in result.findings if f.host_name == INFECTED}
    assert {
        "intel.ip",
        "intel.url",
        "beacon.ip",
        "lateral.smb_sweep",
        "bruteforce.auth",
        "spam.smtp_fanout",
        "download.executable",
    } <= rules
    others = [
        f
        for f in result.findings
        if f.host_name != INFECTED and f.severity.rank > Severity.LOW.rank
    ]
    assert others == []


def test_partial_and_odd_batches_do_not_break_any_detector() -> None:
    from datetime import UTC, datetime

    import polars as pl

    base = {
        "@timestamp": [datetime(2026, 1, 1, tzinfo=UTC), None, datetime(2026, 1, 1, tzinfo=UTC)],
        "tenant": ["default"] * 3,
        "host.name": ["h", None, "x"],
        "event.id": ["a", "b", None],
        "event.dataset": ["d"] * 3,
        "log.file.path": ["p"] * 3,
    }
    optional = {
        "source.ip": ["10.0.0.1", None, "bogus"],
        "destination.ip": ["192.0.2.10", "10.0.0.2", None],
        "destination.port": ["445", None, "x"],
        "url.domain": ["x.invalid", None, ""],
        "url.original": ["/a.exe", None, "http://x/y"],
        "dns.question.name": [None, "c2.example.invalid", "."],
        "zeek.conn.conn_state": ["S0", None, "SF"],
        "zeek.http.resp_mime_types": [["application/x-dosexec"], None, []],
        "file.hash.md5": ["d41d8cd98f00b204e9800998ecf8427e", None, "zz"],
        "event.code": ["4625", "4624", None],
        "winlog.event_data.IpAddress": ["10.0.0.9", "-", None],
    }
    keys = list(optional)
    detectors = network_detectors(load_site(None), [INTEL / "plain.txt"])
    datasets = [
        "zeek.conn",
        "zeek.http",
        "zeek.dns",
        "zeek.files",
        "zeek.smtp",
        "zeek.ntlm",
        "zeek.smb_mapping",
        "zeek.dce_rpc",
        "suricata.eve",
        "windows",
    ]
    for dataset in datasets:
        for combo in (keys, keys[::2], keys[1::2], keys[:3], keys[3:]):
            data = dict(base) | {k: optional[k] for k in combo}
            batch = EventBatch(dataset, pl.DataFrame(data, strict=False))
            for detector in detectors:
                state = detector.new_state()
                if detector.wants(dataset):
                    detector.detect(batch, state)
                detector.finish(state)
