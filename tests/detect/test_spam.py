from __future__ import annotations

from datetime import timedelta

from sekimori.config import SiteConfig
from sekimori.detect.spam import SpamBotDetector, decode_subject
from sekimori.intel.ipaddr import parse_network
from sekimori.model import EventBatch, Finding, Severity
from tests.detect.netframes import DAY, conn, zeek


def run(batches: list[EventBatch], site: SiteConfig | None = None) -> list[Finding]:
    detector = SpamBotDetector(site or SiteConfig())
    state = detector.new_state()
    for batch in batches:
        detector.detect(batch, state)
    return detector.finish(state)


def burst(src: str, servers: int) -> tuple[EventBatch, EventBatch]:
    conns, mails = [], []
    for i in range(servers):
        t = DAY + timedelta(seconds=i * 10)
        conns.append(conn(t, src, f"203.0.113.{i + 1}", 25))
        mails.append(
            {
                "ts": t,
                "src": src,
                "dst": f"203.0.113.{i + 1}",
                "dport": 25,
                "mailfrom": "keiri@example.com",
                "subject": "=?UTF-8?B?6KuL5rGC5pu4?=",
                "rcptto": ["a@example.net", "b@example.net"],
            }
        )
    return zeek("conn", conns), zeek("smtp", mails)


def test_workstation_fanout_is_high_with_mail_evidence() -> None:
    found = run(list(burst("10.1.0.66", 15)))
    assert [(f.rule_id, f.host_name, f.severity) for f in found] == [
        ("spam.smtp_fanout", "10.1.0.66", Severity.HIGH)
    ]
    evidence = found[0].evidence
    assert evidence["servers"] == 15 and evidence["messages"] == 15 and evidence["recipients"] == 30
    assert evidence["subjects"] == ["請求書"] and evidence["senders"] == ["keiri@example.com"]
    assert evidence["ports"] == [25]


def test_mail_servers_and_internal_relays_are_exempt() -> None:
    site = SiteConfig(mail_servers=(parse_network("10.1.0.25"),))  # type: ignore[arg-type]
    assert run(list(burst("10.1.0.25", 30)), site) == []
    internal = [conn(DAY + timedelta(seconds=i), "10.1.0.66", "10.1.0.25", 25) for i in range(20)]
    assert run([zeek("conn", internal)]) == []


def test_one_outside_server_is_low() -> None:
    found = run([zeek("conn", [conn(DAY, "10.1.0.70", "100.64.5.5", 587)])])
    assert [(f.rule_id, f.severity) for f in found] == [("spam.direct_smtp", Severity.LOW)]


def test_undecodable_subject_is_kept() -> None:
    assert decode_subject("=?x-unknown?B?AAAA?=") == "=?x-unknown?B?AAAA?="


def test_sysmon_network_events_fanout() -> None:
    from tests.detect.netframes import sysmon_connections

    rows = [
        (DAY + timedelta(seconds=i), "PC-66", "10.1.0.66", f"203.0.113.{i + 1}", 25)
        for i in range(12)
    ]
    found = run([sysmon_connections(rows)])
    assert [(f.rule_id, f.evidence["servers"]) for f in found] == [("spam.smtp_fanout", 12)]
