"""A day of a small office (the demo's Sysmon + Security + System logs): the infected
workstation and the file server it attacked stand out; no clean host has a finding
above medium, with our pack and all of SigmaHQ's rules loaded."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from sekimori.demo.generate import write_demo_data
from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.model import Finding, Severity
from sekimori.sources import ReadContext, iter_files, read_file


@pytest.mark.shared_data
def test_infected_hosts_stand_out(sigmahq_detector: SigmaDetector, tmp_path: Path) -> None:
    manifest = write_demo_data(tmp_path / "demo")
    state = sigmahq_detector.new_state()
    findings: list[Finding] = []
    for path in iter_files([tmp_path / "demo" / "endpoint"]):
        for item in read_file(path, ReadContext()):
            findings.extend(sigmahq_detector.detect(item.batch, state))
    findings.extend(sigmahq_detector.finish(state))

    worst: dict[str, Severity] = defaultdict(lambda: Severity.INFORMATIONAL)
    rules: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        host = f.host_name.split(".")[0].upper()
        if f.severity.rank > worst[host].rank:
            worst[host] = f.severity
        rules[host].add(f.rule_name)
    for host in manifest.infected_hosts:
        assert worst[host].rank >= Severity.HIGH.rank, host
    for host in manifest.clean_hosts:
        assert worst[host].rank <= Severity.MEDIUM.rank, (host, rules[host])
    assert "Service Created Right After a Network Logon" in rules["FS-01"]
    assert "Burst of Failed Logons From One Source" in rules["FS-01"]
    assert "PowerShell With an Encoded Command" in rules["WS-07"]
