"""Zeek logs in their default TSV form, with the header block Zeek itself writes.

Each log starts with ``#separator``, ``#set_separator``, ``#empty_field``,
``#unset_field``, ``#path``, ``#open``, ``#fields`` and ``#types`` lines and
ends with ``#close``; unset values are ``-``, empty sets ``(empty)``, times
are epoch seconds with six decimals (Zeek's ``logging/writers/ascii``).
Field lists follow Zeek 6's base scripts for the logs the demo writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

_ID = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
]

SCHEMAS: dict[str, list[tuple[str, str]]] = {
    "conn": [
        *_ID,
        ("proto", "enum"),
        ("service", "string"),
        ("duration", "interval"),
        ("orig_bytes", "count"),
        ("resp_bytes", "count"),
        ("conn_state", "string"),
        ("local_orig", "bool"),
        ("local_resp", "bool"),
        ("missed_bytes", "count"),
        ("history", "string"),
        ("orig_pkts", "count"),
        ("orig_ip_bytes", "count"),
        ("resp_pkts", "count"),
        ("resp_ip_bytes", "count"),
        ("tunnel_parents", "set[string]"),
    ],
    "dns": [
        *_ID,
        ("proto", "enum"),
        ("trans_id", "count"),
        ("rtt", "interval"),
        ("query", "string"),
        ("qclass", "count"),
        ("qclass_name", "string"),
        ("qtype", "count"),
        ("qtype_name", "string"),
        ("rcode", "count"),
        ("rcode_name", "string"),
        ("AA", "bool"),
        ("TC", "bool"),
        ("RD", "bool"),
        ("RA", "bool"),
        ("Z", "count"),
        ("answers", "vector[string]"),
        ("TTLs", "vector[interval]"),
        ("rejected", "bool"),
    ],
    "http": [
        *_ID,
        ("trans_depth", "count"),
        ("method", "string"),
        ("host", "string"),
        ("uri", "string"),
        ("referrer", "string"),
        ("version", "string"),
        ("user_agent", "string"),
        ("origin", "string"),
        ("request_body_len", "count"),
        ("response_body_len", "count"),
        ("status_code", "count"),
        ("status_msg", "string"),
        ("info_code", "count"),
        ("info_msg", "string"),
        ("tags", "set[enum]"),
        ("username", "string"),
        ("password", "string"),
        ("proxied", "set[string]"),
        ("orig_fuids", "vector[string]"),
        ("orig_filenames", "vector[string]"),
        ("orig_mime_types", "vector[string]"),
        ("resp_fuids", "vector[string]"),
        ("resp_filenames", "vector[string]"),
        ("resp_mime_types", "vector[string]"),
    ],
    "ssl": [
        *_ID,
        ("version", "string"),
        ("cipher", "string"),
        ("curve", "string"),
        ("server_name", "string"),
        ("resumed", "bool"),
        ("last_alert", "string"),
        ("next_protocol", "string"),
        ("established", "bool"),
        ("ssl_history", "string"),
        ("cert_chain_fps", "vector[string]"),
        ("client_cert_chain_fps", "vector[string]"),
        ("subject", "string"),
        ("issuer", "string"),
        ("sni_matches_cert", "bool"),
        ("validation_status", "string"),
    ],
    "files": [
        ("ts", "time"),
        ("fuid", "string"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("source", "string"),
        ("depth", "count"),
        ("analyzers", "set[string]"),
        ("mime_type", "string"),
        ("filename", "string"),
        ("duration", "interval"),
        ("local_orig", "bool"),
        ("is_orig", "bool"),
        ("seen_bytes", "count"),
        ("total_bytes", "count"),
        ("missing_bytes", "count"),
        ("overflow_bytes", "count"),
        ("timedout", "bool"),
        ("parent_fuid", "string"),
        ("md5", "string"),
        ("sha1", "string"),
        ("sha256", "string"),
        ("extracted", "string"),
        ("extracted_cutoff", "bool"),
        ("extracted_size", "count"),
    ],
    "smtp": [
        *_ID,
        ("trans_depth", "count"),
        ("helo", "string"),
        ("mailfrom", "string"),
        ("rcptto", "set[string]"),
        ("date", "string"),
        ("from", "string"),
        ("to", "set[string]"),
        ("cc", "set[string]"),
        ("reply_to", "string"),
        ("msg_id", "string"),
        ("in_reply_to", "string"),
        ("subject", "string"),
        ("x_originating_ip", "addr"),
        ("first_received", "string"),
        ("second_received", "string"),
        ("last_reply", "string"),
        ("path", "vector[addr]"),
        ("user_agent", "string"),
        ("tls", "bool"),
        ("fuids", "vector[string]"),
        ("is_webmail", "bool"),
    ],
    "smb_mapping": [
        *_ID,
        ("path", "string"),
        ("service", "string"),
        ("native_file_system", "string"),
        ("share_type", "string"),
    ],
    "dce_rpc": [
        *_ID,
        ("rtt", "interval"),
        ("named_pipe", "string"),
        ("endpoint", "string"),
        ("operation", "string"),
    ],
    "ntlm": [
        *_ID,
        ("username", "string"),
        ("hostname", "string"),
        ("domainname", "string"),
        ("server_nb_computer_name", "string"),
        ("server_dns_computer_name", "string"),
        ("server_tree_name", "string"),
        ("success", "bool"),
    ],
}


def _value(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "time":
        return f"{value.timestamp():.6f}" if isinstance(value, datetime) else f"{value:.6f}"
    if kind == "interval":
        return f"{value:.6f}"
    if kind == "bool":
        return "T" if value else "F"
    if kind.startswith(("set[", "vector[")):
        items = [_value(v, kind[kind.index("[") + 1 : -1]) for v in value]
        return ",".join(items) if items else "(empty)"
    text = str(value)
    if text == "":
        return "(empty)"
    return text.replace("\\", "\\\\").replace("\t", "\\x09").replace("\n", "\\x0a")


@dataclass(slots=True)
class ZeekLog:
    """Rows of one Zeek log; ``write`` sorts them by time and adds the header."""

    path: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add_row(self, row: dict[str, Any]) -> None:
        """Add a row given as a mapping of Zeek field names (``id.orig_h`` …)."""
        self.rows.append(row)

    def lines(self, opened: datetime, closed: datetime) -> Iterable[str]:
        """The log's text, line by line."""
        schema = SCHEMAS[self.path]
        yield "#separator \\x09"
        yield "#set_separator\t,"
        yield "#empty_field\t(empty)"
        yield "#unset_field\t-"
        yield f"#path\t{self.path}"
        yield f"#open\t{opened.strftime('%Y-%m-%d-%H-%M-%S')}"
        yield "#fields\t" + "\t".join(name for name, _ in schema)
        yield "#types\t" + "\t".join(kind for _, kind in schema)
        for row in sorted(self.rows, key=_sort_key):
            yield "\t".join(_value(row.get(name), kind) for name, kind in schema)
        yield f"#close\t{closed.strftime('%Y-%m-%d-%H-%M-%S')}"

    def write(self, folder: Path, opened: datetime, closed: datetime) -> Path:
        """Write ``<path>.log`` into ``folder``."""
        target = folder / f"{self.path}.log"
        target.write_text(
            "\n".join(self.lines(opened, closed)) + "\n", encoding="utf-8", newline="\n"
        )
        return target


def _sort_key(row: dict[str, Any]) -> tuple[float, str]:
    ts = row["ts"]
    return (
        ts.timestamp() if isinstance(ts, datetime) else float(ts),
        str(row.get("uid") or row.get("fuid") or ""),
    )


def conn_row(
    ts: datetime,
    uid: str,
    orig: tuple[str, int],
    resp: tuple[str, int],
    proto: str,
    service: str | None,
    duration: float | None,
    orig_bytes: int | None,
    resp_bytes: int | None,
    state: str,
    history: str,
    local_resp: bool,
    tunnel: Sequence[str] = (),
) -> dict[str, Any]:
    """A ``conn.log`` row with packet and IP byte counts derived from the payload sizes."""
    ob, rb = orig_bytes or 0, resp_bytes or 0
    opk = max(1, ob // 1200 + (2 if proto == "tcp" else 1)) if state != "REJ" else 1
    rpk = (
        max(1, rb // 1400 + (2 if proto == "tcp" else 1))
        if state not in ("S0", "OTH")
        else (1 if state == "REJ" else 0)
    )
    hdr = 40 if proto == "tcp" else 28
    return {
        "ts": ts,
        "uid": uid,
        "id.orig_h": orig[0],
        "id.orig_p": orig[1],
        "id.resp_h": resp[0],
        "id.resp_p": resp[1],
        "proto": proto,
        "service": service,
        "duration": duration,
        "orig_bytes": orig_bytes,
        "resp_bytes": resp_bytes,
        "conn_state": state,
        "local_orig": orig[0].startswith("10.1."),
        "local_resp": local_resp,
        "missed_bytes": 0,
        "history": history,
        "orig_pkts": opk,
        "orig_ip_bytes": ob + opk * hdr,
        "resp_pkts": rpk,
        "resp_ip_bytes": rb + rpk * hdr,
        "tunnel_parents": list(tunnel),
    }
