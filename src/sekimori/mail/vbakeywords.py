"""olevba's keyword search, with each keyword's regex run only where its text is.

olevba (``oletools.olevba``) looks for its AutoExec triggers and suspicious
keywords (about 190) with one case-insensitive regex search each (the
keyword between word boundaries), over the macro source and again over
every decoded form of it: two thirds of olevba's time on a macro document.
Every match of such a search holds the keyword's text, so a substring test
on the lower-cased code (one pass in C) decides first, and olevba's own
regex runs only where the test passes. The results are olevba's, in
olevba's order: ``detect_autoexec`` and ``detect_suspicious`` here are
drop-in equivalents of olevba's functions of the same names, and
``keyword_search`` puts them in place for the duration of an
``analyze_macros`` call (tests compare both on every sample, and on the
characters where case-insensitive matching and ``str.lower`` differ).

The search is olevba's: its keyword tables, its regexes, its descriptions;
only the order of work changes, so an olevba upgrade that changes the tables
is followed as it is.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from re import _parser  # type: ignore[attr-defined]  # sre's parser: the literal text of a regex
from typing import Any

from sekimori.mail.casefold import folded

# (description, compiled search, text every match holds).
_Search = tuple[str, "re.Pattern[str]", str]


def required_text(pattern: str) -> str:
    """The longest run of plain characters every match of ``pattern`` holds, lower-cased.

    Only characters at the pattern's top level count (not inside a group,
    class, repeat or look-around); '' when there are none, or when the
    pattern cannot be read or holds text outside ASCII: then the regex
    always runs.
    """
    try:
        items = _parser.parse(pattern)
    except Exception:  # sre's parser is private: anything it does not take, we search as is
        return ""
    best, run = "", ""
    for op, arg in items:
        if op is _parser.LITERAL:
            run += chr(arg)
            continue
        best, run = max(best, run, key=len), ""
    best = max(best, run, key=len)
    # Case-insensitive matching of other scripts is not what ``folded`` prepares for.
    return best.lower() if best.isascii() else ""


def detect_autoexec(vba_code: str, obfuscation: str | None = None) -> list[tuple[str, str]]:
    """As olevba's ``detect_autoexec``: (keyword as found, description) of each trigger present."""
    return _found(vba_code, _obfuscation_text(obfuscation), _autoexec_searches())


def detect_suspicious(vba_code: str, obfuscation: str | None = None) -> list[tuple[str, str]]:
    """As olevba's ``detect_suspicious``: (keyword as found, description) of each one present."""
    from oletools import olevba

    obf_text = _obfuscation_text(obfuscation)
    results = _found(vba_code, obf_text, _suspicious_searches())
    # Keywords olevba looks for without a regex, tested as olevba tests them.
    for description, keywords in olevba.SUSPICIOUS_KEYWORDS_NOREGEX.items():
        for keyword in keywords:
            if keyword.lower() in vba_code and not (keyword == "\b" and obfuscation is not None):
                results.append((keyword, description + obf_text))
    return results


_lock = threading.Lock()
_users = 0


@contextmanager
def keyword_search() -> Iterator[None]:
    """Inside, olevba searches its keywords with the functions here.

    olevba calls them by their module names from ``VBA_Scanner.scan``, so
    they are set there, and olevba's own put back when the last user
    leaves (the results are the same either way, so a thread that scans
    meanwhile only goes at olevba's speed).
    """
    global _users
    from oletools import olevba

    with _lock:
        if _users == 0:
            _originals()
            olevba.detect_autoexec = detect_autoexec
            olevba.detect_suspicious = detect_suspicious
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                olevba.detect_autoexec, olevba.detect_suspicious = _originals()


@cache
def _originals() -> tuple[Any, Any]:
    from oletools import olevba

    return olevba.detect_autoexec, olevba.detect_suspicious


def _found(vba_code: str, obf_text: str, searches: list[_Search]) -> list[tuple[str, str]]:
    text = folded(vba_code)
    results = []
    for description, search, needle in searches:
        if needle in text:
            match = search.search(vba_code)
            if match:
                results.append((match.group(), description + obf_text))
    return results


def _obfuscation_text(obfuscation: str | None) -> str:
    return f" (obfuscation: {obfuscation})" if obfuscation else ""


@cache
def _autoexec_searches() -> list[_Search]:
    from oletools import olevba

    return _searches(olevba.AUTOEXEC_KEYWORDS) + _searches(
        olevba.AUTOEXEC_KEYWORDS_REGEX, regex=True
    )


@cache
def _suspicious_searches() -> list[_Search]:
    from oletools import olevba

    return _searches(olevba.SUSPICIOUS_KEYWORDS) + _searches(
        olevba.SUSPICIOUS_KEYWORDS_REGEX, regex=True
    )


def _searches(table: dict[str, tuple[str, ...]], *, regex: bool = False) -> list[_Search]:
    """The searches of one of olevba's tables, in order: keywords escaped, patterns as they are."""
    searches: list[_Search] = []
    for description, keywords in table.items():
        for keyword in keywords:
            pattern = keyword if regex else re.escape(keyword)
            search = re.compile(r"(?i)\b" + pattern + r"\b")
            searches.append((description, search, required_text(pattern)))
    return searches


__all__ = ["detect_autoexec", "detect_suspicious", "keyword_search", "required_text"]
