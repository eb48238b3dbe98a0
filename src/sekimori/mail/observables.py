"""URLs, domains and IP addresses as observables, from any text.

Shared by the link, decoding and document analyzers so that a URL found in a
macro and the same URL in the body become the same observables. Nothing
here resolves or fetches anything.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from sekimori.model import Observable

URL_RE = re.compile(
    r"(?i)\b(?:https?|ftp|hxxps?)://[^\s\"'<>\\`{}|^\x00-\x1f\u3000-\u303f\uff01-\uff5e]+"
)
IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
)
_TRAILING = ".,;:!?)]}'\"、。"


def clean_url(url: str) -> str:
    """``url`` without the punctuation that sentences and code put after it."""
    url = url.rstrip(_TRAILING)
    if url.lower().startswith("hxxp"):
        url = "http" + url[4:]
    return url


def find_urls(text: str) -> list[str]:
    """Distinct URLs in ``text``, in order of appearance."""
    out: list[str] = []
    for match in URL_RE.finditer(text):
        url = clean_url(match.group(0))
        if len(url) > 10 and url not in out:
            out.append(url)
    return out


def url_host(url: str) -> str:
    """The lower-case host of ``url`` (without port and user info), or ``""``."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.strip(".").lower()


def is_ip(host: str) -> bool:
    """True when ``host`` is an IPv4 or IPv6 literal."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def public_ipv4(text: str) -> list[str]:
    """IPv4 addresses in ``text`` that are plausible network peers (not 0/127/255/version-like)."""
    out: list[str] = []
    for match in IPV4_RE.finditer(text):
        value = match.group(0)
        address = ipaddress.ip_address(value)
        if address.is_loopback or address.is_unspecified or address.is_multicast:
            continue
        if value.endswith(".0.0") or value.startswith(("0.", "255.")):
            continue
        if value not in out:
            out.append(value)
    return out


def url_observables(urls: Iterable[str]) -> list[Observable]:
    """``url`` observables plus the ``domain`` or ``ip`` of each host."""
    out: list[Observable] = []
    for url in urls:
        candidates = [Observable("url", url)]
        host = url_host(url)
        if host:
            candidates.append(Observable("ip" if is_ip(host) else "domain", host.strip("[]")))
        out.extend(o for o in candidates if o not in out)
    return out


def merge(target: list[Observable], extra: Iterable[Observable]) -> None:
    """Append the observables of ``extra`` not yet in ``target`` (order kept)."""
    for obs in extra:
        if obs not in target:
            target.append(obs)


# Second-level labels under which registrations happen in country-code TLDs (example.co.jp).
_SECOND_LEVEL = frozenset(
    ("co", "ne", "or", "ac", "go", "ed", "gr", "lg", "ad", "com", "net", "org", "gov", "edu")
)


def registrable_domain(host: str) -> str:
    """The registered part of ``host`` (``mail.example.co.jp`` → ``example.co.jp``).

    A small approximation of the Public Suffix List: two labels, or three
    when the second-level label is a generic one under a country code.
    """
    labels = host.strip(".").lower().split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
