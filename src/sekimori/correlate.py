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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from sekimori.hosts import HostDirectory, is_ip
from sekimori.model import Finding, Incident, Observable, Severity, Stage, iso

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
_K = TypeVar("_K")
_RANKS = {s: s.rank for s in Severity}
_LOW = Severity.LOW.rank


@dataclass(frozen=True, slots=True)
class Correlated:
    """The incidents of a run and, for each finding id, the incident it joined."""

    incidents: list[Incident]
    incident_of: dict[str, str]


def incident_id(tenant: str, host_key: str) -> str:
    """Stable id of the incident of one tenant + machine."""
    return hashlib.sha256(f"{tenant}\x1f{host_key}".encode()).hexdigest()[:24]


@dataclass(slots=True)
class HostFindings:
    """What the incident of one tenant + machine needs to know of its findings.

    Fed one finding at a time, in any order, it keeps aggregates rather than
    the findings, so that a hunt's memory grows with its hosts and rules, not
    with its findings. Ties go to the earliest finding, as if the findings had
    been sorted by time.
    """

    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    per_rule: Counter[tuple[str, str]] = field(default_factory=Counter)
    worst_of_rule: dict[tuple[str, str], Severity] = field(default_factory=dict)
    stages: set[Stage] = field(default_factory=set)
    top: Severity = Severity.INFORMATIONAL
    worst_of_stage: dict[Stage | None, tuple[int, datetime, int, str]] = field(default_factory=dict)
    # value -> (first time, arrival): ordered like the findings at the end.
    tactics: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    techniques: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    rule_names: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    host_ips: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    observables: dict[Observable, tuple[datetime, int]] = field(default_factory=dict)
    finding_ids: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    # (length, -time, -arrival, name): the longest name, the earliest on a tie.
    best_name: tuple[int, datetime, int, str] | None = None

    def add(self, f: Finding, name_is_machine: bool, host_is_ip: bool | None = None) -> None:
        """Take one finding in; ``name_is_machine`` when its host name names this machine.

        ``host_is_ip`` says whether the host name is an address, when the caller knows.
        """
        n = self.count
        self.count = n + 1
        ts = f.timestamp
        at = (ts, n)
        # Strictly earlier or later only: on a tie the time held stays, as min/max keep it.
        if self.first_seen is None or ts < self.first_seen:
            self.first_seen = ts
        if self.last_seen is None or ts > self.last_seen:
            self.last_seen = ts
        severity = f.severity
        rank = _RANKS[severity]
        key = (f.ruleset, f.rule_id)
        self.per_rule[key] += 1
        worst = self.worst_of_rule.get(key)
        if worst is None or rank > _RANKS[worst]:
            self.worst_of_rule[key] = severity
        if rank > _RANKS[self.top]:
            self.top = severity
        stage = f.kill_chain_stage
        if stage is not None and rank >= _LOW:
            self.stages.add(stage)
        mark = (rank, ts, n, f.rule_name)
        held = self.worst_of_stage.get(stage)
        if held is None or _beats(mark, held):
            self.worst_of_stage[stage] = mark
        # Inlined ``_first``: this runs for every value of every finding of a hunt.
        for seen, values in ((self.tactics, f.tactics), (self.techniques, f.techniques)):
            for value in values:
                known = seen.get(value)
                if known is None or at < known:
                    seen[value] = at
        if f.rule_name:
            _first(self.rule_names, f.rule_name, at)
        if host_is_ip is None:
            host_is_ip = is_ip(f.host_name)
        if f.host_ip:
            _first(self.host_ips, f.host_ip, at)
        if host_is_ip and f.host_name:
            _first(self.host_ips, f.host_name, at)
        for obs in f.observables:
            _first(self.observables, obs, at)
        _first(self.finding_ids, f.id, at)
        if name_is_machine:
            name = (len(f.host_name), ts, n, f.host_name)
            if self.best_name is None or _beats(name, self.best_name):
                self.best_name = name

    @property
    def all_stages(self) -> tuple[Stage, ...]:
        """Every kill-chain stage seen, in kill-chain order (any severity)."""
        return tuple(sorted((s for s in self.worst_of_stage if s is not None), key=_rank))

    def score(self) -> float:
        """Kill-chain score (see the module docstring)."""
        total = sum(
            SEVERITY_WEIGHT[self.worst_of_rule[key]] * (1.0 + math.log2(count) / 4.0)
            for key, count in self.per_rule.items()
        )
        if len(self.stages) >= 2:
            total += STAGE_BONUS * len(self.stages)
        return total

    def severity(self) -> Severity:
        """Highest finding severity, one level up for a chain of three stages or more."""
        if len(self.stages) >= 3 and self.top.rank >= Severity.HIGH.rank:
            return list(Severity)[min(self.top.rank + 1, Severity.CRITICAL.rank)]
        return self.top

    def summary(self, host: str) -> str:
        """One line an analyst reads first: the chain, the counts, the worst rule of each stage."""
        stages = self.all_stages
        chain = " → ".join(s.value.replace("_", " ") for s in stages) or "no kill-chain stage"
        order: list[Stage | None] = [*stages, None]
        top = [self.worst_of_stage[s][3].rstrip(". ") for s in order if s in self.worst_of_stage][
            :MAX_SUMMARY_RULES
        ]
        return (
            f"{host}: {chain}; {self.count} finding(s) from {len(self.per_rule)} rule(s); "
            f"worst per stage: {'; '.join(top)}"
        )


def _beats(mark: tuple[int, datetime, int, str], held: tuple[int, datetime, int, str]) -> bool:
    """Higher first (rank, or length of a name), then earlier in time, then in arrival."""
    if mark[0] != held[0]:
        return mark[0] > held[0]
    return (mark[1], mark[2]) < (held[1], held[2])


def _rank(stage: Stage) -> int:
    return stage.rank


def _first(seen: dict[_K, tuple[datetime, int]], value: _K, at: tuple[datetime, int]) -> None:
    held = seen.get(value)
    if held is None or at < held:
        seen[value] = at


def _ordered(seen: dict[_K, tuple[datetime, int]]) -> tuple[_K, ...]:
    return tuple(sorted(seen, key=seen.__getitem__))


def _of(findings: Iterable[Finding]) -> HostFindings:
    acc = HostFindings()
    for f in findings:
        acc.add(f, name_is_machine=False)
    return acc


def score(findings: list[Finding]) -> float:
    """Kill-chain score of one host's findings (see the module docstring)."""
    return _of(findings).score()


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
    raised = raise_loaders(findings, findings, directory)
    return [raised.get(f.id, f) for f in findings]


def _is_loader_candidate(finding: Finding) -> bool:
    """A download finding that ``raise_loaders`` may raise."""
    return finding.rule_id.startswith(LOADER_RULES) and finding.severity.rank < Severity.HIGH.rank


def raise_loaders(
    loaders: Iterable[Finding],
    first_stage: Iterable[Finding],
    directory: HostDirectory | None = None,
) -> dict[str, Finding]:
    """The loader downloads to raise (see ``escalate_second_stage``): old id → raised finding.

    ``first_stage`` is read once and only the time and rule of the lures and
    macros on the loaders' machines are kept, so it may be every finding of
    a long hunt.
    """
    directory = directory or HostDirectory()
    candidates = [f for f in loaders if _is_loader_candidate(f)]
    if not candidates:
        return {}
    machines = {(f.tenant, machine_key(f, directory)) for f in candidates}
    first: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    for p in first_stage:
        if p.kill_chain_stage in FIRST_STAGES and p.severity.rank >= Severity.MEDIUM.rank:
            key = (p.tenant, machine_key(p, directory))
            if key in machines:
                first.setdefault(key, []).append((p.timestamp, p.rule_name))
    raised: dict[str, Finding] = {}
    for f in candidates:
        before = [
            p
            for p in first.get((f.tenant, machine_key(f, directory)), [])
            if f.timestamp - SECOND_STAGE_WINDOW <= p[0] <= f.timestamp
        ]
        if before:
            when, rule = max(before, key=lambda p: p[0])
            raised[f.id] = replace(
                f,
                severity=list(Severity)[f.severity.rank + 1],
                evidence={**f.evidence, "follows": {"rule": rule, "@timestamp": iso(when)}},
            )
    return raised


def correlate(findings: Iterable[Finding], directory: HostDirectory | None = None) -> Correlated:
    """Group findings per tenant + machine into incidents, worst first.

    ``directory`` folds findings that name a machine by IP address into the
    incident of the machine that address belongs to. ``findings`` is read
    once, in any order; only per-host aggregates are kept.
    """
    directory = directory or HostDirectory()
    groups: dict[tuple[str, str], HostFindings] = {}
    # Per host name: its canonical key and whether it is an address. A hunt's
    # findings name few hosts, and parsing a name as an address is not cheap.
    hosts: dict[str, tuple[str, bool]] = {}
    for f in findings:
        known = hosts.get(f.host_name)
        if known is None:
            known = hosts[f.host_name] = (directory.canonical(f.host_name), is_ip(f.host_name))
        canonical, host_is_ip = known
        key = machine_key(f, directory) if f.dataset == "email" else canonical
        acc = groups.get((f.tenant, key))
        if acc is None:
            acc = groups[(f.tenant, key)] = HostFindings()
        acc.add(f, not host_is_ip and canonical == key, host_is_ip)

    incidents: list[Incident] = []
    incident_of: dict[str, str] = {}
    for (tenant, key), acc in groups.items():
        host = acc.best_name[3] if acc.best_name is not None else directory.display(key)
        ident = incident_id(tenant, key)
        ids = _ordered(acc.finding_ids)
        for fid in ids:
            incident_of[fid] = ident
        assert acc.first_seen is not None and acc.last_seen is not None
        incidents.append(
            Incident(
                id=ident,
                tenant=tenant,
                host_name=host,
                severity=acc.severity(),
                score=acc.score(),
                first_seen=acc.first_seen,
                last_seen=acc.last_seen,
                tactics=_ordered(acc.tactics),
                techniques=_ordered(acc.techniques),
                stages=acc.all_stages,
                finding_count=acc.count,
                summary=acc.summary(host),
                finding_ids=ids,
                rules=_ordered(acc.rule_names),
                host_ips=_ordered(acc.host_ips),
                observables=_ordered(acc.observables)[:MAX_OBSERVABLES],
            )
        )
    incidents.sort(key=lambda i: (-i.severity.rank, -i.score, i.host_name))
    return Correlated(incidents=incidents, incident_of=incident_of)
