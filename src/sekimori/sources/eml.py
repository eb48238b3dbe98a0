"""Mail messages (RFC 5322 ``.eml`` files and mbox folders) as ``email`` events.

One event per message with the ECS ``email.*`` fields: addresses of From,
To, Cc, Bcc, Reply-To and Sender; the Subject decoded from RFC 2047 encoded
words (ISO-2022-JP, UTF-8, ISO-8859-x …); Message-ID; the attachment names
(RFC 2231 and RFC 2047 names decoded) and types; ``email.origination_timestamp``
from Date. Only normalization happens here: the deep analysis (MIME walk,
Office and archive contents, links, spoofing) belongs to ``sekimori.mail``,
which re-reads the message from ``log.file.path`` (and ``log.offset`` for a
message inside an mbox). Headers are read leniently (``compat32``): a broken
header leaves a field empty, never the message out.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import email.utils
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from sekimori.model import EVENT_ID, HOST_NAME, TIMESTAMP, EventBatch
from sekimori.sources.base import ReadContext, ReadReport, Source
from sekimori.sources.container import open_members
from sekimori.sources.frame import TIMESTAMP_DTYPE, finish

log = logging.getLogger(__name__)

DATASET = "email"
# Messages larger than this are still one event, but only their headers are parsed.
MAX_MESSAGE = 64 << 20
_HEADER_LINE = re.compile(rb"^([!-9;-~]+):[ \t]?")
_KNOWN_HEADERS = frozenset(
    {
        b"from", b"to", b"cc", b"subject", b"date", b"received", b"return-path",
        b"message-id", b"mime-version", b"delivered-to", b"reply-to", b"sender",
        b"content-type", b"dkim-signature", b"authentication-results", b"x-mailer",
        b"thread-topic", b"thread-index", b"in-reply-to", b"references", b"x-received",
        b"arc-seal", b"received-spf", b"x-original-to", b"content-transfer-encoding",
    }
)  # fmt: skip
# Headers only mail has; one of them must be among the first lines.
_CORE_HEADERS = frozenset(
    {b"from", b"received", b"message-id", b"return-path", b"delivered-to", b"mime-version"}
)
_MBOX_SEPARATOR = re.compile(rb"^From [^\r\n]*\r?\n", re.MULTILINE)
_LIST = pl.List(pl.String)
SCHEMA: dict[str, Any] = {
    TIMESTAMP: TIMESTAMP_DTYPE,
    EVENT_ID: pl.String,
    HOST_NAME: pl.String,
    "email.from.address": pl.String,
    "email.from.name": pl.String,
    "email.sender.address": pl.String,
    "email.to.address": _LIST,
    "email.cc.address": _LIST,
    "email.bcc.address": _LIST,
    "email.reply_to.address": _LIST,
    "email.subject": pl.String,
    "email.message_id": pl.String,
    "email.in_reply_to": pl.String,
    "email.origination_timestamp": TIMESTAMP_DTYPE,
    "email.content_type": pl.String,
    "email.x_mailer": pl.String,
    "email.direction": pl.String,
    "email.attachments.file.name": _LIST,
    "email.attachments.file.mime_type": _LIST,
    "email.received.count": pl.Int64,
    "email.defects": _LIST,
    "log.offset": pl.Int64,
}


class EmlSource(Source):
    """RFC 5322 messages (``.eml``) and mbox files: one ``email`` event per message."""

    name: ClassVar[str] = "eml"

    def sniff(self, head: bytes, filename: str) -> bool:
        """Header lines at the start, an mbox ``From `` line, or text named ``.eml``."""
        if b"\x00" in head[:4096]:
            return False
        if head.startswith(b"From ") and _looks_like_headers(head.split(b"\n", 1)[-1]):
            return True
        if _looks_like_headers(head):
            return True
        name = filename.lower().removesuffix(".gz")
        return name.endswith((".eml", ".msg.txt")) and not head.lstrip().startswith((b"{", b"["))

    def read(self, path: Path, ctx: ReadContext, report: ReadReport) -> Iterator[EventBatch]:
        """One event per message; mbox files give one per ``From `` section."""
        rows: list[dict[str, Any]] = []
        for member in open_members(path, report):
            data = member.stream.read()
            mbox = _is_mbox(data)
            for offset, raw in _messages(data):
                where = f"{member.where}@{offset}" if offset else member.where
                rows.append(message_row(raw, where, offset if mbox else None, report))
                if len(rows) >= ctx.batch_size:
                    yield _batch(rows, ctx, path)
                    rows = []
        if rows:
            yield _batch(rows, ctx, path)


def _looks_like_headers(head: bytes) -> bool:
    lines = head.split(b"\n", 40)[:40]
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    known = 0
    core = False
    for line in lines:
        if not line.strip():
            break
        match = _HEADER_LINE.match(line)
        if match:
            name = match[1].lower()
            # mail software writes header names capitalized; YAML keys (a Sigma rule's
            # "date:" and "references:") are lower case
            if name in _CORE_HEADERS or match[1][:1].isupper():
                known += name in _KNOWN_HEADERS or name.startswith(b"x-")
            core = core or name in _CORE_HEADERS
        elif not line[:1].isspace():
            return False
    return core and known >= 2


def _is_mbox(data: bytes) -> bool:
    return data.startswith(b"From ")


def _messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(byte offset, message) pairs: the whole file, or each message of an mbox."""
    if not _is_mbox(data):
        yield 0, data
        return
    starts = [m.start() for m in _MBOX_SEPARATOR.finditer(data)]
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        body_start = data.index(b"\n", start) + 1
        message = re.sub(rb"(?m)^>(>*From )", rb"\1", data[body_start:end])
        yield start, message


def decode_header(value: str | None) -> str | None:
    """A header value with RFC 2047 encoded words decoded (unknown charsets replaced)."""
    if value is None:
        return None
    value = str(value)
    try:
        parts = email.header.decode_header(value)
    except (email.errors.HeaderParseError, ValueError, LookupError):
        return value
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        out.append(_decode_bytes(chunk, charset))
    text = "".join(out) if any(c for _, c in parts) else value
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def _decode_bytes(chunk: bytes, charset: str | None) -> str:
    for name in (charset, "utf-8", "latin-1"):
        if not name or name == "unknown-8bit":
            continue
        try:
            return chunk.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return chunk.decode("utf-8", errors="replace")


def _addresses(message: email.message.Message, name: str) -> list[str]:
    values = [str(v) for v in message.get_all(name, []) if v is not None]
    if not values:
        return []
    try:
        pairs = email.utils.getaddresses(values)
    except (ValueError, IndexError, TypeError):
        pairs = []
    found = [addr.strip() for _, addr in pairs if "@" in addr]
    return list(dict.fromkeys(found))


def _timestamp(message: email.message.Message) -> datetime | None:
    for value in [message.get("Date"), *_received_dates(message)]:
        if not value:
            continue
        try:
            parsed = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError, IndexError):
            continue
        if parsed is None:
            continue
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def _received_dates(message: email.message.Message) -> list[str]:
    return [
        str(v).rsplit(";", 1)[-1].strip() for v in message.get_all("Received", []) if ";" in str(v)
    ]


def _attachments(message: email.message.Message) -> tuple[list[str], list[str]]:
    names: list[str] = []
    types: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        try:
            filename = part.get_filename()
        except (ValueError, LookupError, TypeError):
            filename = None
        disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
        if filename is None and disposition != "attachment":
            continue
        names.append(decode_header(filename) or "")
        types.append(part.get_content_type())
    return names, types


def _headers_only(raw: bytes) -> bytes:
    """The header block of an oversized message (up to the first empty line)."""
    found = re.search(rb"\r?\n\r?\n", raw[:MAX_MESSAGE])
    return raw[: found.end()] if found else raw[:MAX_MESSAGE]


def message_row(raw: bytes, where: str, offset: int | None, report: ReadReport) -> dict[str, Any]:
    """The normalized fields of one message (headers parsed leniently)."""
    parse_bytes = raw if len(raw) <= MAX_MESSAGE else _headers_only(raw)
    message = email.message_from_bytes(parse_bytes, policy=policy.compat32)
    defects = [type(d).__name__ for d in message.defects]
    sender = _addresses(message, "From")
    from_pairs = (
        email.utils.getaddresses([str(message.get("From", ""))]) if message.get("From") else []
    )
    to = _addresses(message, "To")
    message_id = decode_header(message.get("Message-ID"))
    sent = _timestamp(message)
    if sent is None:
        log.debug("%s: no readable Date or Received time, the file time is used", where)
    names, types = _attachments(message) if len(raw) <= MAX_MESSAGE else ([], [])
    return {
        TIMESTAMP: sent,
        EVENT_ID: message_id.strip().strip("<>").strip() if message_id else None,
        HOST_NAME: to[0] if to else None,
        "email.from.address": sender[0] if sender else None,
        "email.from.name": decode_header(from_pairs[0][0])
        if from_pairs and from_pairs[0][0]
        else None,
        "email.sender.address": next(iter(_addresses(message, "Sender")), None),
        "email.to.address": to,
        "email.cc.address": _addresses(message, "Cc"),
        "email.bcc.address": _addresses(message, "Bcc"),
        "email.reply_to.address": _addresses(message, "Reply-To"),
        "email.subject": decode_header(message.get("Subject")),
        "email.message_id": message_id,
        "email.in_reply_to": decode_header(message.get("In-Reply-To")),
        "email.origination_timestamp": sent,
        "email.content_type": message.get_content_type(),
        "email.x_mailer": decode_header(message.get("X-Mailer")),
        "email.direction": "unknown",
        "email.attachments.file.name": names,
        "email.attachments.file.mime_type": types,
        "email.received.count": len(message.get_all("Received", [])),
        "email.defects": defects,
        "log.offset": offset,
    }


def _batch(rows: list[dict[str, Any]], ctx: ReadContext, path: Path) -> EventBatch:
    frame = pl.from_dicts(rows, schema=SCHEMA)
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    fallback_id = pl.format("{}:{}", pl.lit(path.name), pl.int_range(pl.len()))
    frame = frame.with_columns(
        pl.col(TIMESTAMP).fill_null(pl.lit(mtime, dtype=TIMESTAMP_DTYPE)),
        pl.coalesce(pl.col(EVENT_ID), fallback_id).alias(EVENT_ID),
    )
    return finish(frame, dataset=DATASET, ctx=ctx, path=str(path))
