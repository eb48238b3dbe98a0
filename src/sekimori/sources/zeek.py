"""Zeek logs, TSV or JSON lines, as ``zeek.<log>`` events with ECS network fields.

Every raw field is kept as ``zeek.<log>.<field>`` (``zeek.conn.id.orig_h``)
with the dtype of its Zeek type; the ECS fields of ``ECS_BY_LOG`` are added
(``source.ip``, ``destination.port``, ``dns.question.name``,
``url.original`` …). The log type comes from ``#path`` or ``_path`` (``@stream``), else
from the file name (``conn.log``, ``conn.09:00:00-10:00:00.log.gz``), else
from the fields present. ``host.name`` is the originating address (network
detectors re-key anyway), ``event.id`` the Zeek ``uid`` (``fuid`` for
files.log), or ``<file>:<line>`` for logs without either.
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
from sekimori.sources.zeek_tsv import looks_like_tsv, read_tsv, skip_rows

_COMMON: Mapping[str, tuple[str, ...]] = {
    "source.ip": ("id.orig_h",),
    "source.port": ("id.orig_p",),
    "destination.ip": ("id.resp_h",),
    "destination.port": ("id.resp_p",),
    "network.transport": ("proto",),
}

# Per log: ECS column → Zeek fields, first non-blank wins (Zeek's log reference).
ECS_BY_LOG: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "conn": {"network.protocol": ("service",)},
    "dns": {
        "dns.question.name": ("query",),
        "dns.question.type": ("qtype_name",),
        "dns.response_code": ("rcode_name",),
        "network.protocol": ("proto",),
    },
    "http": {
        "url.domain": ("host",),
        "destination.domain": ("host",),
        "url.original": ("uri",),
        "http.request.method": ("method",),
        "http.request.referrer": ("referrer",),
        "http.response.status_code": ("status_code",),
        "user_agent.original": ("user_agent",),
        "user.name": ("username",),
    },
    "ssl": {
        "tls.server.name": ("server_name",),
        "destination.domain": ("server_name",),
        "tls.version": ("version",),
        "tls.cipher": ("cipher",),
        "tls.established": ("established",),
        "tls.client.ja3": ("ja3",),
        "tls.server.ja3s": ("ja3s",),
    },
    "files": {
        "file.hash.md5": ("md5",),
        "file.hash.sha1": ("sha1",),
        "file.hash.sha256": ("sha256",),
        "file.mime_type": ("mime_type",),
        "file.name": ("filename",),
        "file.size": ("total_bytes", "seen_bytes"),
    },
    "smtp": {
        "email.from.address": ("mailfrom", "from"),
        "email.to.address": ("rcptto", "to"),
        "email.subject": ("subject",),
        "email.message_id": ("msg_id",),
        "user_agent.original": ("user_agent",),
    },
    "smb_mapping": {"file.path": ("path",)},
    "smb_files": {"file.path": ("path",), "file.name": ("name",), "file.size": ("size",)},
    "ntlm": {
        "user.name": ("username",),
        "user.domain": ("domainname",),
        "source.domain": ("hostname",),
    },
    "kerberos": {"user.name": ("client",), "service.name": ("service",)},
    "rdp": {"user.name": ("cookie",)},
    "dce_rpc": {"event.action": ("operation",)},
    "notice": {"rule.name": ("note",), "message": ("msg",)},
    "weird": {"rule.name": ("name",)},
    "x509": {
        "x509.subject.distinguished_name": ("certificate.subject",),
        "x509.issuer.distinguished_name": ("certificate.issuer",),
        "x509.serial_number": ("certificate.serial",),
    },
}

# Fields that give a log away when neither #path, _path nor the file name does.
_SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (log, frozenset(fields))
    for log, fields in (
        ("conn", {"conn_state", "history"}),
        ("dns", {"query", "qtype"}),
        ("http", {"method", "uri"}),
        ("ssl", {"server_name", "cipher"}),
        ("x509", {"certificate.subject"}),
        ("files", {"fuid", "mime_type"}),
        ("smtp", {"mailfrom", "rcptto"}),
        ("smb_mapping", {"share_type"}),
        ("smb_files", {"fuid", "action", "name"}),
        ("ntlm", {"username", "domainname", "server_nb_computer_name"}),
        ("dce_rpc", {"endpoint", "operation"}),
        ("kerberos", {"request_type", "client"}),
        ("rdp", {"cookie", "security_protocol"}),
        ("notice", {"note", "msg"}),
        ("weird", {"name", "addl", "notice"}),
    )
)
_NAME = re.compile(
    r"^(?:open_)?([a-z][a-z0-9_]*?)(?:[._-]\d.*)?(?:\.(?:log|json|txt|tsv))*(?:\.gz)?$"
)
_JSON_ZEEK = re.compile(rb'^\s*\{\s*"(?:_path|@stream|_write_ts|ts|uid|fuid|id\.orig_h)"\s*:')


class ZeekSource(Source):
    """Zeek logs in the ASCII (TSV) and JSON writers' formats, plain or gzip."""

    name: ClassVar[str] = "zeek"

    def sniff(self, head: bytes, filename: str) -> bool:
        """A ``#separator`` header, or JSON lines whose first key is a Zeek one."""
        if looks_like_tsv(head):
            return True
        first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
        if not _JSON_ZEEK.match(first):
            return False
        return b'"event_type"' not in first and (
            b'"uid"' in first or b'"ts"' in first or b'"_path"' in first or b'"@stream"' in first
        )

    def read(self, path: Path, ctx: ReadContext, report: ReadReport) -> Iterator[EventBatch]:
        """Typed, ECS-mapped batches of ``ctx.batch_size`` rows per log type."""
        for member in open_members(path, report):
            head = member.stream.read(4096)
            if head.lstrip(b"\xef\xbb\xbf").startswith(b"#"):
                for header, frame in read_tsv(member.stream, member.where, report, prefix=head):
                    if "ts" not in frame.columns and header.opened:
                        frame = frame.with_columns(_opened(header.opened).alias("_write_ts"))
                    yield from _batches(frame, header.path, path, member.where, ctx, report)
            else:
                for frame in ndjson_frames(member.stream, member.where, report, prefix=head):
                    for part in _by_path(_stream_as_path(flatten(frame))):
                        yield from _batches(part, None, path, member.where, ctx, report)


def _opened(value: str) -> pl.Expr:
    """The ``#open`` time (``2023-01-05-18-51-06``) for logs without a ``ts`` field."""
    return (
        pl.lit(value)
        .str.to_datetime("%Y-%m-%d-%H-%M-%S", time_unit="us", strict=False)
        .dt.replace_time_zone("UTC")
    )


def _stream_as_path(frame: pl.DataFrame) -> pl.DataFrame:
    """Corelight's ``@stream`` names the log as ``_path`` does; ``@system`` is the sensor."""
    if "@stream" in frame.columns and "_path" not in frame.columns:
        frame = frame.rename({"@stream": "_path"})
    return frame.drop([c for c in ("@stream", "@system", "_system_name") if c in frame.columns])


def _by_path(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """A JSON stream of several logs (``_path`` differs) split per log."""
    if "_path" not in frame.columns or frame["_path"].n_unique() <= 1:
        yield frame
        return
    for part in frame.partition_by("_path", maintain_order=True):
        # a field of another log is null all through this one: leave it out
        empty = [
            c for c in part.columns if c != LINE_COLUMN and part[c].null_count() == part.height
        ]
        yield part.drop(empty)


def log_type(declared: str | None, filename: str, columns: list[str]) -> str:
    """The Zeek log name: the header's path, else the file name, else the fields present."""
    if declared:
        return _clean(declared)
    match = _NAME.match(Path(filename).name.lower())
    if match and (match[1] in ECS_BY_LOG or match[1] in _KNOWN_OTHER):
        return match[1]
    present = set(columns)
    for log, fields in _SIGNATURES:
        if fields <= present:
            return log
    if match:
        return _clean(match[1])
    return "unknown"


_KNOWN_OTHER = frozenset(
    {"dhcp", "ssh", "ftp", "irc", "sip", "snmp", "software", "tunnel", "dpd", "pe", "ocsp",
     "known_hosts", "known_services", "known_certs", "capture_loss", "stats", "syslog",
     "analyzer", "ldap", "ldap_search", "modbus", "ntp", "rfb", "mysql", "radius", "socks",
     "packet_filter", "loaded_scripts", "reporter", "arp", "smb_cmd", "dnp3", "quic"}
)  # fmt: skip


def _clean(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    return cleaned or "unknown"


def _batches(
    frame: pl.DataFrame,
    declared: str | None,
    path: Path,
    where: str,
    ctx: ReadContext,
    report: ReadReport,
) -> Iterator[EventBatch]:
    if "_path" in frame.columns and declared is None:
        paths = frame["_path"].drop_nulls()
        declared = str(paths[0]) if len(paths) else None
    log = log_type(declared, Path(where.split("!")[-1]).name, frame.columns)
    normalized = normalize(frame, log, where, report)
    for part in slices(normalized, ctx.batch_size):
        yield finish(part, dataset=f"zeek.{log}", ctx=ctx, path=str(path))


def normalize(frame: pl.DataFrame, log: str, where: str, report: ReadReport) -> pl.DataFrame:
    """Raw Zeek columns to ``zeek.<log>.*`` plus time, host, id and ECS fields."""
    if "ts" in frame.columns:
        ts = any_to_datetime(pl.col("ts"), frame.schema["ts"])
    elif "_write_ts" in frame.columns:
        ts = any_to_datetime(pl.col("_write_ts"), frame.schema["_write_ts"])
    else:
        ts = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    frame = frame.with_columns(ts.alias(TIMESTAMP))
    if "ts" in frame.columns and frame.schema["ts"] != frame.schema[TIMESTAMP]:
        frame = frame.with_columns(pl.col(TIMESTAMP).alias("ts"))
    bad = frame.filter(pl.col(TIMESTAMP).is_null())
    if bad.height:
        skip_rows(report, where, bad, "no valid ts")
        frame = frame.filter(pl.col(TIMESTAMP).is_not_null())
    frame = frame.drop([c for c in ("_path", "_write_ts") if c in frame.columns])
    raw = [c for c in frame.columns if c not in (TIMESTAMP, LINE_COLUMN)]
    prefix = f"zeek.{log}."
    frame = frame.rename({c: f"{prefix}{c}" for c in raw})
    mapping = {
        ecs: tuple(f"{prefix}{f}" for f in fields)
        for ecs, fields in {**_COMMON, **ECS_BY_LOG.get(log, {})}.items()
    }
    frame = add_mapped(frame, mapping)
    return frame.with_columns(_host(frame, prefix), _event_id(frame, prefix, log, where)).drop(
        LINE_COLUMN
    )


def _host(frame: pl.DataFrame, prefix: str) -> pl.Expr:
    candidates: list[pl.Expr] = []
    for name in ("id.orig_h", "rx_hosts", "tx_hosts", "src"):
        column = f"{prefix}{name}"
        if column not in frame.columns:
            continue
        dtype = frame.schema[column]
        expr = pl.col(column).list.first() if isinstance(dtype, pl.List) else pl.col(column)
        candidates.append(expr.cast(pl.String))
    if not candidates:
        return pl.lit(None, dtype=pl.String).alias(HOST_NAME)
    return pl.coalesce(candidates).alias(HOST_NAME)


def _event_id(frame: pl.DataFrame, prefix: str, log: str, where: str) -> pl.Expr:
    order = (
        ("fuid", "uid", "id", "fingerprint")
        if log == "files"
        else ("uid", "fuid", "id", "fingerprint")
    )
    ids = [
        pl.col(f"{prefix}{n}").cast(pl.String)
        for n in order
        if f"{prefix}{n}" in frame.columns and frame.schema[f"{prefix}{n}"] == pl.String
    ]
    line = pl.format("{}:{}", pl.lit(Path(where.split("!")[-1]).name), pl.col(LINE_COLUMN))
    return pl.coalesce([*ids, line]).alias(EVENT_ID)
