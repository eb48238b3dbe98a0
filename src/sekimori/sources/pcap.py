"""Packet captures (pcap, pcapng) for users without Zeek: flows, HTTP, DNS, TLS SNI, SMTP.

Packets are read with ``dpkt`` and folded into Zeek-shaped batches, so that
the network detectors read a capture exactly as they read Zeek logs:

- ``zeek.conn``: one row per TCP/UDP/ICMP flow (5-tuple; the originator is
  the sender of the first packet, or of the SYN), with bytes and packets per
  direction, duration and a Zeek-style ``conn_state`` (S0, REJ, S1, SF,
  RSTO, RSTR, SH, OTH);
- ``zeek.http``: requests and their responses, from the first
  ``PAYLOAD_LIMIT`` bytes of each direction (method, host, URI, user agent,
  status, MIME type — ``application/x-dosexec`` when the body starts with
  ``MZ`` — and the file name of ``Content-Disposition``);
- ``zeek.dns``: queries (name, type, answers, rcode);
- ``zeek.ssl``: the SNI of TLS ClientHellos;
- ``zeek.smtp``: envelope sender, recipients and subject.

TCP is not reassembled: payload is taken in arrival order, which is what a
small office capture needs. Flows idle for ``IDLE_SECONDS`` are written out
while reading, so memory stays bounded on long captures. A packet that cannot
be decoded is counted in the report and skipped.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import dpkt
import polars as pl

from sekimori.errors import SourceError
from sekimori.model import EventBatch, shown_path
from sekimori.sources.base import ReadContext, ReadReport, Source

log = logging.getLogger(__name__)

PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
PAYLOAD_LIMIT = 65536
IDLE_SECONDS = 300.0
SWEEP_EVERY = 200_000
MAX_DNS_ANSWERS = 10
HTTP_METHODS = (
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
)
SMTP_PORTS = (25, 465, 587)
_HEADER = re.compile(rb"^([A-Za-z0-9-]+):[ \t]*(.*)$")
_FILENAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)
_ADDRESS = re.compile(r"<([^>]*)>")

ETHERNET = 1
RAW = (101, 12, 14)
LINUX_SLL = 113
LOOPBACK = (0, 108)


@dataclass(slots=True)
class Flow:
    """One flow being followed: counters, flags and the first bytes of each direction."""

    uid: str
    ts: float
    last: float
    proto: str
    orig: tuple[str, int]
    resp: tuple[str, int]
    orig_bytes: int = 0
    resp_bytes: int = 0
    orig_pkts: int = 0
    resp_pkts: int = 0
    orig_ip_bytes: int = 0
    resp_ip_bytes: int = 0
    history: str = ""
    orig_payload: bytearray = field(default_factory=bytearray)
    resp_payload: bytearray = field(default_factory=bytearray)
    first_payload_ts: float | None = None


def _uid(key: tuple[Any, ...], ts: float) -> str:
    digest = hashlib.blake2b(repr((key, ts)).encode(), digest_size=9).hexdigest()
    return "P" + digest


def _conn_state(flow: Flow) -> str:
    history = flow.history
    if flow.proto != "tcp":
        return "SF" if flow.resp_pkts else "S0"
    syn, synack = "S" in history, "H" in history
    if syn and not synack:
        if "r" in history:
            return "REJ"
        return "S0" if not flow.resp_pkts else "OTH"
    if not syn:
        return "OTH"
    if "R" in history:
        return "RSTO"
    if "r" in history:
        return "RSTR"
    if "F" in history and "f" in history:
        return "SF"
    if "F" in history:
        return "SH"
    return "S1"


def _address(data: bytes) -> str:
    family = socket.AF_INET6 if len(data) == 16 else socket.AF_INET
    return socket.inet_ntop(family, data)


def sni_of(payload: bytes) -> str | None:
    """The server name of a TLS ClientHello at the start of ``payload`` (RFC 8446 §4.1.2)."""
    if len(payload) < 43 or payload[0] != 0x16 or payload[5] != 0x01:
        return None
    pos = 9 + 2 + 32
    try:
        pos += 1 + payload[pos]
        pos += 2 + int.from_bytes(payload[pos : pos + 2], "big")
        pos += 1 + payload[pos]
        end = pos + 2 + int.from_bytes(payload[pos : pos + 2], "big")
        pos += 2
        while pos + 4 <= min(end, len(payload)):
            kind = int.from_bytes(payload[pos : pos + 2], "big")
            size = int.from_bytes(payload[pos + 2 : pos + 4], "big")
            body = payload[pos + 4 : pos + 4 + size]
            if kind == 0 and len(body) > 5 and body[2] == 0:
                length = int.from_bytes(body[3:5], "big")
                return body[5 : 5 + length].decode("ascii", errors="replace").lower()
            pos += 4 + size
    except (IndexError, UnicodeError):
        return None
    return None


def _heads(data: bytes, limit: int = 64) -> Iterator[tuple[bytes, dict[str, str], bytes]]:
    """HTTP messages in ``data``: start line, headers (lowercase names), first body bytes."""
    pos = 0
    while pos < len(data) and limit > 0:
        limit -= 1
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return
        lines = data[pos:end].split(b"\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            match = _HEADER.match(line)
            if match:
                headers[match.group(1).decode("latin-1").lower()] = match.group(2).decode("latin-1")
        length = headers.get("content-length", "0")
        size = int(length) if length.isdigit() else 0
        body_start = end + 4
        yield lines[0], headers, data[body_start : body_start + 16]
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return
        pos = body_start + size


def http_rows(flow: Flow) -> list[dict[str, Any]]:
    """The HTTP transactions of a flow, paired request with response in order."""
    if not flow.orig_payload.startswith(HTTP_METHODS):
        return []
    requests = list(_heads(bytes(flow.orig_payload)))
    responses = [r for r in _heads(bytes(flow.resp_payload)) if r[0].startswith(b"HTTP/")]
    rows = []
    for depth, (line, headers, _) in enumerate(requests, start=1):
        parts = line.decode("latin-1").split(" ")
        if len(parts) < 2:
            continue
        row: dict[str, Any] = {
            "trans_depth": depth,
            "method": parts[0],
            "uri": parts[1],
            "version": parts[2].removeprefix("HTTP/") if len(parts) > 2 else None,
            "host": headers.get("host"),
            "user_agent": headers.get("user-agent"),
            "referrer": headers.get("referer"),
            "request_body_len": int(headers.get("content-length", "0") or 0)
            if headers.get("content-length", "0").isdigit()
            else 0,
        }
        if depth <= len(responses):
            status_line, resp_headers, body = responses[depth - 1]
            status = status_line.split(b" ", 2)
            row["status_code"] = int(status[1]) if len(status) > 1 and status[1].isdigit() else None
            length = resp_headers.get("content-length", "")
            row["response_body_len"] = int(length) if length.isdigit() else None
            mime = resp_headers.get("content-type", "").split(";")[0].strip().lower() or None
            if body.startswith(b"MZ"):
                mime = "application/x-dosexec"
            row["resp_mime_types"] = [mime] if mime else None
            name = _FILENAME.search(resp_headers.get("content-disposition", ""))
            row["resp_filenames"] = [name.group(1)] if name else None
        rows.append(row)
    return rows


def smtp_row(flow: Flow) -> dict[str, Any] | None:
    """Envelope and subject of the first message of an SMTP session."""
    text = bytes(flow.orig_payload).decode("latin-1", errors="replace")
    sender = None
    recipients: list[str] = []
    subject = None
    helo = None
    in_data = False
    for line in text.split("\r\n"):
        upper = line.upper()
        if in_data:
            if line == ".":
                break
            if upper.startswith("SUBJECT:") and subject is None:
                subject = line[8:].strip()
            continue
        if upper.startswith(("HELO ", "EHLO ")):
            helo = line[5:].strip()
        elif upper.startswith("MAIL FROM:"):
            found = _ADDRESS.search(line)
            sender = found.group(1) if found else line[10:].strip()
        elif upper.startswith("RCPT TO:"):
            found = _ADDRESS.search(line)
            recipients.append(found.group(1) if found else line[8:].strip())
        elif upper == "DATA":
            in_data = True
    if sender is None and not recipients:
        return None
    return {
        "helo": helo,
        "mailfrom": sender,
        "rcptto": recipients or None,
        "subject": subject,
        "trans_depth": 1,
    }


class PcapSource(Source):
    """pcap and pcapng captures, turned into Zeek-shaped conn/http/dns/ssl/smtp batches."""

    name: ClassVar[str] = "pcap"

    def sniff(self, head: bytes, filename: str) -> bool:
        """The pcap or pcapng magic number."""
        return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC

    def read(self, path: Path, ctx: ReadContext, report: ReadReport) -> Iterator[EventBatch]:
        """Batches per log type; flows are written out when idle and at the end."""
        reader = _PcapReader(path, ctx, report)
        with path.open("rb") as fh:
            yield from reader.run(fh)


class _PcapReader:
    """The state of reading one capture."""

    def __init__(self, path: Path, ctx: ReadContext, report: ReadReport) -> None:
        self.path = path
        self.ctx = ctx
        self.report = report
        self.flows: dict[tuple[Any, ...], Flow] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {
            "conn": [],
            "http": [],
            "dns": [],
            "ssl": [],
            "smtp": [],
        }
        self.packets = 0

    def _open(self, fh: BinaryIO) -> Any:
        try:
            head = fh.read(4)
            fh.seek(0)
            if head == PCAPNG_MAGIC:
                return dpkt.pcapng.Reader(fh)
            return dpkt.pcap.Reader(fh)
        except (ValueError, dpkt.dpkt.Error) as exc:
            raise SourceError(f"not a readable capture: {exc}", where=str(self.path)) from exc

    def run(self, fh: BinaryIO) -> Iterator[EventBatch]:
        capture = self._open(fh)
        datalink = capture.datalink()
        if datalink not in (ETHERNET, LINUX_SLL, *RAW, *LOOPBACK):
            raise SourceError(f"link type {datalink} is not read", where=str(self.path))
        now = 0.0
        try:
            for ts, buf in capture:
                self.packets += 1
                now = float(ts)
                self._packet(now, buf, datalink)
                if self.packets % SWEEP_EVERY == 0:
                    self._sweep(now - IDLE_SECONDS)
                    yield from self._batches(full=False)
        except (dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError) as exc:
            self.report.skip(f"packet {self.packets + 1}", f"truncated capture: {exc}")
        self._sweep(None)
        yield from self._batches(full=True)

    def _ip_layer(self, buf: bytes, datalink: int) -> Any:
        if datalink == ETHERNET:
            frame = dpkt.ethernet.Ethernet(buf)
            return frame.data
        if datalink == LINUX_SLL:
            return dpkt.sll.SLL(buf).data
        if datalink in RAW:
            return dpkt.ip.IP(buf) if buf and buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
        if datalink in LOOPBACK:
            return dpkt.loopback.Loopback(buf).data
        raise dpkt.dpkt.UnpackError(f"link type {datalink} not supported")

    def _packet(self, ts: float, buf: bytes, datalink: int) -> None:
        try:
            ip = self._ip_layer(buf, datalink)
        except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData, IndexError, ValueError) as exc:
            self.report.skip(f"packet {self.packets}", f"undecodable: {exc}")
            return
        if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
            return
        transport = ip.data
        src, dst = _address(ip.src), _address(ip.dst)
        if isinstance(transport, dpkt.tcp.TCP):
            proto, sport, dport, payload = "tcp", transport.sport, transport.dport, transport.data
            flags = transport.flags
        elif isinstance(transport, dpkt.udp.UDP):
            proto, sport, dport, payload, flags = (
                "udp",
                transport.sport,
                transport.dport,
                transport.data,
                0,
            )
        elif isinstance(transport, dpkt.icmp.ICMP | dpkt.icmp6.ICMP6):
            proto, sport, dport, payload, flags = "icmp", transport.type, transport.code, b"", 0
        else:
            return
        payload = bytes(payload) if not isinstance(payload, bytes) else payload
        key = (proto, *sorted(((src, sport), (dst, dport))))
        flow = self.flows.get(key)
        if flow is None:
            reverse = proto == "tcp" and flags & dpkt.tcp.TH_SYN and flags & dpkt.tcp.TH_ACK
            orig, resp = ((dst, dport), (src, sport)) if reverse else ((src, sport), (dst, dport))
            flow = Flow(_uid(key, ts), ts, ts, proto, orig, resp)
            self.flows[key] = flow
            if proto == "udp" and 53 in (sport, dport):
                self._dns(ts, flow, payload, (src, sport), (dst, dport))
        elif proto == "udp" and 53 in (sport, dport):
            self._dns(ts, flow, payload, (src, sport), (dst, dport))
        from_orig = (src, sport) == flow.orig
        flow.last = ts
        size = len(buf)
        if from_orig:
            flow.orig_pkts += 1
            flow.orig_bytes += len(payload)
            flow.orig_ip_bytes += size
            if len(flow.orig_payload) < PAYLOAD_LIMIT:
                flow.orig_payload += payload[: PAYLOAD_LIMIT - len(flow.orig_payload)]
        else:
            flow.resp_pkts += 1
            flow.resp_bytes += len(payload)
            flow.resp_ip_bytes += size
            if len(flow.resp_payload) < PAYLOAD_LIMIT:
                flow.resp_payload += payload[: PAYLOAD_LIMIT - len(flow.resp_payload)]
        if proto == "tcp":
            flow.history += _history(flags, from_orig, flow.history)

    def _dns(
        self, ts: float, flow: Flow, payload: bytes, src: tuple[str, int], dst: tuple[str, int]
    ) -> None:
        try:
            message = dpkt.dns.DNS(payload)
        except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData, IndexError, ValueError):
            self.report.skip(f"packet {self.packets}", "undecodable DNS message")
            return
        if message.qr != dpkt.dns.DNS_Q or not message.qd:
            if (
                message.qd
                and self.rows["dns"]
                and self.rows["dns"][-1].get("trans_id") == message.id
            ):
                answers = [_answer(a) for a in message.an[:MAX_DNS_ANSWERS]]
                self.rows["dns"][-1]["answers"] = [a for a in answers if a] or None
                self.rows["dns"][-1]["rcode"] = message.rcode
            return
        question = message.qd[0]
        self.rows["dns"].append(
            {
                "ts": ts,
                "uid": flow.uid,
                "id.orig_h": src[0],
                "id.orig_p": src[1],
                "id.resp_h": dst[0],
                "id.resp_p": dst[1],
                "proto": flow.proto,
                "trans_id": message.id,
                "query": question.name,
                "qtype": question.type,
                "qtype_name": _QTYPES.get(question.type, str(question.type)),
                "rcode": None,
                "answers": None,
            }
        )

    def _sweep(self, before: float | None) -> None:
        done = [k for k, f in self.flows.items() if before is None or f.last < before]
        for key in done:
            self._finish(self.flows.pop(key))

    def _finish(self, flow: Flow) -> None:
        base = {
            "ts": flow.ts,
            "uid": flow.uid,
            "id.orig_h": flow.orig[0],
            "id.orig_p": flow.orig[1],
            "id.resp_h": flow.resp[0],
            "id.resp_p": flow.resp[1],
        }
        service = None
        if flow.proto == "tcp" and flow.orig_payload:
            if flow.orig_payload.startswith(HTTP_METHODS):
                service = "http"
                for row in http_rows(flow):
                    self.rows["http"].append({**base, **row})
            elif flow.orig_payload[:1] == b"\x16":
                server_name = sni_of(bytes(flow.orig_payload))
                service = "ssl"
                self.rows["ssl"].append({**base, "server_name": server_name})
            elif flow.resp[1] in SMTP_PORTS or flow.resp_payload.startswith(b"220"):
                smtp = smtp_row(flow)
                if smtp is not None:
                    service = "smtp"
                    self.rows["smtp"].append({**base, **smtp})
        if flow.proto == "udp" and 53 in (flow.orig[1], flow.resp[1]):
            service = "dns"
        self.rows["conn"].append(
            {
                **base,
                "proto": flow.proto,
                "service": service,
                "duration": round(flow.last - flow.ts, 6),
                "orig_bytes": flow.orig_bytes,
                "resp_bytes": flow.resp_bytes,
                "conn_state": _conn_state(flow),
                "history": flow.history or None,
                "orig_pkts": flow.orig_pkts,
                "orig_ip_bytes": flow.orig_ip_bytes,
                "resp_pkts": flow.resp_pkts,
                "resp_ip_bytes": flow.resp_ip_bytes,
            }
        )

    def _batches(self, full: bool) -> Iterator[EventBatch]:
        for log_name, rows in self.rows.items():
            if not rows or (not full and len(rows) < self.ctx.batch_size):
                continue
            self.rows[log_name] = []
            for start in range(0, len(rows), self.ctx.batch_size):
                yield self._batch(log_name, rows[start : start + self.ctx.batch_size])

    def _batch(self, log_name: str, rows: list[dict[str, Any]]) -> EventBatch:
        rows.sort(key=lambda r: r["ts"])
        prefix = f"zeek.{log_name}."
        frame = pl.DataFrame(rows, infer_schema_length=None).rename(lambda c: prefix + c)
        micros = (pl.col(prefix + "ts") * 1_000_000).cast(pl.Int64)
        timestamp = micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        frame = frame.with_columns(timestamp.alias(prefix + "ts"))
        columns = [
            pl.col(prefix + "ts").alias("@timestamp"),
            pl.lit(self.ctx.tenant).alias("tenant"),
            pl.col(prefix + "id.orig_h").alias("host.name"),
            pl.col(prefix + "uid").alias("event.id"),
            pl.lit(f"zeek.{log_name}").alias("event.dataset"),
            pl.lit(shown_path(str(self.path))).alias("log.file.path"),
            pl.col(prefix + "id.orig_h").alias("source.ip"),
            pl.col(prefix + "id.orig_p").alias("source.port"),
            pl.col(prefix + "id.resp_h").alias("destination.ip"),
            pl.col(prefix + "id.resp_p").alias("destination.port"),
        ]
        for ecs, raw in _ECS.get(log_name, {}).items():
            if prefix + raw in frame.columns:
                columns.append(pl.col(prefix + raw).alias(ecs))
        frame = frame.select(columns + [pl.col(c) for c in frame.columns])
        return EventBatch(dataset=f"zeek.{log_name}", frame=frame, path=str(self.path))


_ECS: dict[str, dict[str, str]] = {
    "conn": {"network.transport": "proto", "network.protocol": "service"},
    "http": {
        "url.domain": "host",
        "destination.domain": "host",
        "url.original": "uri",
        "http.request.method": "method",
        "http.response.status_code": "status_code",
        "user_agent.original": "user_agent",
    },
    "dns": {"dns.question.name": "query", "dns.question.type": "qtype_name"},
    "ssl": {"tls.server.name": "server_name", "destination.domain": "server_name"},
    "smtp": {
        "email.from.address": "mailfrom",
        "email.to.address": "rcptto",
        "email.subject": "subject",
    },
}
_QTYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
}


def _answer(record: Any) -> str | None:
    if record.type in (dpkt.dns.DNS_A, dpkt.dns.DNS_AAAA):
        return _address(record.rdata)
    if record.type in (dpkt.dns.DNS_CNAME, dpkt.dns.DNS_PTR, dpkt.dns.DNS_NS):
        return str(getattr(record, "cname", "") or getattr(record, "ptrname", "") or "") or None
    return None


def _history(flags: int, from_orig: bool, seen: str) -> str:
    """Zeek-style history letters for new flags (upper case: originator), each once."""
    letters = ""
    if flags & dpkt.tcp.TH_SYN and flags & dpkt.tcp.TH_ACK:
        letters += "H" if not from_orig else ""
    elif flags & dpkt.tcp.TH_SYN:
        letters += "S" if from_orig else "s"
    if flags & dpkt.tcp.TH_FIN:
        letters += "F" if from_orig else "f"
    if flags & dpkt.tcp.TH_RST:
        letters += "R" if from_orig else "r"
    return "".join(ch for ch in letters if ch not in seen)
