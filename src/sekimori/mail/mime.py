"""MIME walk: .eml, mbox, Maildir and Outlook .msg into a typed ``ParsedMessage``.

Japanese mail is decoded the way Japanese mail clients do it: ISO-2022-JP
(with the Microsoft and JIS X 0213 extensions as fallbacks), Shift_JIS read
as CP932, EUC-JP, UTF-8, and 8-bit headers or bodies without a declared
charset guessed among those. Headers follow RFC 2047 (encoded words, also
inside quotes, as some mailers write them) and file names RFC 2231. The
parser is the standard library's ``compat32`` one, which records defects
instead of raising: a malformed message is analyzed as far as it goes, with
its defects listed (``mime.malformed``).
"""

from __future__ import annotations

import email
import email.header
import email.utils
import logging
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32
from pathlib import Path
from typing import Any

from sekimori.errors import MailError
from sekimori.mail.result import Child
from sekimori.model import shown_path

log = logging.getLogger(__name__)

_CHARSET_CHAINS: dict[str, tuple[str, ...]] = {
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3"),
    "iso-2022-jp-2": ("iso2022_jp_2", "iso2022_jp_ext"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "windows-31j": ("cp932",),
    "cp932": ("cp932",),
    "ms932": ("cp932",),
    "euc-jp": ("euc_jp", "euc_jis_2004"),
    "x-euc-jp": ("euc_jp", "euc_jis_2004"),
    "utf8": ("utf-8",),
    "unknown-8bit": (),
    "us-ascii": ("utf-8",),
    "ascii": ("utf-8",),
}
# Tried in order when the declared charset is missing or wrong.
_GUESSES = ("utf-8", "cp932", "euc_jp")
_HEADER_RE = re.compile(rb"^[!-9;-~]+:[ \t]?")
_KNOWN_HEADERS = (
    b"from:",
    b"to:",
    b"subject:",
    b"received:",
    b"message-id:",
    b"mime-version:",
    b"date:",
    b"return-path:",
    b"delivered-to:",
    b"content-type:",
    b"x-",
    b"reply-to:",
    b"authentication-results:",
)
_ENCODED_WORD_RE = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# Undecodable 8-bit header bytes, as the parser leaves them (surrogateescape).
_RAW_BYTE_RE = re.compile("[\udc80-\udcff]")
_BLANKS_RE = re.compile(r"[ \t]{2,}")


def decode_bytes(raw: bytes, charset: str | None) -> str:
    """Text of ``raw`` in ``charset``, with Japanese-aware fallbacks, never raising."""
    label = (charset or "").strip().strip('"').lower()
    chain: tuple[str, ...] = _CHARSET_CHAINS.get(label, (label,) if label else ())
    if b"\x1b$" in raw or b"\x1b(" in raw:
        chain = (*chain, "iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2")
    for codec in chain:
        try:
            return raw.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    guessed = _guess(raw)
    if guessed is not None:
        return guessed
    return raw.decode(chain[0] if chain and _known(chain[0]) else "utf-8", errors="replace")


def _guess(raw: bytes) -> str | None:
    """Decode undeclared 8-bit text: UTF-8 if valid, else the likelier of CP932 and EUC-JP.

    Both Japanese codecs accept much of each other's input; EUC-JP read as
    CP932 turns into half-width katakana, so fewer of those wins.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best: tuple[int, str] | None = None
    for codec in _GUESSES[1:]:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        halfwidth = sum(1 for ch in text if "\uff61" <= ch <= "\uff9f")
        if best is None or halfwidth < best[0]:
            best = (halfwidth, text)
    return best[1] if best else None


def _known(codec: str) -> bool:
    try:
        b"".decode(codec)
    except LookupError:
        return False
    return True


def decode_header_value(value: Any) -> str:
    """A header value as text: RFC 2047 encoded words decoded, raw 8-bit guessed."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        parts = email.header.decode_header(value)
    else:
        text = str(value)
        if text.isascii():
            if "=?" not in text:
                return _unfold(text)
        elif _RAW_BYTE_RE.search(text):
            return decode_bytes(text.encode("ascii", "surrogateescape"), None)
        if "=?" not in text:
            return _unfold(text)
        # Encoded words inside quotes are not RFC 2047 but common: let the decoder see them.
        text = _ENCODED_WORD_RE.sub(lambda m: f" {m.group(0)} ", text.replace('"', " "))
        try:
            parts = email.header.decode_header(text)
        except (email.errors.HeaderParseError, ValueError):
            return _unfold(text)
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    return _BLANKS_RE.sub(" ", _unfold("".join(out)))


def _unfold(text: str) -> str:
    # Line by line, not by regex: a header of blanks must not cost quadratic time.
    return " ".join(part.strip() for part in text.splitlines()).strip()


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox from an address header: display name and address (lower-cased)."""

    name: str
    address: str

    @property
    def domain(self) -> str:
        """The domain part of the address (empty when there is none)."""
        return self.address.rpartition("@")[2] if "@" in self.address else ""


@dataclass(slots=True)
class ParsedMessage:
    """A message as the analyzers see it: decoded headers, bodies, attachments, defects."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    return_path: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""
    date: str = ""
    text: str = ""
    html: list[str] = field(default_factory=list)
    attachments: list[Child] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    def header(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        key = name.lower()
        return [v for k, v in self.headers if k.lower() == key]

    @property
    def recipients(self) -> list[Address]:
        """To and Cc recipients."""
        return [*self.to, *self.cc]

    def summary(self) -> dict[str, Any]:
        """The message fields shown next to a verdict."""
        return {
            "subject": self.subject,
            "from": self.sender.address if self.sender else "",
            "from_name": self.sender.name if self.sender else "",
            "to": [a.address for a in self.to],
            "date": self.date,
            "message_id": self.message_id,
        }


def looks_like_message(head: bytes) -> bool:
    """True when ``head`` starts like an RFC 5322 message (a block of headers)."""
    lines = head.lstrip(b"\r\n").splitlines()[:40]
    if not lines or not _HEADER_RE.match(lines[0]):
        return False
    # Two header lines, one of them a header every mail has: usually the first two lines.
    count, known = 0, False
    for line in lines:
        if _HEADER_RE.match(line):
            count += 1
            known = known or (line.split(b":", 1)[0].lower() + b":").startswith(_KNOWN_HEADERS)
            if count >= 2 and known:
                return True
    return False


def looks_like_mbox(head: bytes) -> bool:
    """True when ``head`` is the start of an mbox file (``From `` separator line)."""
    return head.startswith(b"From ") and looks_like_message(head.split(b"\n", 1)[-1])


def _addresses(values: list[str]) -> list[Address]:
    out: list[Address] = []
    values = [v for v in values if v]
    if not values:
        return out
    for name, addr in email.utils.getaddresses(values):
        if not addr and not name:
            continue
        out.append(Address(decode_header_value(name), addr.strip().lower()))
    return out


def _filename(part: Message) -> str:
    # Most parts of a message (its text and HTML) have no name: parsing the
    # parameters of both headers, as ``get_filename`` does, is for those with one.
    headers = f"{part.get('Content-Disposition', '')}{part.get('Content-Type', '')}"
    if "name" not in headers.lower():
        return ""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except (ValueError, LookupError, UnicodeError):
        name = ""
    if isinstance(name, tuple):
        name = email.utils.collapse_rfc2231_value(name)
    return decode_header_value(name) if name else ""


def _payload(part: Message, defects: list[str]) -> bytes:
    try:
        raw = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError, AssertionError) as exc:
        defects.append(f"undecodable payload: {type(exc).__name__}")
        raw = None
    if isinstance(raw, bytes):
        return raw
    text = part.get_payload()
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else b""


def parse_message(data: bytes, *, require_headers: bool = True) -> ParsedMessage:
    """Parse one message; malformed input gives defects, not exceptions.

    Raises ``MailError`` when ``data`` does not start with message headers,
    unless ``require_headers`` is false (a file that claims to be mail by its
    name): then the whole text is read as a body, with a defect noted.
    """
    headed = looks_like_message(data[:8192])
    if not headed and require_headers:
        raise MailError("no message headers found")
    out = ParsedMessage()
    if not headed:
        out.defects.append("no headers at the start of the message")
        data = b"\n" + data.lstrip(b"\r\n")
    try:
        msg = email.message_from_bytes(data, policy=compat32)
    except RecursionError:
        # The standard parser recurses once per nested multipart.
        raise MailError("MIME structure nested too deep to parse") from None
    # Each header's values by lower-cased name, as ``ParsedMessage.header`` gives them.
    named: dict[str, list[str]] = {}
    for key, value in msg.items():
        text = decode_header_value(value)
        out.headers.append((key, text))
        named.setdefault(key.lower(), []).append(text)

    def header(name: str) -> list[str]:
        return named.get(name, [])

    out.subject = " ".join(header("subject")[:1])
    senders = _addresses(header("from"))
    out.sender = senders[0] if senders else None
    out.to = _addresses(header("to"))
    out.cc = _addresses(header("cc"))
    out.reply_to = _addresses(header("reply-to"))
    return_paths = _addresses(header("return-path"))
    out.return_path = return_paths[0].address if return_paths else ""
    out.message_id = " ".join(header("message-id")[:1])
    out.in_reply_to = " ".join(header("in-reply-to"))
    out.references = " ".join(header("references"))
    out.date = " ".join(header("date")[:1])
    texts: list[str] = []
    _walk(msg, out, texts, depth=0)
    out.text = "\n".join(texts)
    return out


_MAX_MIME_DEPTH = 50


def _walk(part: Message, out: ParsedMessage, texts: list[str], depth: int) -> None:
    out.defects.extend(type(d).__name__ for d in part.defects)
    if depth > _MAX_MIME_DEPTH:
        out.defects.append("MIME nesting too deep")
        return
    ctype = part.get_content_type()
    if ctype == "message/rfc822" or (ctype.startswith("message/") and part.is_multipart()):
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            name = _filename(part) or "attached-message.eml"
            out.attachments.append(Child(name, inner[0].as_bytes(policy=compat32)))
        return
    if part.is_multipart():
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                _walk(sub, out, texts, depth + 1)
        return
    name = _filename(part)
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    data = _payload(part, out.defects)
    if not name and disposition != "attachment" and ctype in ("text/plain", "text/html", "text"):
        text = decode_bytes(data, part.get_content_charset())
        if ctype == "text/html":
            out.html.append(text)
        else:
            texts.append(text)
        return
    if not data and not name:
        return
    out.attachments.append(Child(name or _default_name(ctype, len(out.attachments)), data))


def _default_name(ctype: str, index: int) -> str:
    ext = {"text/plain": ".txt", "text/html": ".html", "application/pdf": ".pdf"}.get(ctype, "")
    return f"part-{index + 1}{ext}"


def parse_msg(data: bytes) -> ParsedMessage:
    """Parse an Outlook ``.msg`` (CFB) file through extract-msg into the same shape."""
    import extract_msg

    try:
        msg: Any = extract_msg.openMsg(data)
        try:
            raw = bytes(msg.asEmailMessage().as_bytes())
        finally:
            msg.close()
    except Exception as exc:  # extract-msg raises many unrelated types on bad input
        raise MailError(f"not a readable Outlook message: {type(exc).__name__}: {exc}") from exc
    return parse_message(raw)


def iter_mailbox(path: Path) -> Iterator[tuple[str, bytes]]:
    """``(location, raw message)`` for every message of an mbox file or Maildir folder."""
    if path.is_dir():
        if not all((path / sub).is_dir() for sub in ("cur", "new")):
            raise MailError("not a Maildir (no cur/ and new/)", where=str(path))
        box: mailbox.Mailbox[Any] = mailbox.Maildir(path, factory=None, create=False)
    else:
        box = mailbox.mbox(path, factory=None, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            try:
                raw = box.get_bytes(key)
            except (OSError, KeyError) as exc:
                log.warning("skipped message %s of %s: %s", key, path, exc)
                continue
            yield f"{shown_path(str(path))}#{index + 1}", raw
    finally:
        box.close()


def is_maildir(path: Path) -> bool:
    """True when ``path`` is a Maildir folder (has ``cur/`` and ``new/``)."""
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()
