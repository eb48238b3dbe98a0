from __future__ import annotations

from datetime import timedelta

import pytest

from sekimori.detect.ioc import IntelDetector, full_urls
from sekimori.intel.feeds import read_feed
from sekimori.intel.indicator import Indicator
from sekimori.intel.matcher import IntelIndex
from sekimori.model import Severity, Stage
from tests.conftest import TEST_DATA
from tests.detect.netframes import DAY, conn, windows_events, zeek

INTEL = TEST_DATA / "intel"


def index() -> IntelIndex:
    indicators: list[Indicator] = []
    for name in ("feodo.csv", "urlhaus.csv", "threatfox.json", "plain.txt"):
        indicators += read_feed(INTEL / name).indicators
    return IntelIndex.build(indicators)


def test_conn_match_is_reported_once_per_host_and_indicator() -> None:
    detector = IntelDetector(index())
    state = detector.new_state()
    rows = [conn(DAY + timedelta(minutes=i), "10.0.0.5", "192.0.2.10", 8080) for i in range(5)]
    first = detector.detect(zeek("conn", rows), state)
    again = detector.detect(zeek("conn", rows), state)
    assert again == []
    assert len(first) == 1
    finding = first[0]
    assert (finding.rule_id, finding.host_name, finding.severity) == (
        "intel.ip",
        "10.0.0.5",
        Severity.HIGH,
    )
    assert finding.stage is Stage.COMMAND_AND_CONTROL
    assert finding.evidence["feed"] == "feodo" and finding.evidence["family"] == "Emotet"
    assert finding.evidence["count"] == 5 and len(finding.evidence["uids"]) == 5
    assert finding.observables[0].value == "192.0.2.10"


def test_inbound_contact_names_the_internal_side() -> None:
    detector = IntelDetector(index())
    rows = [conn(DAY, "192.0.2.10", "10.0.0.7", 445)]
    found = detector.detect(zeek("conn", rows), detector.new_state())
    assert [f.host_name for f in found] == ["10.0.0.7"]


def test_cidr_dns_subdomain_url_and_hash() -> None:
    detector = IntelDetector(index())
    state = detector.new_state()
    cidr = detector.detect(zeek("conn", [conn(DAY, "10.0.0.5", "203.0.113.200", 443)]), state)
    assert cidr[0].evidence["indicator"] == "203.0.113.128/25"
    assert cidr[0].observables[0].value == "203.0.113.200"
    dns = detector.detect(
        zeek(
            "dns",
            [
                {
                    "ts": DAY,
                    "src": "10.0.0.5",
                    "dst": "10.0.0.2",
                    "dport": 53,
                    "query": "x.C2.example.invalid",
                }
            ],
        ),
        state,
    )
    assert [(f.rule_id, f.evidence["indicator"]) for f in dns] == [
        ("intel.domain", "c2.example.invalid")
    ]
    assert "T1071.004" in dns[0].techniques
    http = detector.detect(
        zeek(
            "http",
            [
                {
                    "ts": DAY,
                    "src": "10.0.0.6",
                    "dst": "100.64.0.9",
                    "dport": 80,
                    "host": "loader.example.invalid",
                    "uri": "/x/load.dll",
                }
            ],
        ),
        state,
    )
    assert {f.rule_id for f in http} == {"intel.url"}
    assert http[0].evidence["indicator"] == "http://loader.example.invalid/x/load.dll"
    files = detector.detect(
        zeek(
            "files",
            [{"ts": DAY, "host_name": "10.0.0.8", "md5": "D41D8CD98F00B204E9800998ECF8427E"}],
        ),
        state,
    )
    assert [(f.rule_id, f.stage) for f in files] == [("intel.hash", Stage.INSTALLATION)]


def test_windows_network_and_sysmon_hashes() -> None:
    detector = IntelDetector(index())
    batch = windows_events(
        [
            {
                "ts": DAY,
                "host": "PC-01",
                "code": 3,
                "DestinationIp": "192.0.2.50",
                "SourceIp": "10.0.0.9",
            },
            {
                "ts": DAY,
                "host": "PC-02",
                "code": 1,
                "Hashes": "SHA1=00,MD5=D41D8CD98F00B204E9800998ECF8427E,IMPHASH=11",
            },
        ]
    )
    found = detector.detect(batch, detector.new_state())
    assert {(f.host_name, f.rule_id) for f in found} == {
        ("PC-01", "intel.ip"),
        ("PC-02", "intel.hash"),
    }


def test_full_urls_are_rebuilt() -> None:
    batch = zeek(
        "http",
        [
            {
                "ts": DAY,
                "src": "10.0.0.5",
                "dst": "100.64.0.1",
                "dport": 8080,
                "host": "a.example",
                "uri": "/p",
            },
            {
                "ts": DAY,
                "src": "10.0.0.5",
                "dst": "100.64.0.1",
                "dport": 80,
                "host": "b.example",
                "uri": "/q",
            },
            {
                "ts": DAY,
                "src": "10.0.0.5",
                "dst": "100.64.0.1",
                "dport": 3128,
                "host": "c.example",
                "uri": "http://c.example/r",
            },
        ],
    )
    urls = full_urls(batch.frame)
    assert urls is not None
    assert urls.to_list() == ["http://a.example:8080/p", "http://b.example/q", "http://c.example/r"]


def test_empty_index_finds_nothing() -> None:
    detector = IntelDetector(IntelIndex.build([]))
    assert (
        detector.detect(
            zeek("conn", [conn(DAY, "10.0.0.5", "192.0.2.10", 80)]), detector.new_state()
        )
        == []
    )


def test_observables_of_other_findings() -> None:
    from sekimori.detect.ioc import match_observables
    from sekimori.model import Finding, Observable

    macro = Finding(
        timestamp=DAY,
        host_name="PC-07",
        rule_id="mail.macro_url",
        rule_name="URL in a macro",
        ruleset="sekimori-mail",
        severity=Severity.HIGH,
        observables=(
            Observable("url", "HTTP://Loader.Example.Invalid/x/load.dll"),
            Observable("email", "keiri@example.com"),
            Observable("domain", "sub.c2.example.invalid"),
        ),
    )
    found = match_observables([macro, macro], index())
    assert sorted((f.rule_id, f.evidence["indicator"]) for f in found) == [
        ("intel.domain", "c2.example.invalid"),
        ("intel.url", "http://loader.example.invalid/x/load.dll"),
    ]
    assert all(f.host_name == "PC-07" and f.evidence["via_finding"] == macro.id for f in found)


@pytest.mark.shared_data
def test_suricata_eve_is_matched() -> None:
    import polars as pl

    from sekimori.sources import SOURCES, ReadContext, read_file
    from tests.conftest import missing, shared_path

    if "suricata" not in SOURCES:
        missing("the Suricata source is not registered")
    path = shared_path("zeek", "slips", "dataset", "test6-malicious.suricata.json")
    batches = [fb.batch for fb in read_file(path, ReadContext())]
    frame = pl.concat([b.frame.select("destination.ip") for b in batches], how="diagonal")
    # the busiest destination of the capture stands in for a feed entry
    busiest = frame["destination.ip"].drop_nulls().mode().sort()[0]
    detector = IntelDetector(
        IntelIndex.build([Indicator("ip", busiest, "test", threat="botnet_cc")])
    )
    state = detector.new_state()
    found = [f for b in batches for f in detector.detect(b, state)]
    assert found and all(f.dataset == "suricata.eve" for f in found)
    assert all(f.evidence["indicator"] == busiest and f.severity is Severity.HIGH for f in found)
