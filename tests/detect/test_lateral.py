from __future__ import annotations

from datetime import timedelta

import pytest

from sekimori.config import SiteConfig
from sekimori.detect.lateral import LateralMovementDetector
from sekimori.intel.ipaddr import parse_network
from sekimori.model import EventBatch, Finding, Severity
from sekimori.sources import SOURCES, ReadContext, read_file
from tests.conftest import missing, shared_path
from tests.detect.netframes import DAY, conn, windows_events, zeek


def run(batches: list[EventBatch], site: SiteConfig | None = None) -> list[Finding]:
    detector = LateralMovementDetector(site or SiteConfig())
    state = detector.new_state()
    for batch in batches:
        if detector.wants(batch.dataset):
            detector.detect(batch, state)
    return detector.finish(state)


def sweep(src: str, targets: int, failed: bool, spacing: float = 3.0) -> list[dict]:
    return [
        conn(
            DAY + timedelta(seconds=i * spacing),
            src,
            f"10.2.0.{i + 1}",
            445,
            conn_state="S0" if failed else "SF",
        )
        for i in range(targets)
    ]


def test_smb_sweep_with_failed_share() -> None:
    found = run([zeek("conn", sweep("10.1.0.66", 30, failed=True))])
    assert [(f.rule_id, f.host_name, f.severity) for f in found] == [
        ("lateral.smb_sweep", "10.1.0.66", Severity.HIGH)
    ]
    evidence = found[0].evidence
    assert (
        evidence["targets"] == 30 and evidence["failed_share"] == 1.0 and evidence["ports"] == [445]
    )
    assert "T1021.002" in found[0].techniques


def test_slow_or_small_sweeps_and_allowed_sources_are_not_reported() -> None:
    assert run([zeek("conn", sweep("10.1.0.66", 5, failed=True))]) == []
    # 30 hosts over 5 hours never fit one 10-minute window
    assert run([zeek("conn", sweep("10.1.0.66", 30, failed=False, spacing=600))]) == []
    site = SiteConfig(allow_networks=(parse_network("10.1.0.66"),))  # type: ignore[arg-type]
    assert run([zeek("conn", sweep("10.1.0.66", 30, failed=True))], site) == []


def test_successful_sweep_is_medium() -> None:
    found = run([zeek("conn", sweep("10.1.0.66", 12, failed=False))])
    assert [f.severity for f in found] == [Severity.MEDIUM]


def test_windows_failed_logons_and_logon_sweep() -> None:
    failures = [
        {
            "ts": DAY + timedelta(seconds=i),
            "host": "FILESRV",
            "code": 4625,
            "IpAddress": "10.1.0.66",
            "TargetUserName": f"user{i % 3}",
            "LogonType": "3",
        }
        for i in range(15)
    ]
    logons = [
        {
            "ts": DAY + timedelta(seconds=100 + i),
            "host": f"PC-{i:02d}",
            "code": 4624,
            "IpAddress": "10.1.0.66",
            "TargetUserName": "admin",
            "LogonType": "3",
        }
        for i in range(12)
    ]
    ntlm_checks = [
        {
            "ts": DAY + timedelta(seconds=200 + i),
            "host": "DC01",
            "code": 4776,
            "Workstation": "PC-66",
            "TargetUserName": "admin",
            "Status": "0xc000006a",
        }
        for i in range(12)
    ]
    found = run([windows_events(failures + logons + ntlm_checks)])
    by_rule = {(f.rule_id, f.host_name): f for f in found}
    assert by_rule[("bruteforce.auth", "10.1.0.66")].evidence["failures"] == 15
    assert by_rule[("lateral.logon_sweep", "10.1.0.66")].evidence["targets"] == 12
    assert by_rule[("bruteforce.auth", "PC-66")].evidence["failures"] == 12


def test_admin_shares_and_remote_service() -> None:
    shares = [
        {
            "ts": DAY + timedelta(seconds=i),
            "src": "10.1.0.66",
            "dst": f"10.2.0.{i}",
            "dport": 445,
            "path": f"\\\\10.2.0.{i}\\ADMIN$",
        }
        for i in range(1, 4)
    ]
    rpc = [
        {
            "ts": DAY + timedelta(seconds=9),
            "src": "10.1.0.66",
            "dst": "10.2.0.1",
            "dport": 445,
            "endpoint": "svcctl",
            "operation": "CreateServiceW",
        }
    ]
    found = run([zeek("smb_mapping", shares), zeek("dce_rpc", rpc)])
    rules = {f.rule_id: f for f in found}
    assert rules["lateral.admin_share"].evidence["targets"] == 3
    service = rules["lateral.remote_service"]
    assert service.severity is Severity.HIGH and service.evidence["admin_share_mapped"]
    assert "T1569.002" in service.techniques


@pytest.mark.shared_data
def test_wrccdc_ntlm_guessing() -> None:
    if "zeek" not in SOURCES:
        missing("the Zeek source is not registered")
    folder = shared_path("zeek", "zed-sample-data", "zeek-json")
    batches = [
        fb.batch
        for name in ("ntlm.json.gz", "smb_mapping.json.gz", "dce_rpc.json.gz")
        for fb in read_file(folder / name, ReadContext())
    ]
    found = run(batches)
    guess = next(
        f for f in found if f.rule_id == "bruteforce.auth" and f.host_name == "10.150.0.20"
    )
    assert guess.severity is Severity.HIGH
    assert guess.evidence["attempts"] >= 150 and guess.evidence["accounts"] >= 10
    assert guess.evidence["targets"] == 5
    assert any(
        f.rule_id == "lateral.remote_service" and f.host_name == "10.150.0.20" for f in found
    )


@pytest.mark.shared_data
def test_kerberos_password_spray_evtx() -> None:
    if "evtx" not in SOURCES:
        missing("the EVTX source is not registered")
    path = shared_path(
        "evtx", "EVTX-ATTACK-SAMPLES", "Credential Access", "kerberos_pwd_spray_4771.evtx"
    )
    found = run([fb.batch for fb in read_file(path, ReadContext())])
    spray = [f for f in found if f.rule_id == "bruteforce.auth"]
    assert [f.host_name for f in spray] == ["172.16.66.1"]
    assert spray[0].evidence["failures"] == 9 and spray[0].evidence["accounts"] == 10
    assert "T1110.003" in spray[0].techniques


def test_suricata_flows_sweep() -> None:
    import polars as pl

    rows = [
        {
            "@timestamp": DAY + timedelta(seconds=i),
            "tenant": "default",
            "host.name": "10.1.0.66",
            "event.id": f"flow{i}",
            "event.dataset": "suricata.eve",
            "log.file.path": "eve.json",
            "source.ip": "10.1.0.66",
            "destination.ip": f"10.2.0.{i + 1}",
            "destination.port": 445,
            "suricata.eve.event_type": "flow",
            "suricata.eve.flow.state": "new",
        }
        for i in range(15)
    ]
    frame = pl.DataFrame(rows).with_columns(pl.col("@timestamp").cast(pl.Datetime("us", "UTC")))
    found = run([EventBatch(dataset="suricata.eve", frame=frame)])
    assert [(f.rule_id, f.evidence["failed_share"]) for f in found] == [("lateral.smb_sweep", 1.0)]


def test_sysmon_network_events_sweep() -> None:
    from tests.detect.netframes import sysmon_connections

    rows = [
        (DAY + timedelta(seconds=i), "PC-66", "10.1.0.66", f"10.2.0.{i + 1}", 445)
        for i in range(12)
    ]
    found = run([sysmon_connections(rows)])
    assert [(f.rule_id, f.host_name, f.evidence["targets"]) for f in found] == [
        ("lateral.smb_sweep", "10.1.0.66", 12)
    ]


def test_executables_copied_over_smb_then_started() -> None:
    copies = [
        {
            "ts": DAY + timedelta(seconds=i),
            "src": "10.1.0.66",
            "dst": f"10.2.0.{i}",
            "dport": 445,
            "action": "SMB::FILE_WRITE",
            "name": "kbupdate.exe",
            "path": f"\\\\10.2.0.{i}\\ADMIN$",
        }
        for i in range(1, 4)
    ] + [
        {
            "ts": DAY,
            "src": "10.1.0.66",
            "dst": "10.2.0.9",
            "dport": 445,
            "action": "SMB::FILE_WRITE",
            "name": "report.docx",
            "path": "\\\\10.2.0.9\\share",
        }
    ]
    rpc = [
        {
            "ts": DAY + timedelta(seconds=9),
            "src": "10.1.0.66",
            "dst": "10.2.0.2",
            "dport": 445,
            "endpoint": "svcctl",
            "operation": "CreateServiceW",
        }
    ]
    found = {f.rule_id: f for f in run([zeek("smb_files", copies), zeek("dce_rpc", rpc)])}
    transfer = found["lateral.tool_transfer"]
    assert transfer.evidence["targets"] == 3 and transfer.evidence["files"] == ["kbupdate.exe"]
    assert transfer.severity is Severity.HIGH and "T1570" in transfer.techniques
    assert found["lateral.remote_service"].evidence["admin_share_mapped"] is True


def test_running_an_installer_from_a_share_is_not_a_transfer() -> None:
    opens = [
        {
            "ts": DAY,
            "src": "10.1.0.70",
            "dst": "10.1.0.10",
            "dport": 445,
            "action": "SMB::FILE_OPEN",
            "name": "setup.exe",
            "path": "\\\\FILESRV\\software",
        }
    ]
    assert run([zeek("smb_files", opens)]) == []
