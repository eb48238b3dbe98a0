"""Spam bots: workstations that speak SMTP straight to the outside world.

Emotet sends itself on with stolen mail from the infected workstation, to the
recipients' mail servers directly. Reads ``zeek.conn`` (and Suricata flows,
Sysmon event 3) for connections from an internal host to outside addresses on
the SMTP ports (``[spam] ports``, default 25/465/587), and ``zeek.smtp`` for the envelope
senders, recipients and subjects as evidence. The configured mail servers and
allow-listed hosts are exempt.

Rules (from ``finish``, over the whole run):

- ``spam.smtp_fanout`` (high): one host talks SMTP to at least
  ``min_destinations`` distinct outside servers.
- ``spam.direct_smtp`` (low): a workstation talks SMTP to fewer outside
  servers; worth a look, not an alarm (a mail client on port 587 does this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from typing import Any, ClassVar

import polars as pl

from sekimori.config import SiteConfig
from sekimori.detect.base import Detector
from sekimori.detect.lateral import sysmon_connections
from sekimori.model import (
    DEFAULT_TENANT,
    EVENT_ID,
    TENANT,
    TIMESTAMP,
    EventBatch,
    Finding,
    Observable,
    Severity,
    Stage,
)

EVIDENCE_ITEMS = 10

_CONN = pl.Schema(
    {
        "tenant": pl.String(),
        "src": pl.String(),
        "dst": pl.String(),
        "port": pl.Int64(),
        "ts": pl.Datetime("us", "UTC"),
        "uid": pl.String(),
    }
)
_MAIL = pl.Schema(
    {
        "tenant": pl.String(),
        "src": pl.String(),
        "dst": pl.String(),
        "sender": pl.String(),
        "subject": pl.String(),
        "recipients": pl.Int64(),
        "ts": pl.Datetime("us", "UTC"),
        "uid": pl.String(),
    }
)


@dataclass(slots=True)
class SpamState:
    """Outbound SMTP connections and messages seen over the run."""

    conns: list[pl.DataFrame] = field(default_factory=list)
    mails: list[pl.DataFrame] = field(default_factory=list)


def _col(frame: pl.DataFrame, name: str) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None)


class SpamBotDetector(Detector):
    """Finds workstations sending mail directly to outside servers (module docstring)."""

    name: ClassVar[str] = "spam"
    datasets: ClassVar[frozenset[str] | None] = frozenset(
        {"zeek.conn", "zeek.smtp", "suricata.eve", "windows"}
    )

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self._internal = site.internal_ranges
        self._exempt = site.mail_ranges
        self._allow = site.allow_ranges

    def new_state(self) -> SpamState:
        """Nothing seen yet."""
        return SpamState()

    def _outbound(self, rows: pl.DataFrame) -> pl.DataFrame:
        if rows.height == 0:
            return rows
        keep = (
            self._internal.mask(rows["src"])
            & ~self._exempt.mask(rows["src"])
            & ~self._allow.mask(rows["src"])
            & ~self._internal.mask(rows["dst"])
            & ~self._allow.mask(rows["dst"])
        )
        return rows.filter(keep)

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        """Keep outbound SMTP; findings come at ``finish``."""
        frame = batch.frame
        needed = {"source.ip", "destination.ip", TIMESTAMP}
        if not needed <= set(frame.columns):
            return []
        base = [
            _col(frame, TENANT).cast(pl.String).fill_null(DEFAULT_TENANT).alias("tenant"),
            pl.col("source.ip").cast(pl.String).alias("src"),
            pl.col("destination.ip").cast(pl.String).alias("dst"),
        ]
        if batch.dataset in ("zeek.conn", "suricata.eve") and "destination.port" in frame.columns:
            wanted = frame.filter(
                pl.col("destination.port").cast(pl.Int64, strict=False).is_in(self.site.spam.ports)
            )
            if batch.dataset == "suricata.eve" and "suricata.eve.event_type" in wanted.columns:
                wanted = wanted.filter(pl.col("suricata.eve.event_type") == "flow")
            rows = wanted.select(
                *base[:1],
                pl.col("source.ip").cast(pl.String).alias("src"),
                pl.col("destination.ip").cast(pl.String).alias("dst"),
                pl.col("destination.port").cast(pl.Int64, strict=False).alias("port"),
                pl.col(TIMESTAMP).alias("ts"),
                _col(wanted, EVENT_ID).cast(pl.String).alias("uid"),
            ).drop_nulls(["src", "dst"])
            state.conns.append(self._outbound(rows))
        elif batch.dataset == "windows":
            wanted = sysmon_connections(frame, self.site.spam.ports)
            rows = wanted.select(
                *base[:1],
                pl.col("source.ip").cast(pl.String).alias("src"),
                pl.col("destination.ip").cast(pl.String).alias("dst"),
                pl.col("destination.port").cast(pl.Int64, strict=False).alias("port"),
                pl.col(TIMESTAMP).alias("ts"),
                _col(wanted, EVENT_ID).cast(pl.String).alias("uid"),
            ).drop_nulls(["src", "dst"])
            state.conns.append(self._outbound(rows))
        elif batch.dataset == "zeek.smtp":
            recipients = (
                pl.col("email.to.address").list.len().cast(pl.Int64)
                if "email.to.address" in frame.columns
                and isinstance(frame.schema["email.to.address"], pl.List)
                else pl.lit(None, dtype=pl.Int64)
            )
            rows = frame.select(
                *base,
                _col(frame, "email.from.address").cast(pl.String).alias("sender"),
                _col(frame, "email.subject").cast(pl.String).alias("subject"),
                recipients.alias("recipients"),
                pl.col(TIMESTAMP).alias("ts"),
                _col(frame, EVENT_ID).cast(pl.String).alias("uid"),
            ).drop_nulls(["src", "dst"])
            state.mails.append(self._outbound(rows))
        return []

    def finish(self, state: Any) -> list[Finding]:
        """One finding per workstation that sent SMTP outside."""
        conns = _concat(state.conns, _CONN)
        mails = _concat(state.mails, _MAIL)
        if conns.height == 0 and mails.height == 0:
            return []
        talks = pl.concat(
            [
                conns.select("tenant", "src", "dst", "ts", "uid"),
                mails.select("tenant", "src", "dst", "ts", "uid"),
            ]
        )
        per_host = talks.group_by(["tenant", "src"]).agg(
            pl.col("dst").n_unique().alias("servers"),
            pl.len().alias("connections"),
            pl.col("dst").unique(maintain_order=True).head(EVIDENCE_ITEMS).alias("sample_servers"),
            pl.col("uid").drop_nulls().head(EVIDENCE_ITEMS).alias("uids"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
        messages = mails.group_by(["tenant", "src"]).agg(
            pl.len().alias("messages"),
            pl.col("subject")
            .drop_nulls()
            .unique(maintain_order=True)
            .head(EVIDENCE_ITEMS)
            .alias("subjects"),
            pl.col("sender")
            .drop_nulls()
            .unique(maintain_order=True)
            .head(EVIDENCE_ITEMS)
            .alias("senders"),
            pl.col("recipients").sum().alias("recipients"),
        )
        ports = conns.group_by(["tenant", "src"]).agg(pl.col("port").unique().sort().alias("ports"))
        joined = per_host.join(messages, on=["tenant", "src"], how="left").join(
            ports, on=["tenant", "src"], how="left"
        )
        return [self._finding(row) for row in joined.iter_rows(named=True)]

    def _finding(self, row: dict[str, Any]) -> Finding:
        fanout = row["servers"] >= self.site.spam.min_destinations
        rule = "spam.smtp_fanout" if fanout else "spam.direct_smtp"
        title = (
            f"{row['src']} sent SMTP to {row['servers']} outside mail servers (spam bot)"
            if fanout
            else f"{row['src']} spoke SMTP directly to {row['servers']} outside server(s)"
        )
        return Finding(
            timestamp=row["first"],
            host_name=row["src"],
            tenant=row["tenant"],
            rule_id=rule,
            rule_name=title,
            ruleset="sekimori-network",
            severity=Severity.HIGH if fanout else Severity.LOW,
            tactics=("command-and-control", "collection"),
            techniques=("T1071.003", "T1114"),
            stage=Stage.ACTIONS,
            host_ip=row["src"],
            source_ip=row["src"],
            observables=tuple(Observable("ip", s) for s in row["sample_servers"][:3]),
            dataset="zeek.smtp" if row["messages"] else "zeek.conn",
            event_id=row["uids"][0] if row["uids"] else None,
            description=title,
            evidence={
                "servers": row["servers"],
                "connections": row["connections"],
                "ports": list(row["ports"] or []),
                "sample_servers": list(row["sample_servers"]),
                "messages": row["messages"] or 0,
                "recipients": row["recipients"],
                "subjects": [decode_subject(s) for s in row["subjects"] or []],
                "senders": list(row["senders"] or []),
                "first_seen": row["first"],
                "last_seen": row["last"],
                "uids": list(row["uids"]),
            },
        )


def decode_subject(text: str) -> str:
    """An RFC 2047 encoded subject as text (left as is when it does not decode)."""
    try:
        return str(make_header(decode_header(text)))
    except (HeaderParseError, UnicodeDecodeError, LookupError):
        return text


def _concat(parts: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
    usable = [p.select(list(schema)).cast(schema) for p in parts if p.height]
    return pl.concat(usable) if usable else pl.DataFrame(schema=schema)
