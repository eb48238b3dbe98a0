"""Findings and incidents for store and console tests (inert, TEST-NET addresses)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sekimori.model import Finding, Incident, Observable, Severity, Stage, unique

T0 = datetime(2026, 11, 2, 9, 15, 0, 123456, tzinfo=UTC)

HOSTILE_SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror="window.__pwned=2">'
JAPANESE = "経理部-PC01 請求書.doc を開きました（賞与・会議）"


def finding(**overrides: Any) -> Finding:
    base = Finding(
        timestamp=T0,
        host_name="WS-ACCT-07",
        host_ip="192.168.10.37",
        destination_ip="203.0.113.45",
        user_name="tanaka",
        rule_id="sekimori-office-spawns-powershell",
        rule_name="Office application starts PowerShell",
        ruleset="sekimori",
        severity=Severity.HIGH,
        tactics=("execution",),
        techniques=("T1059.001", "T1204.002"),
        stage=Stage.EXECUTION,
        observables=(Observable("ip", "203.0.113.45"),),
        evidence={
            "process.parent.name": "WINWORD.EXE",
            "process.command_line": "powershell -enc VwByAGkAdABlAC0ATwB1AHQAcAB1AHQA",
        },
        log_file_path="/data/ws-acct-07/sysmon.evtx",
        event_id="4711",
        dataset="windows",
    )
    return replace(base, **overrides)


def chain(host: str = "WS-ACCT-07", tenant: str = "default", n: int = 3) -> list[Finding]:
    """``n`` findings of one host, a minute apart, along the kill chain."""
    stages = list(Stage)
    return [
        finding(
            host_name=host,
            tenant=tenant,
            timestamp=T0 + timedelta(minutes=i),
            event_id=str(1000 + i),
            stage=stages[i % len(stages)],
            rule_id=f"rule-{i}",
            rule_name=f"Rule number {i}",
        )
        for i in range(n)
    ]


def incident(items: list[Finding], **overrides: Any) -> Incident:
    first = items[0]
    base = Incident(
        id=f"inc-{first.tenant}-{first.host_name}",
        tenant=first.tenant,
        host_name=first.host_name,
        severity=max((f.severity for f in items), key=lambda s: s.rank),
        score=42.5,
        first_seen=min(f.timestamp for f in items),
        last_seen=max(f.timestamp for f in items),
        tactics=unique(t for f in items for t in f.tactics),
        techniques=unique(t for f in items for t in f.techniques),
        stages=tuple(sorted({f.stage for f in items if f.stage}, key=lambda s: s.rank)),
        finding_count=len(items),
        summary=f"{len(items)} findings on {first.host_name}",
        finding_ids=tuple(f.id for f in items),
        rules=unique(f.rule_id for f in items),
    )
    return replace(base, **overrides)
