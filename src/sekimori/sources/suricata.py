"""Suricata EVE JSON (``eve.json``) as ``suricata.eve`` events.

Every EVE record (``event_type`` alert, flow, http, dns, tls, smtp,
fileinfo …, Suricata's "EVE JSON Output" reference) keeps all its fields,
flattened, as ``suricata.eve.<path>`` (``suricata.eve.alert.signature_id``),
plus ECS: ``source.*``/``destination.*``, ``network.*``, ``event.kind``
(``alert`` for alerts, else ``event``), ``rule.id``/``rule.name`` for alerts,
and the natural fields of each protocol record. ``host.name`` is the source
address, ``event.id`` the ``flow_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import polars as pl

from sekimori.model import EVENT_ID, HOST_NAME, TIMESTAMP, EventBatch
from sekimori.sources.base import ReadContext, ReadReport, Source
from sekimori.sources.container import open_members
from sekimori.sources.frame import add_mapped, any_to_datetime, finish, flatten, slices
from sekimori.sources.jsonrecords import LINE_COLUMN, ndjson_frames
from sekimori.sources.zeek_tsv import skip_rows

DATASET = "suricata.eve"
PREFIX = "suricata.eve."

# ECS column → EVE fields (dotted paths), first non-blank wins.
ECS_FROM_EVE: Mapping[str, tuple[str, ...]] = {
    "source.ip": ("src_ip",),
    "source.port": ("src_port",),
    "destination.ip": ("dest_ip",),
    "destination.port": ("dest_port",),
    "network.protocol": ("app_proto",),
    "observer.name": ("host",),
    "event.type": ("event_type",),
    "rule.id": ("alert.signature_id",),
    "rule.name": ("alert.signature",),
    "rule.category": ("alert.category",),
    "event.severity": ("alert.severity",),
    "event.action": ("alert.action",),
    "dns.question.name": ("dns.rrname", "dns.query.rrname"),
    "dns.question.type": ("dns.rrtype",),
    "dns.response_code": ("dns.rcode",),
    "url.domain": ("http.hostname",),
    "url.original": ("http.url",),
    "http.request.method": ("http.http_method",),
    "http.response.status_code": ("http.status",),
    "http.request.referrer": ("http.http_refer",),
    "user_agent.original": ("http.http_user_agent",),
    "tls.server.name": ("tls.sni",),
    "tls.version": ("tls.version",),
    "tls.client.ja3": ("tls.ja3.hash",),
    "tls.server.ja3s": ("tls.ja3s.hash",),
    "email.from.address": ("smtp.mail_from", "email.from"),
    "email.to.address": ("smtp.rcpt_to", "email.to"),
    "email.subject": ("email.subject",),
    "file.name": ("fileinfo.filename",),
    "file.size": ("fileinfo.size",),
    "file.hash.md5": ("fileinfo.md5",),
    "file.hash.sha1": ("fileinfo.sha1",),
    "file.hash.sha256": ("fileinfo.sha256",),
    "file.mime_type": ("fileinfo.magic",),
}

_EVE = re.compile(rb'^\s*\{.*"event_type"\s*:', re.DOTALL)


class SuricataSource(Source):
    """Suricata EVE JSON lines, plain or gzip."""

    name: ClassVar[str] = "suricata"

    def sniff(self, head: bytes, filename: str) -> bool:
        """JSON lines with ``event_type`` and a ``timestamp`` (EVE's two constant keys)."""
        first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
        return bool(_EVE.match(first)) and b'"timestamp"' in first

    def read(self, path: Path, ctx: ReadContext, report: ReadReport) -> Iterator[EventBatch]:
        """Flattened, ECS-mapped batches of ``ctx.batch_size`` records."""
        for member in open_members(path, report):
            for frame in ndjson_frames(member.stream, member.where, report):
                normalized = normalize(flatten(frame), member.where, report)
                for part in slices(normalized, ctx.batch_size):
                    yield finish(part, dataset=DATASET, ctx=ctx, path=str(path))


def normalize(frame: pl.DataFrame, where: str, report: ReadReport) -> pl.DataFrame:
    """Raw EVE columns to ``suricata.eve.*`` plus time, host, id and ECS fields."""
    if "timestamp" not in frame.columns:
        skip_rows(report, where, frame, "EVE record without timestamp")
        return frame.clear().select(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias(TIMESTAMP))
    frame = frame.with_columns(
        any_to_datetime(pl.col("timestamp"), frame.schema["timestamp"]).alias(TIMESTAMP)
    )
    bad = frame.filter(pl.col(TIMESTAMP).is_null())
    if bad.height:
        skip_rows(report, where, bad, "no valid timestamp")
        frame = frame.filter(pl.col(TIMESTAMP).is_not_null())
    raw = [c for c in frame.columns if c not in (TIMESTAMP, LINE_COLUMN)]
    frame = frame.rename({c: f"{PREFIX}{c}" for c in raw})
    frame = add_mapped(
        frame, {ecs: tuple(f"{PREFIX}{f}" for f in fields) for ecs, fields in ECS_FROM_EVE.items()}
    )
    exprs: list[pl.Expr] = [_event_id(frame, where)]
    if "source.ip" in frame.columns:
        exprs.append(pl.col("source.ip").cast(pl.String).alias(HOST_NAME))
    if "rule.id" in frame.columns:
        exprs.append(pl.col("rule.id").cast(pl.String))
    if f"{PREFIX}proto" in frame.columns:
        exprs.append(
            pl.col(f"{PREFIX}proto").cast(pl.String).str.to_lowercase().alias("network.transport")
        )
    if f"{PREFIX}event_type" in frame.columns:
        kind = pl.col(f"{PREFIX}event_type").cast(pl.String)
        exprs.append(
            pl.when(kind == "alert").then(kind).otherwise(pl.lit("event")).alias("event.kind")
        )
    return frame.with_columns(exprs).drop(LINE_COLUMN)


def _event_id(frame: pl.DataFrame, where: str) -> pl.Expr:
    line = pl.format("{}:{}", pl.lit(Path(where.split("!")[-1]).name), pl.col(LINE_COLUMN))
    flow = f"{PREFIX}flow_id"
    if flow in frame.columns:
        return pl.coalesce([pl.col(flow).cast(pl.String), line]).alias(EVENT_ID)
    return line.alias(EVENT_ID)
