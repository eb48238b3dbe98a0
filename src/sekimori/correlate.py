"""Findings to incidents: one per tenant + machine, scored along the kill chain.

Scoring (documented in docs/output.md, "Incident score"): every distinct rule
adds its severity weight, plus a little for repeats (log2 of the count, so a
thousand identical low findings never outweigh one critical); a host whose
findings span several kill-chain stages gets a bonus per stage, because a
chain — mail, then macro, then persistence, then C&C — is what an infection
looks like and what scattered noise does not. The incident's severity is the
highest finding severity, raised one level when three or more stages are seen
with at least one high finding.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta

from sekimori.hosts import HostDirectory, is_ip
from sekimori.model import Finding, Incident, Severity, Stage, iso, unique

SEVERITY_WEIGHT: dict[Severity, float] = {
    Severity.INFORMATIONAL: 0.0,
    Severity.LOW: 1.0,
    Severity.MEDIUM: 3.0,
    Severity.HIGH: 7.0,
    Severity.CRITICAL: 12.0,
}
STAGE_BONUS = 5.0
MAX_OBSERVABLES = 50
MAX_SUMMARY_RULES = 5
# A loader fetched this soon after the lure or the macro on the same machine
# is the second stage of the same intrusion.
SECOND_STAGE_WINDOW = timedelta(hours=1)
LOADER_RULES = ("download.",)
FIRST_STAGES = (Stage.DELIVERY, Stage.EXECUTION)


@dataclass(frozen=True, slots=True)
class Correlated:
    """The incidents of a run and, for each finding id, the incident it joined."""

    incidents: list[Incident]
    incident_of: dict[str, str]


def incident_id(tenant: str, host_key: str) -> str:
    """Stable id of the incident of one tenant + machine."""
    return hashlib.sha256(f"{tenant}\x1f{host_key}".encode()).hexdigest()[:24]


def score(findings: list[Finding]) -> float:
    """Kill-chain score of one host's findings (see the module docstring)."""
    per_rule: Counter[tuple[str, str]] = Counter((f.ruleset, f.rule_id) for f in findings)
    worst: dict[tuple[str, str], Severity] = {}
    for f in findings:
        key = (f.ruleset, f.rule_id)
        if key not in worst or f.severity.rank > worst[key].rank:
            worst[key] = f.severity
    total = sum(
        SEVERITY_WEIGHT[worst[key]] * (1.0 + math.log2(count) / 4.0)
        for key, count in per_rule.items()
    )
    stages = {f.kill_chain_stage for f in findings if f.severity.rank >= Severity.LOW.rank}
    stages.discard(None)
    if len(stages) >= 2:
        total += STAGE_BONUS * len(stages)
    return total


def severity_of(findings: list[Finding]) -> Severity:
    """Highest finding severity, one level up for a chain of three stages or more."""
    top = max(findings, key=lambda f: f.severity.rank).severity
    stages = {f.kill_chain_stage for f in findings if f.severity.rank >= Severity.LOW.rank}
    stages.discard(None)
    if len(stages) >= 3 and top.rank >= Severity.HIGH.rank:
        return list(Severity)[min(top.rank + 1, Severity.CRITICAL.rank)]
    return top


def summarize(host: str, findings: list[Finding], stages: tuple[Stage, ...]) -> str:
    """One line an analyst reads first: the chain, the counts, the worst rule of each stage."""
    rules = {(f.ruleset, f.rule_id) for f in findings}
    chain = " → ".join(s.value.replace("_", " ") for s in stages) or "no kill-chain stage"
    worst: dict[Stage | None, Finding] = {}
    for f in findings:  # oldest first: the earliest of the worst findings wins a tie
        stage = f.kill_chain_stage
        if stage not in worst or f.severity.rank > worst[stage].severity.rank:
            worst[stage] = f
    order = [*stages, None]
    top = [worst[s].rule_name.rstrip(". ") for s in order if s in worst][:MAX_SUMMARY_RULES]
    return (
        f"{host}: {chain}; {len(findings)} finding(s) from {len(rules)} rule(s); "
        f"worst per stage: {'; '.join(top)}"
    )


def machine_key(finding: Finding, directory: HostDirectory) -> str:
    """The machine a finding belongs to.

    A mail finding belongs to the workstation of its recipient when the hunt
    saw where that person works; any other finding to the machine it names
    (an address folded into the machine that uses it).
    """
    if finding.dataset == "email" and finding.user_name:
        machine = directory.machine_of_user(finding.user_name)
        if machine:
            return machine
    return directory.canonical(finding.host_name)


def escalate_second_stage(
    findings: list[Finding], directory: HostDirectory | None = None
) -> list[Finding]:
    """Raise a loader download one level when it follows the lure or the macro.

    A download of an executable is often an update; right after a macro
    started PowerShell on the same machine (or its user received the lure), it
    is the loader. Such a download is raised one level (never above high) and
    its evidence names the finding it followed. Pure: returns new findings.
    """
    directory = directory or HostDirectory()
    first: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.kill_chain_stage in FIRST_STAGES and f.severity.rank >= Severity.MEDIUM.rank:
            first.setdefault((f.tenant, machine_key(f, directory)), []).append(f)
    out: list[Finding] = []
    for f in findings:
        if f.rule_id.startswith(LOADER_RULES) and f.severity.rank < Severity.HIGH.rank:
            before = [
                p
                for p in first.get((f.tenant, machine_key(f, directory)), [])
                if f.timestamp - SECOND_STAGE_WINDOW <= p.timestamp <= f.timestamp
            ]
            if before:
                cause = max(before, key=lambda p: p.timestamp)
                f = replace(
                    f,
                    severity=list(Severity)[f.severity.rank + 1],
                    evidence={
                        **f.evidence,
                        "follows": {"rule": cause.rule_name, "@timestamp": iso(cause.timestamp)},
                    },
                )
        out.append(f)
    return out


def correlate(findings: Iterable[Finding], directory: HostDirectory | None = None) -> Correlated:
    """Group findings per tenant + machine into incidents, worst first.

    ``directory`` folds findings that name a machine by IP address into the
    incident of the machine that address belongs to.
    """
    directory = directory or HostDirectory()
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.tenant, machine_key(f, directory)), []).append(f)

    incidents: list[Incident] = []
    incident_of: dict[str, str] = {}
    for (tenant, key), members in groups.items():
        members.sort(key=lambda f: f.timestamp)
        names = [
            f.host_name
            for f in members
            if not is_ip(f.host_name) and directory.canonical(f.host_name) == key
        ]
        host = max(names, key=len) if names else directory.display(key)
        stages = tuple(
            sorted(
                {s for f in members if (s := f.kill_chain_stage) is not None},
                key=lambda s: s.rank,
            )
        )
        ident = incident_id(tenant, key)
        ids = unique(f.id for f in members)
        for fid in ids:
            incident_of[fid] = ident
        observables = tuple(dict.fromkeys(o for f in members for o in f.observables))[
            :MAX_OBSERVABLES
        ]
        incidents.append(
            Incident(
                id=ident,
                tenant=tenant,
                host_name=host,
                severity=severity_of(members),
                score=score(members),
                first_seen=members[0].timestamp,
                last_seen=members[-1].timestamp,
                tactics=unique(t for f in members for t in f.tactics),
                techniques=unique(t for f in members for t in f.techniques),
                stages=stages,
                finding_count=len(members),
                summary=summarize(host, members, stages),
                finding_ids=ids,
                rules=unique(f.rule_name for f in members),
                host_ips=unique(
                    ip
                    for f in members
                    for ip in (f.host_ip, f.host_name if is_ip(f.host_name) else None)
                    if ip
                ),
                observables=observables,
            )
        )
    incidents.sort(key=lambda i: (-i.severity.rank, -i.score, i.host_name))
    return Correlated(incidents=incidents, incident_of=incident_of)
