"""One incident per tenant + machine, scored along the kill chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl

from sekimori.correlate import correlate, score
from sekimori.hosts import HostDirectory
from sekimori.model import EventBatch, Finding, Severity, Stage

T0 = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def f(host: str, rule: str, severity: Severity, stage: Stage, minutes: int = 0) -> Finding:
    return Finding(
        timestamp=T0 + timedelta(minutes=minutes),
        host_name=host,
        rule_id=rule,
        rule_name=rule,
        ruleset="test",
        severity=severity,
        stage=stage,
        event_id=f"{host}-{rule}-{minutes}",
    )


def test_findings_of_one_host_become_one_incident() -> None:
    result = correlate(
        [
            f("WS-07", "macro", Severity.HIGH, Stage.EXECUTION, 1),
            f("WS-07", "runkey", Severity.MEDIUM, Stage.INSTALLATION, 2),
            f("WS-03", "odd", Severity.LOW, Stage.EXECUTION, 3),
        ]
    )
    hosts = [i.host_name for i in result.incidents]
    assert sorted(hosts) == ["WS-03", "WS-07"]
    ws07 = next(i for i in result.incidents if i.host_name == "WS-07")
    assert ws07.finding_count == 2
    assert ws07.stages == (Stage.EXECUTION, Stage.INSTALLATION)
    assert result.incidents[0] is ws07  # worst first
    assert set(result.incident_of.values()) == {i.id for i in result.incidents}


def test_tenants_never_share_an_incident() -> None:
    a = f("WS-07", "macro", Severity.HIGH, Stage.EXECUTION)
    b = replace(a, tenant="acme")
    result = correlate([a, b])
    assert len(result.incidents) == 2


def test_a_chain_of_three_stages_raises_severity() -> None:
    chain = [
        f("WS-07", "mail", Severity.HIGH, Stage.DELIVERY),
        f("WS-07", "macro", Severity.HIGH, Stage.EXECUTION, 1),
        f("WS-07", "c2", Severity.MEDIUM, Stage.COMMAND_AND_CONTROL, 2),
    ]
    assert correlate(chain).incidents[0].severity is Severity.CRITICAL
    assert correlate(chain[:2]).incidents[0].severity is Severity.HIGH


def test_many_low_findings_do_not_outweigh_a_chain() -> None:
    noise = [f("WS-03", "odd", Severity.LOW, Stage.EXECUTION, m) for m in range(1000)]
    chain = [
        f("WS-07", "macro", Severity.HIGH, Stage.EXECUTION),
        f("WS-07", "c2", Severity.HIGH, Stage.COMMAND_AND_CONTROL, 1),
    ]
    assert score(chain) > score(noise)


def test_network_findings_fold_into_the_machine_of_their_address() -> None:
    directory = HostDirectory()
    frame = pl.DataFrame(
        {
            "event.code": ["3"],
            "winlog.event_data.SourceIp": ["10.1.10.57"],
            "winlog.computer_name": ["WS-07.corp.sekimori-demo.example"],
        }
    )
    directory.learn_batch(EventBatch("windows", frame))
    result = correlate(
        [
            f("WS-07.corp.sekimori-demo.example", "macro", Severity.HIGH, Stage.EXECUTION),
            f("10.1.10.57", "beacon", Severity.HIGH, Stage.COMMAND_AND_CONTROL, 5),
        ],
        directory,
    )
    assert len(result.incidents) == 1
    incident = result.incidents[0]
    assert incident.host_name == "WS-07.corp.sekimori-demo.example"
    assert "10.1.10.57" in incident.host_ips


def test_a_lure_joins_the_incident_of_its_recipients_workstation() -> None:
    directory = HostDirectory()
    directory.learn_user("CORP\\tanaka", "WS-07.corp.sekimori-demo.example")
    lure = Finding(
        timestamp=T0,
        host_name="mail-gateway",
        user_name="tanaka@sekimori-demo.example",
        rule_id="office.vba_autoexec",
        rule_name="Macro runs on open",
        ruleset="sekimori-mail",
        severity=Severity.HIGH,
        stage=Stage.DELIVERY,
        dataset="email",
    )
    unknown = replace(lure, user_name="x@y.z")
    macro = f("WS-07.corp.sekimori-demo.example", "macro", Severity.HIGH, Stage.EXECUTION, 3)
    result = correlate([lure, unknown, macro], directory)
    hosts = {i.host_name: i for i in result.incidents}
    assert set(hosts) == {"WS-07.corp.sekimori-demo.example", "mail-gateway"}
    ws07 = hosts["WS-07.corp.sekimori-demo.example"]
    assert ws07.stages == (Stage.DELIVERY, Stage.EXECUTION)
    assert hosts["mail-gateway"].finding_count == 1


def test_summary_names_the_worst_rule_of_each_stage_in_chain_order() -> None:
    chain = [
        f("WS-07", "c2 contact.", Severity.HIGH, Stage.COMMAND_AND_CONTROL, 9),
        f("WS-07", "lure", Severity.MEDIUM, Stage.DELIVERY, 1),
        f("WS-07", "macro", Severity.HIGH, Stage.EXECUTION, 2),
        f("WS-07", "odd", Severity.LOW, Stage.EXECUTION, 3),
    ]
    summary = correlate(chain).incidents[0].summary
    assert summary == (
        "WS-07: delivery → execution → command and control; 4 finding(s) from 4 rule(s); "
        "worst per stage: lure; macro; c2 contact"
    )


def test_a_download_right_after_the_macro_is_the_loader() -> None:
    from sekimori.correlate import escalate_second_stage

    macro = f("WS-07", "macro", Severity.HIGH, Stage.EXECUTION, 0)
    soon = f("WS-07", "download.executable", Severity.MEDIUM, Stage.INSTALLATION, 5)
    later = f("WS-07", "download.executable", Severity.LOW, Stage.INSTALLATION, 180)
    elsewhere = f("WS-03", "download.executable", Severity.LOW, Stage.INSTALLATION, 5)
    out = escalate_second_stage([macro, soon, later, elsewhere])
    assert [x.severity for x in out] == [
        Severity.HIGH,
        Severity.HIGH,
        Severity.LOW,
        Severity.LOW,
    ]
    assert out[1].evidence["follows"]["rule"] == "macro"
    assert "follows" not in out[2].evidence
    assert soon.severity is Severity.MEDIUM  # inputs untouched


def test_the_earliest_of_equally_bad_findings_names_the_stage_in_any_order() -> None:
    # The worst finding of a stage, and the machine's fullest name, go to the
    # earliest one on a tie, whatever order the findings come in.
    early = f("ws-07", "early", Severity.HIGH, Stage.EXECUTION, 1)
    late = f("WS-07.corp.example", "late", Severity.HIGH, Stage.EXECUTION, 2)
    worse = f("ws-07", "worse", Severity.CRITICAL, Stage.INSTALLATION, 3)
    same = replace(late, host_name="WS-07.CORP.EXAMPLE", timestamp=late.timestamp + timedelta(1))
    for order in ([early, late, worse, same], [same, worse, late, early]):
        (incident,) = correlate(order).incidents
        assert incident.summary.endswith("worst per stage: early; worse")
        assert incident.host_name == "WS-07.corp.example"
        assert incident.host_ips == ()


def test_a_host_named_by_address_is_one_of_its_addresses() -> None:
    directory = HostDirectory()
    directory.learn("10.1.10.57", "WS-07")
    result = correlate(
        [
            f("10.1.10.57", "beacon", Severity.MEDIUM, Stage.COMMAND_AND_CONTROL, 1),
            f("WS-07", "macro", Severity.HIGH, Stage.EXECUTION, 2),
            f("10.1.10.99", "beacon", Severity.MEDIUM, Stage.COMMAND_AND_CONTROL, 3),
        ],
        directory,
    )
    by_host = {i.host_name: i for i in result.incidents}
    assert by_host["WS-07"].host_ips == ("10.1.10.57",)
    assert by_host["10.1.10.99"].host_ips == ("10.1.10.99",)
