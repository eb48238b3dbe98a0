"""Lateral movement and password guessing inside the site.

Reads ``zeek.conn`` (and Suricata flows, Sysmon event 3), ``zeek.ntlm``, ``zeek.smb_mapping``,
``zeek.dce_rpc`` and Windows Security events 4624 (network logon), 4625
(failed logon), 4776 (NTLM credential validation) and 4768/4771 (Kerberos
ticket and pre-authentication failures). Only internal-to-internal
traffic counts; allow-listed sources (backup servers, scanners you run) are
exempt. Windows are hopping: ``window_seconds`` long, every half window.

Rules (all reported from ``finish``, with the window that made the case):

- ``lateral.smb_sweep``: one source touches at least ``min_targets``
  internal hosts on 445/139/135 in a window; the evidence has the share of
  failed connections (Zeek ``conn_state`` S0, REJ, RSTR, RSTOS0, RSTRH, SH,
  SHR, OTH), high when it reaches ``failed_share`` (a worm's scan, T1210)
  or twice the target count.
- ``bruteforce.auth``: one source makes at least ``min_failures`` failed
  authentications (NTLM, 4625, 4776, 4768, 4771) in a window, or at least ``min_attempts``
  attempts under five or more account names, or failures for eight or more
  accounts (guessing or spraying, T1110).
- ``lateral.logon_sweep``: one source logs on (4624 type 3, NTLM success) to
  ``min_targets`` hosts in a window (T1021.002).
- ``lateral.admin_share``: one source maps ``ADMIN$``/``C$`` on three or
  more hosts (T1021.002, the copy step of SMB spreading).
- ``lateral.tool_transfer``: executables or scripts written to other hosts
  over SMB, or opened on their admin shares (``zeek.smb_files``), high from
  three hosts (T1570).
- ``lateral.remote_service``: a remote service or scheduled task created over
  DCE/RPC (svcctl ``CreateService*``, ``SchRpcRegisterTask``, atsvc
  ``JobAdd``); high when the same source also mapped an admin share or
  copied an executable there (PsExec pattern, T1569.002 / T1053.005).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import polars as pl

from sekimori.config import SiteConfig
from sekimori.detect.base import Detector
from sekimori.model import (
    DEFAULT_TENANT,
    EVENT_ID,
    HOST_NAME,
    TENANT,
    TIMESTAMP,
    EventBatch,
    Finding,
    Observable,
    Severity,
    Stage,
)

FAILED_STATES = ["S0", "REJ", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"]
ADMIN_SHARE = r"(?i)\\(ADMIN|[A-Z])\$$"
EXECUTABLE = r"(?i)\.(exe|dll|scr|sys|bat|ps1|vbs)$"
REMOTE_EXEC_OPS = {
    "CreateServiceW": "T1569.002",
    "CreateServiceA": "T1569.002",
    "CreateServiceWOW64W": "T1569.002",
    "SchRpcRegisterTask": "T1053.005",
    "NetrJobAdd": "T1053.005",
    "JobAdd": "T1053.005",
}
ADMIN_SHARE_MIN_HOSTS = 3
SPRAY_MIN_USERS = 5
# this many accounts failing from one source in a window is spraying, however few tries
SPRAY_MIN_FAILED_USERS = 8
EVIDENCE_ITEMS = 10

_ROWS = pl.Schema(
    {
        "tenant": pl.String(),
        "src": pl.String(),
        "dst": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "user": pl.String(),
        "failed": pl.Boolean(),
        "uid": pl.String(),
        "what": pl.String(),
    }
)


@dataclass(slots=True)
class LateralState:
    """Rows of interest kept over the run, by kind."""

    smb: list[pl.DataFrame] = field(default_factory=list)
    auth: list[pl.DataFrame] = field(default_factory=list)
    logons: list[pl.DataFrame] = field(default_factory=list)
    shares: list[pl.DataFrame] = field(default_factory=list)
    rpc: list[pl.DataFrame] = field(default_factory=list)
    copies: list[pl.DataFrame] = field(default_factory=list)


def _col(frame: pl.DataFrame, *names: str) -> pl.Expr:
    for name in names:
        if name in frame.columns:
            return pl.col(name).cast(pl.String)
    return pl.lit(None, dtype=pl.String)


def _rows(
    frame: pl.DataFrame, src: pl.Expr, dst: pl.Expr, user: pl.Expr, failed: pl.Expr, what: pl.Expr
) -> pl.DataFrame:
    return frame.select(
        _col(frame, TENANT).fill_null(DEFAULT_TENANT).alias("tenant"),
        src.cast(pl.String).alias("src"),
        dst.cast(pl.String).alias("dst"),
        pl.col(TIMESTAMP).alias("ts"),
        user.cast(pl.String).alias("user"),
        failed.cast(pl.Boolean).fill_null(False).alias("failed"),
        _col(frame, EVENT_ID).alias("uid"),
        what.cast(pl.String).alias("what"),
    ).filter(pl.col("src").is_not_null() & pl.col("dst").is_not_null() & pl.col("ts").is_not_null())


def windows(rows: pl.DataFrame, seconds: int) -> pl.DataFrame:
    """Per (tenant, src) hopping windows with targets, attempts, failures and users."""
    every = max(1, seconds // 2)
    return (
        rows.sort("tenant", "src", "ts")
        .group_by_dynamic(
            "ts",
            every=f"{every}s",
            period=f"{seconds}s",
            group_by=["tenant", "src"],
            closed="left",
            start_by="window",
        )
        .agg(
            pl.col("dst").n_unique().alias("targets"),
            pl.len().alias("attempts"),
            pl.col("failed").sum().alias("failures"),
            pl.col("user").drop_nulls().n_unique().alias("users"),
            pl.col("user").filter(pl.col("failed")).drop_nulls().n_unique().alias("failed_users"),
            pl.col("dst").unique(maintain_order=True).head(EVIDENCE_ITEMS).alias("sample_targets"),
            pl.col("user")
            .drop_nulls()
            .unique(maintain_order=True)
            .head(EVIDENCE_ITEMS)
            .alias("sample_users"),
            pl.col("uid").drop_nulls().head(EVIDENCE_ITEMS).alias("uids"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
            pl.col("what").unique().alias("sources"),
        )
    )


def best_windows(stats: pl.DataFrame, condition: pl.Expr, order: str) -> pl.DataFrame:
    """For each (tenant, src), the window meeting ``condition`` with the largest ``order``."""
    return (
        stats.filter(condition)
        .sort(order, descending=True)
        .unique(["tenant", "src"], keep="first", maintain_order=True)
    )


class LateralMovementDetector(Detector):
    """SMB/RPC sweeps, password guessing, admin shares and remote services (module docstring)."""

    name: ClassVar[str] = "lateral"
    datasets: ClassVar[frozenset[str] | None] = frozenset(
        {
            "zeek.conn",
            "zeek.ntlm",
            "zeek.smb_mapping",
            "zeek.smb_files",
            "zeek.dce_rpc",
            "suricata.eve",
            "windows",
        }
    )

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self._internal = site.internal_ranges
        self._allow = site.allow_ranges

    def new_state(self) -> LateralState:
        """Nothing seen yet."""
        return LateralState()

    def _inside(self, rows: pl.DataFrame, dst_is_ip: bool = True) -> pl.DataFrame:
        if rows.height == 0:
            return rows
        keep = self._internal.mask(rows["src"]) & ~self._allow.mask(rows["src"])
        if dst_is_ip:
            keep = keep & self._internal.mask(rows["dst"]) & (rows["src"] != rows["dst"])
        return rows.filter(keep)

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        """Keep the rows that matter for lateral movement; findings come at ``finish``."""
        frame = batch.frame
        if TIMESTAMP not in frame.columns:
            return []
        dataset = batch.dataset
        src = _col(frame, "source.ip")
        dst = _col(frame, "destination.ip")
        none = pl.lit(None, dtype=pl.String)
        if dataset in ("zeek.conn", "suricata.eve") and "destination.port" in frame.columns:
            ports = self.site.lateral.ports
            wanted = frame.filter(
                pl.col("destination.port").cast(pl.Int64, strict=False).is_in(ports)
            )
            if dataset == "suricata.eve":
                wanted = wanted.filter(_col(wanted, "suricata.eve.event_type") == "flow")
                failed = _col(wanted, "suricata.eve.flow.state").is_in(["new", "rejected"])
            else:
                failed = _col(wanted, "zeek.conn.conn_state").is_in(FAILED_STATES)
            rows = _rows(wanted, src, dst, none, failed, pl.col("destination.port"))
            state.smb.append(self._inside(rows))
        elif dataset == "zeek.ntlm":
            success = pl.col("zeek.ntlm.success") if "zeek.ntlm.success" in frame.columns else None
            failed = (success == pl.lit(False)) if success is not None else pl.lit(False)
            user = _col(frame, "user.name", "zeek.ntlm.username")
            rows = self._inside(_rows(frame, src, dst, user, failed, pl.lit("ntlm")))
            state.auth.append(rows)
            state.logons.append(rows.filter(~pl.col("failed")))
        elif dataset == "zeek.smb_mapping":
            path = _col(frame, "file.path", "zeek.smb_mapping.path")
            rows = _rows(frame, src, dst, path, pl.lit(False), path)
            state.shares.append(self._inside(rows).filter(pl.col("what").str.contains(ADMIN_SHARE)))
        elif dataset == "zeek.dce_rpc":
            operation = _col(frame, "event.action", "zeek.dce_rpc.operation")
            rows = _rows(
                frame, src, dst, _col(frame, "zeek.dce_rpc.endpoint"), pl.lit(False), operation
            )
            state.rpc.append(self._inside(rows).filter(pl.col("what").is_in(list(REMOTE_EXEC_OPS))))
        elif dataset == "zeek.smb_files":
            action = _col(frame, "zeek.smb_files.action")
            share = _col(frame, "file.path", "zeek.smb_files.path")
            # opening setup.exe on a software share is normal; writing one, or touching
            # one on an administrative share, is how a worm copies itself
            written = frame.filter(
                (action == "SMB::FILE_WRITE").fill_null(False)
                | share.str.contains(ADMIN_SHARE).fill_null(False)
            )
            name = _col(written, "file.name", "zeek.smb_files.name")
            path = _col(written, "file.path", "zeek.smb_files.path")
            rows = _rows(written, src, dst, path, pl.lit(False), name).filter(
                pl.col("what").str.contains(EXECUTABLE).fill_null(False)
            )
            state.copies.append(self._inside(rows))
        elif dataset == "windows" and "event.code" in frame.columns:
            self._windows(frame, state)
            connections = sysmon_connections(frame, self.site.lateral.ports)
            if connections.height:
                rows = _rows(
                    connections,
                    _col(connections, "source.ip"),
                    _col(connections, "destination.ip"),
                    none,
                    pl.lit(False),
                    _col(connections, "destination.port"),
                )
                state.smb.append(self._inside(rows))
        return []

    def _windows(self, frame: pl.DataFrame, state: LateralState) -> None:
        code = pl.col("event.code").cast(pl.String)
        events = frame.filter(code.is_in(["4624", "4625", "4776", "4768", "4771"]))
        if events.height == 0:
            return
        data = "winlog.event_data."
        ip = _col(events, data + "IpAddress", "source.ip").str.replace(r"^::ffff:", "")
        workstation = _col(events, data + "Workstation", data + "WorkstationName")
        src = (
            pl.when(ip.is_not_null() & ~ip.is_in(["-", "::1", "127.0.0.1", ""]))
            .then(ip)
            .otherwise(workstation)
        )
        target = _col(events, HOST_NAME)
        user = _col(events, data + "TargetUserName", "user.name")
        status = _col(events, data + "Status")
        event_code = pl.col("event.code").cast(pl.String)
        # 4776 (NTLM), 4768/4771 (Kerberos) carry a status: anything but 0x0 failed
        checked = event_code.is_in(["4776", "4768", "4771"])
        failed = (event_code == "4625") | (checked & status.is_not_null() & (status != "0x0"))

        rows = _rows(events, src, target, user, failed, event_code)
        rows = rows.filter(pl.col("src").is_not_null() & (pl.col("src") != pl.col("dst")))
        # Windows sources may be names, not addresses: keep those unless they are outside addresses
        is_ip = rows["src"].str.contains(r"^[0-9.]+$|:")
        keep = ~is_ip | self._internal.mask(rows["src"])
        keep = keep & ~self._allow.mask(rows["src"])
        rows = rows.filter(keep)
        state.auth.append(rows.filter(pl.col("what").is_in(["4625", "4776", "4768", "4771"])))
        logon_type = _col(events, data + "LogonType")
        network = events.select(((event_code == "4624") & (logon_type == "3")).fill_null(False))
        logons = _rows(
            events.filter(network.to_series()), src, target, user, pl.lit(False), event_code
        )
        logons = logons.filter(pl.col("src") != pl.col("dst"))
        is_ip = logons["src"].str.contains(r"^[0-9.]+$|:")
        state.logons.append(
            logons.filter(
                (~is_ip | self._internal.mask(logons["src"])) & ~self._allow.mask(logons["src"])
            )
        )

    def finish(self, state: Any) -> list[Finding]:
        """Findings of the whole run."""
        findings: list[Finding] = []
        findings.extend(self._sweeps(_concat(state.smb)))
        findings.extend(self._bruteforce(_concat(state.auth)))
        findings.extend(self._logon_sweeps(_concat(state.logons)))
        shares = _concat(state.shares)
        findings.extend(self._admin_shares(shares))
        copies = _concat(state.copies)
        findings.extend(self._copies(copies))
        findings.extend(self._remote_services(_concat(state.rpc), pl.concat([shares, copies])))
        return findings

    def _copies(self, rows: pl.DataFrame) -> list[Finding]:
        if rows.height == 0:
            return []
        grouped = rows.group_by(["tenant", "src"]).agg(
            pl.col("dst").n_unique().alias("targets"),
            pl.len().alias("attempts"),
            pl.col("what").unique(maintain_order=True).head(EVIDENCE_ITEMS).alias("files"),
            pl.col("user")
            .drop_nulls()
            .unique(maintain_order=True)
            .head(EVIDENCE_ITEMS)
            .alias("paths"),
            pl.col("dst").unique(maintain_order=True).head(EVIDENCE_ITEMS).alias("sample_targets"),
            pl.col("uid").drop_nulls().head(EVIDENCE_ITEMS).alias("uids"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
        return [
            self._finding(
                row,
                "lateral.tool_transfer",
                f"{row['src']} copied executables to {row['targets']} host(s) over SMB",
                Severity.HIGH if row["targets"] >= ADMIN_SHARE_MIN_HOSTS else Severity.MEDIUM,
                ("lateral-movement",),
                ("T1570", "T1021.002"),
                "zeek.smb_files",
                {
                    "targets": row["targets"],
                    "files": list(row["files"]),
                    "paths": list(row["paths"]),
                    "sample_targets": list(row["sample_targets"]),
                    "transfers": row["attempts"],
                },
            )
            for row in grouped.iter_rows(named=True)
        ]

    def _widest_windows(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Per source, the window reaching the most targets, when they reach the bar."""
        settings = self.site.lateral
        if rows.height == 0:
            return rows
        # a window never has more targets than its source has in the whole run: sources
        # below the bar are left out before the (costly) sort into windows
        spread = pl.col("dst").n_unique().over(["tenant", "src"])
        rows = rows.filter(spread >= settings.min_targets)
        if rows.height == 0:
            return rows
        stats = windows(rows, settings.window_seconds)
        return best_windows(stats, pl.col("targets") >= settings.min_targets, "targets")

    def _sweeps(self, rows: pl.DataFrame) -> list[Finding]:
        settings = self.site.lateral
        best = self._widest_windows(rows)
        findings = []
        for row in best.iter_rows(named=True):
            share = row["failures"] / row["attempts"] if row["attempts"] else 0.0
            high = share >= settings.failed_share or row["targets"] >= 2 * settings.min_targets
            ports = sorted({int(p) for p in row["sources"] if p and p.isdigit()})
            findings.append(
                self._finding(
                    row,
                    "lateral.smb_sweep",
                    f"{row['src']} touched {row['targets']} internal hosts on SMB/RPC ports",
                    Severity.HIGH if high else Severity.MEDIUM,
                    ("lateral-movement", "discovery"),
                    ("T1021.002", "T1210", "T1046"),
                    "zeek.conn",
                    {
                        "targets": row["targets"],
                        "connections": row["attempts"],
                        "failed_connections": row["failures"],
                        "failed_share": round(share, 3),
                        "ports": ports,
                        "sample_targets": list(row["sample_targets"]),
                    },
                )
            )
        return findings

    def _bruteforce(self, rows: pl.DataFrame) -> list[Finding]:
        settings = self.site.bruteforce
        if rows.height == 0:
            return []
        stats = windows(rows, settings.window_seconds)
        condition = (
            (pl.col("failures") >= settings.min_failures)
            | ((pl.col("attempts") >= settings.min_attempts) & (pl.col("users") >= SPRAY_MIN_USERS))
            | (pl.col("failed_users") >= SPRAY_MIN_FAILED_USERS)
        )
        best = best_windows(stats, condition, "attempts")
        findings = []
        for row in best.iter_rows(named=True):
            spray = row["users"] >= SPRAY_MIN_USERS
            high = (
                row["failures"] >= settings.min_failures
                or row["attempts"] >= 2 * settings.min_attempts
            )
            techniques = ("T1110", "T1110.003") if spray else ("T1110", "T1110.001")
            what = "guessed passwords of" if not spray else "tried"
            findings.append(
                self._finding(
                    row,
                    "bruteforce.auth",
                    f"{row['src']} {what} {row['users']} account(s) on {row['targets']} host(s): "
                    f"{row['attempts']} attempts, {row['failures']} failed",
                    Severity.HIGH if high else Severity.MEDIUM,
                    ("credential-access",),
                    techniques,
                    "zeek.ntlm" if "ntlm" in row["sources"] else "windows",
                    {
                        "attempts": row["attempts"],
                        "failures": row["failures"],
                        "accounts": row["users"],
                        "targets": row["targets"],
                        "sample_accounts": list(row["sample_users"]),
                        "sample_targets": list(row["sample_targets"]),
                        "evidence_sources": sorted(row["sources"]),
                    },
                )
            )
        return findings

    def _logon_sweeps(self, rows: pl.DataFrame) -> list[Finding]:
        best = self._widest_windows(rows)
        return [
            self._finding(
                row,
                "lateral.logon_sweep",
                f"{row['src']} logged on to {row['targets']} hosts over the network",
                Severity.HIGH,
                ("lateral-movement",),
                ("T1021.002", "T1078"),
                "windows" if "4624" in row["sources"] else "zeek.ntlm",
                {
                    "targets": row["targets"],
                    "logons": row["attempts"],
                    "accounts": list(row["sample_users"]),
                    "sample_targets": list(row["sample_targets"]),
                },
            )
            for row in best.iter_rows(named=True)
        ]

    def _admin_shares(self, rows: pl.DataFrame) -> list[Finding]:
        if rows.height == 0:
            return []
        grouped = rows.group_by(["tenant", "src"]).agg(
            pl.col("dst").n_unique().alias("targets"),
            pl.len().alias("attempts"),
            pl.col("what").unique(maintain_order=True).head(EVIDENCE_ITEMS).alias("shares"),
            pl.col("dst").unique(maintain_order=True).head(EVIDENCE_ITEMS).alias("sample_targets"),
            pl.col("uid").drop_nulls().head(EVIDENCE_ITEMS).alias("uids"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
        findings = []
        for row in grouped.filter(pl.col("targets") >= ADMIN_SHARE_MIN_HOSTS).iter_rows(named=True):
            high = row["targets"] >= self.site.lateral.min_targets
            findings.append(
                self._finding(
                    row,
                    "lateral.admin_share",
                    f"{row['src']} mapped administrative shares on {row['targets']} hosts",
                    Severity.HIGH if high else Severity.MEDIUM,
                    ("lateral-movement",),
                    ("T1021.002", "T1570"),
                    "zeek.smb_mapping",
                    {
                        "targets": row["targets"],
                        "mappings": row["attempts"],
                        "shares": list(row["shares"]),
                        "sample_targets": list(row["sample_targets"]),
                    },
                )
            )
        return findings

    def _remote_services(self, rows: pl.DataFrame, shares: pl.DataFrame) -> list[Finding]:
        if rows.height == 0:
            return []
        grouped = rows.group_by(["tenant", "src", "dst"]).agg(
            pl.col("what").unique(maintain_order=True).alias("operations"),
            pl.col("user").drop_nulls().unique().alias("endpoints"),
            pl.len().alias("attempts"),
            pl.col("uid").drop_nulls().head(EVIDENCE_ITEMS).alias("uids"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
        mapped = set(shares.select("tenant", "src", "dst").iter_rows()) if shares.height else set()
        findings = []
        for row in grouped.iter_rows(named=True):
            psexec = (row["tenant"], row["src"], row["dst"]) in mapped
            techniques = tuple(
                sorted({REMOTE_EXEC_OPS[o] for o in row["operations"]} | {"T1021.002"})
            )
            finding = self._finding(
                row,
                "lateral.remote_service",
                f"{row['src']} created a remote service or task on {row['dst']}"
                + (" after copying to an admin share" if psexec else ""),
                Severity.HIGH if psexec else Severity.MEDIUM,
                ("lateral-movement", "execution"),
                techniques,
                "zeek.dce_rpc",
                {
                    "target": row["dst"],
                    "operations": list(row["operations"]),
                    "endpoints": sorted(row["endpoints"]),
                    "calls": row["attempts"],
                    "admin_share_mapped": psexec,
                },
            )
            findings.append(finding)
        return findings

    def _finding(
        self,
        row: dict[str, Any],
        rule_id: str,
        title: str,
        severity: Severity,
        tactics: tuple[str, ...],
        techniques: tuple[str, ...],
        dataset: str,
        evidence: dict[str, Any],
    ) -> Finding:
        first: datetime = row["first"]
        last: datetime = row["last"]
        target = row.get("dst")
        return Finding(
            timestamp=first,
            host_name=row["src"],
            tenant=row["tenant"],
            rule_id=rule_id,
            rule_name=title,
            ruleset="sekimori-network",
            severity=severity,
            tactics=tactics,
            techniques=techniques,
            stage=Stage.ACTIONS,
            host_ip=row["src"] if _looks_like_ip(row["src"]) else None,
            source_ip=row["src"] if _looks_like_ip(row["src"]) else None,
            destination_ip=target if target and _looks_like_ip(target) else None,
            observables=(Observable("ip", row["src"]),) if _looks_like_ip(row["src"]) else (),
            dataset=dataset,
            event_id=row["uids"][0] if row["uids"] else None,
            description=title,
            evidence={
                **evidence,
                "first_seen": first,
                "last_seen": last,
                "uids": list(row["uids"]),
            },
        )


def sysmon_connections(frame: pl.DataFrame, ports: tuple[int, ...]) -> pl.DataFrame:
    """Sysmon event 3 (network connection) rows of a Windows batch to one of ``ports``."""
    needed = {"event.code", "destination.port", "winlog.channel"}
    if not needed <= set(frame.columns):
        return frame.clear()
    sysmon = pl.col("winlog.channel").cast(pl.String).str.contains("Sysmon").fill_null(False)
    port = pl.col("destination.port").cast(pl.Int64, strict=False)
    return frame.filter(sysmon & (pl.col("event.code").cast(pl.String) == "3") & port.is_in(ports))


def _looks_like_ip(value: str | None) -> bool:
    if not value:
        return False
    return value.replace(".", "").isdigit() or ":" in value


def _concat(parts: list[pl.DataFrame]) -> pl.DataFrame:
    usable = [p.select(list(_ROWS)).cast(_ROWS) for p in parts if p.height]
    return pl.concat(usable) if usable else pl.DataFrame(schema=_ROWS)
