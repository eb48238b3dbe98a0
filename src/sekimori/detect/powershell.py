"""PowerShell command lines and script blocks: decode, de-obfuscate, extract observables.

Emotet's macro starts ``powershell -enc <base64>`` (any abbreviation of
``-EncodedCommand``: PowerShell accepts every unambiguous prefix, and
``-ec``), whose text is UTF-16LE; inside, a list of download URLs is often
split on ``@``, ``,`` or ``*`` and obfuscated with carets (``p^o^w^e^r``, a
cmd.exe escape), backticks (``I`E`X``, PowerShell's escape) and string
concatenation (``'ht'+'tp'``). This module undoes that, nesting at most
``MAX_DEPTH`` levels (``FromBase64String`` inside an encoded command), and
extracts the URLs, IP addresses and domains as observables, so that the
network side can match them. Nothing here is executed or fetched.

References: ``about_PowerShell_exe`` (Microsoft Learn) for the parameter
syntax; Daniel Bohannon, "Invoke-Obfuscation" / "Invoke-DOSfuscation", for
the obfuscation forms.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sekimori.model import Observable

MAX_DEPTH = 3
MAX_TEXT = 1_000_000

# -e, -ec, -en, -enc … -encodedcommand, with - / or a Unicode dash; value quoted or not.
_ENCODED = re.compile(
    r"(?:^|[\s\"'])[-/\u2013\u2014\u2015]"
    r"(?:ec|e(?:n(?:c(?:o(?:d(?:e(?:d(?:c(?:o(?:m(?:m(?:a(?:n(?:d)?)?)?)?)?)?)?)?)?)?)?)?)?)"
    r"(?:\s+|:)[\"']?(?P<b64>[A-Za-z0-9+/]{8,}={0,2})",
    re.IGNORECASE,
)
_FROM_BASE64 = re.compile(
    r"FromBase64String\s*\(\s*[\"'](?P<b64>[A-Za-z0-9+/]{8,}={0,2})[\"']", re.IGNORECASE
)
_CONCAT = re.compile(r"""(['"])\s*\+\s*\1""")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s\"'<>(){}\[\]\\^`|]+", re.IGNORECASE)
_URL_SPLIT = re.compile(r"[@,;*!](?=(?:https?|ftp)://)", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_TRAILING = ".,;:'\")]}>@*!"


@dataclass(frozen=True, slots=True)
class PowerShellAnalysis:
    """What a command line or script block says once decoded.

    ``decoded`` holds the texts of encoded commands (and of base64 strings
    inside them); ``normalized`` is the whole text with obfuscation removed;
    ``observables`` are the URLs, IPs and domains found in any of them.
    """

    decoded: tuple[str, ...]
    normalized: str
    observables: tuple[Observable, ...]


def _b64_text(token: str) -> str | None:
    """Base64 → text: UTF-16LE as PowerShell encodes, else UTF-8; None when not text."""
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    for encoding in ("utf-16-le", "utf-8"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        if text and printable / len(text) > 0.95:
            return text.lstrip("\ufeff")
    return None


def decode_encoded_commands(text: str, depth: int = MAX_DEPTH) -> list[str]:
    """Texts of ``-EncodedCommand`` arguments and ``FromBase64String`` literals, nested."""
    out: list[str] = []
    if depth <= 0:
        return out
    text = text[:MAX_TEXT]
    for pattern in (_ENCODED, _FROM_BASE64):
        for match in pattern.finditer(text):
            decoded = _b64_text(match.group("b64"))
            if decoded is not None and decoded not in out:
                out.append(decoded)
                out.extend(d for d in decode_encoded_commands(decoded, depth - 1) if d not in out)
    return out


def deobfuscate(text: str) -> str:
    """Remove cmd carets, PowerShell backticks and quote concatenation (``'a'+'b'``)."""
    text = text[:MAX_TEXT]
    text = text.replace("^", "")
    text = re.sub(r"`(?![0abfnrtv])", "", text)
    previous = None
    while previous != text:
        previous = text
        text = _CONCAT.sub("", text)
    return text


def _clean_url(url: str) -> str | None:
    url = url.rstrip(_TRAILING)
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return url if host else None


def urls(text: str) -> list[str]:
    """URLs in ``text``; lists glued with ``@``/``,``/``;``/``*`` are split apart."""
    found: list[str] = []
    for match in _URL.finditer(text):
        for piece in _URL_SPLIT.split(match.group(0)):
            url = _clean_url(piece)
            if url and url not in found:
                found.append(url)
    return found


def ip_addresses(text: str) -> list[str]:
    """IPv4 addresses in ``text`` (valid octets only, version strings like 1.2.3.4.5 left out)."""
    out: list[str] = []
    for match in _IPV4.finditer(text):
        try:
            addr = str(ipaddress.IPv4Address(match.group(0)))
        except ValueError:
            continue
        if addr not in out:
            out.append(addr)
    return out


def _host_observable(host: str) -> Observable:
    try:
        return Observable("ip", str(ipaddress.ip_address(host)))
    except ValueError:
        return Observable("domain", host.lower().rstrip("."))


def extract_observables(texts: Iterable[str]) -> tuple[Observable, ...]:
    """URLs, their hosts (domain or IP) and bare IPv4 addresses in ``texts``, in order."""
    seen: dict[Observable, None] = {}
    for text in texts:
        for url in urls(text):
            seen.setdefault(Observable("url", url))
            host = urlsplit(url).hostname
            if host:
                seen.setdefault(_host_observable(host))
        for addr in ip_addresses(text):
            seen.setdefault(Observable("ip", addr))
    return tuple(seen)


def analyze(text: str) -> PowerShellAnalysis:
    """Decode, de-obfuscate and extract observables from a command line or script block."""
    normalized = deobfuscate(text)
    decoded = decode_encoded_commands(normalized)
    clean_decoded = [deobfuscate(d) for d in decoded]
    observables = extract_observables([normalized, *clean_decoded])
    return PowerShellAnalysis(
        decoded=tuple(decoded), normalized=normalized, observables=observables
    )
