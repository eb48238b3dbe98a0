"""Decode what a macro, shortcut or script would run, and pull out its URLs.

Undoes the string tricks Emotet-era droppers use before a command is
handed to ``cmd``/PowerShell: ``"ht" & "tp"`` and ``'ht'+'tp'``
concatenation, a string built line by line (``c = "po"``, ``c = c & "wer"``
…), ``Chr(104)``, ``StrReverse("...")``, ``Replace("..","junk","")``,
``cmd`` caret escapes (``P^Ow^er^she^L^L``), and PowerShell's Base64
``-EncodedCommand`` in any of its abbreviations (``-e``, ``-ec``, ``-enc``,
``-ENCOD`` …; UTF-16LE text, decoded recursively). URL lists joined by a
separator to be ``.Split()`` at run time are split. Every URL, domain and IP
found becomes an observable. Pure text processing: nothing is executed.
"""

from __future__ import annotations

import base64
import binascii
import re

from sekimori.mail.casefold import folded
from sekimori.mail.observables import find_urls, public_ipv4, url_observables
from sekimori.mail.result import Analysis
from sekimori.model import Observable

_ENC_RE = re.compile(
    r"(?i)(?<![\w])[-/\u2013\u2014](?:ec|e(?:n(?:c(?:o(?:d(?:e(?:d(?:c(?:o(?:m(?:m(?:a(?:n(?:d)?)?)?)?)?)?)?)?)?)?)?)?)?)"
    r"\s+[\"']?([A-Za-z0-9+/]{8,}={0,2})"
)
_CONCAT_RE = re.compile(r"\"\s*[&+]\s*(?:_\s*\r?\n\s*)?\"|'\s*\+\s*'")
_CHR_RE = re.compile(r"(?i)\bChr[WB]?\$?\(\s*(\d{1,3})\s*\)")
_REVERSE_RE = re.compile(r"(?i)\bStrReverse\(\s*\"([^\"]*)\"\s*\)")
_REPLACE_RE = re.compile(
    r"(?i)\bReplace\(\s*\"([^\"]*)\"\s*,\s*\"([^\"]*)\"\s*,\s*\"([^\"]*)\"\s*\)"
)
_CARET_RE = re.compile(r"\^(?=[\w\-/\\.:])")
_SEPARATED_URL_RE = re.compile(r"[,;|@*!](?=(?:https?|ftp)://)", re.IGNORECASE)
COMMAND_WORDS = (
    "powershell",
    "cmd.exe",
    "cmd /c",
    "winmgmts",
    "win32_process",
    "mshta",
    "regsvr32",
    "rundll32",
    "wscript",
    "cscript",
    "certutil",
    "bitsadmin",
    "urldownloadtofile",
    "invoke-webrequest",
    "downloadfile",
    "downloadstring",
    "start-process",
    "invoke-expression",
)
_MAX_ROUNDS = 6
_MAX_DEPTH = 4
_EVIDENCE_CHARS = 400


# One line of a string built line by line: ``c = "…"`` or ``c = c & "…"`` (VBA, also ``+``).
_BUILD_LINE_RE = re.compile(
    r'^[ \t]*(\w+)[ \t]*=[ \t]*(?:(\w+)[ \t]*[&+][ \t]*)?"((?:[^"\r\n]|"")*)"[ \t]*\r?$'
)


def join_built_strings(text: str) -> str:
    """``text`` with each run of ``v = v & "…"`` lines joined into one ``v = "…"`` line.

    Macros build the command (and the Base64 in it) a piece per line, so
    that no line holds it whole; decoding a piece alone would give a cut URL.
    """
    lines = text.split("\n")
    out: list[str] = []
    name: str | None = None
    parts: list[str] = []

    def close() -> None:
        if name is not None:
            out.append(f'{name} = "{"".join(parts)}"')

    for line in lines:
        m = _BUILD_LINE_RE.match(line)
        if m and name is not None and m.group(1) == name and m.group(2) == name:
            parts.append(m.group(3))
            continue
        close()
        name, parts = None, []
        if m and m.group(2) in (None, m.group(1)):
            name, parts = m.group(1), [m.group(3)]
            continue
        out.append(line)
    close()
    return "\n".join(out)


def deobfuscate(text: str) -> str:
    """``text`` with string-building tricks undone (until nothing more changes)."""
    # Every trick needs a quote, a caret or a Chr call: most mail text has none.
    if '"' not in text and "'" not in text and "^" not in text and "chr" not in folded(text):
        return text
    text = join_built_strings(text)
    for _ in range(_MAX_ROUNDS):
        before = text
        text = _CARET_RE.sub("", text)
        text = _CHR_RE.sub(lambda m: _chr(int(m.group(1))), text)
        text = _REVERSE_RE.sub(lambda m: f'"{m.group(1)[::-1]}"', text)
        text = _REPLACE_RE.sub(
            lambda m: (
                f'"{m.group(1).replace(m.group(2), m.group(3)) if m.group(2) else m.group(1)}"'
            ),
            text,
        )
        text = _CONCAT_RE.sub("", text)
        if text == before:
            break
    return text


def _chr(code: int) -> str:
    char = chr(code) if code < 128 else "?"
    return '"' + ('""' if char == '"' else char) + '"'


def decode_powershell(blob: str) -> str | None:
    """The text of a PowerShell ``-EncodedCommand`` argument, or None when it is not one."""
    padded = blob + "=" * (-len(blob) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    for codec in ("utf-16-le", "utf-8"):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        if text and printable / len(text) > 0.9:
            return text
    return None


def analyze_text(text: str, origin: str = "", *, urls: bool = True) -> Analysis:
    """Decode ``text`` (macro source, command line, script) and report what it hides.

    Hits: ``decode.powershell_encoded`` (with the decoded command),
    ``decode.url_list`` (several URLs joined for a run-time split),
    ``decode.hidden_command`` (a command word that only deobfuscation shows).
    Without ``urls``, only the first and the last: no URLs, IPs or URL lists
    are looked for (a message body's links are the link checks' business).
    """
    result = Analysis(kind="decode")
    _analyze(text, result, depth=0, urls=urls)
    if origin:
        result.facts["origin"] = origin
    return result


def _analyze(text: str, result: Analysis, depth: int, *, urls: bool) -> None:
    plain = deobfuscate(text)
    lowered_before = text.lower()
    lowered_after = plain.lower()
    hidden = [w for w in COMMAND_WORDS if w in lowered_after and w not in lowered_before]
    if hidden and depth == 0:
        result.hit("decode.hidden_command", commands=hidden, text=_snippet(plain, hidden[0]))
    # The deobfuscated text first: a Base64 blob the raw text holds only in
    # pieces would decode to a cut command (and cut URLs).
    whole: list[str] = []
    for source in (plain, text) if plain != text else (text,):
        for match in _ENC_RE.finditer(source):
            blob = match.group(1)
            if source is text and any(blob in longer for longer in whole):
                continue
            whole.append(blob)
            decoded = decode_powershell(blob)
            if decoded is None or decoded in result.facts.get("powershell", []):
                continue
            result.facts.setdefault("powershell", []).append(decoded)
            result.hit(
                "decode.powershell_encoded",
                encoded=match.group(1)[:_EVIDENCE_CHARS],
                decoded=decoded[:_EVIDENCE_CHARS],
            )
            if depth < _MAX_DEPTH:
                _analyze(decoded, result, depth + 1, urls=urls)
    if urls:
        _urls(plain, result)


def _urls(plain: str, result: Analysis) -> None:
    joined = _SEPARATED_URL_RE.findall(plain)
    spread = _SEPARATED_URL_RE.sub(" ", plain)
    urls = find_urls(spread)
    if joined:
        listed = [u for u in urls if u.lower().split("://", 1)[0] in ("http", "https", "ftp")]
        if len(listed) >= 2:
            result.hit("decode.url_list", urls=listed[:20], separator=joined[0])
    for url in urls:
        if url not in result.urls:
            result.urls.append(url)
    for obs in url_observables(urls):
        if obs not in result.observables:
            result.observables.append(obs)
    for ip in public_ipv4(spread):
        obs = Observable("ip", ip)
        if obs not in result.observables:
            result.observables.append(obs)


def _snippet(text: str, word: str) -> str:
    index = text.lower().find(word)
    start = max(0, index - 80)
    return text[start : start + _EVIDENCE_CHARS].strip()
