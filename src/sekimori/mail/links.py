"""Links in the text and HTML of a message: where they lead and how they deceive.

Checks, none of which fetches anything: anchor text that shows one address
while the link goes to another (``link.text_mismatch``), bare-IP hosts
(``link.raw_ip``), direct downloads of documents, archives and programs
(``link.download``: the 2018–2019 "invoice link" waves pointed at
``.doc`` files on hacked WordPress sites), and internationalized or
Punycode host names that can imitate another (``link.punycode``). URLs
wrapped by mail-security gateways (``?url=https://…``) are unwrapped, and
every URL becomes a URL plus domain or IP observable.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qsl, unquote, urlsplit

from sekimori.mail.filetype import DISK_IMAGE_EXTENSIONS, EXECUTABLE_EXTENSIONS, extension
from sekimori.mail.observables import (
    clean_url,
    find_urls,
    is_ip,
    merge,
    registrable_domain,
    url_host,
    url_observables,
)
from sekimori.mail.result import Analysis

DOWNLOAD_EXTENSIONS = (
    frozenset(
        (
            *(".doc", ".docm", ".dot", ".dotm", ".xls", ".xlsm", ".xlsb", ".xlam", ".ppt", ".pptm"),
            *(".rtf", ".zip", ".rar", ".7z", ".gz", ".cab", ".one", ".lnk", ".svg", ".img"),
        )
    )
    | EXECUTABLE_EXTENSIONS
    | DISK_IMAGE_EXTENSIONS
)
_DOMAIN_IN_TEXT = re.compile(
    r"(?i)(?<![a-z0-9-])(?:https?://)?((?:[a-z0-9-]{1,63}\.){1,8}[a-z]{2,24})(?![a-z0-9-])"
)
MAX_LINKS = 500


@dataclass(frozen=True, slots=True)
class Link:
    """A link as the reader sees it (``text``) and as it goes (``href``)."""

    href: str
    text: str = ""


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[Link] = []
        self.text: list[str] = []
        self._href: str | None = None
        self._anchor_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag in ("a", "area") and values.get("href"):
            self._close()
            self._href = values["href"].strip()
            self._anchor_text = []
        elif tag == "form" and values.get("action", "").startswith(("http", "//")):
            self.links.append(Link(values["action"].strip(), ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("a", "area"):
            self._close()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._href is not None:
            self._anchor_text.append(data)

    def _close(self) -> None:
        if self._href is not None and len(self.links) < MAX_LINKS:
            self.links.append(Link(self._href, " ".join("".join(self._anchor_text).split())))
        self._href = None

    def close(self) -> None:
        super().close()
        self._close()


def html_links(markup: str) -> tuple[list[Link], str]:
    """``(links, visible text)`` of an HTML body."""
    parser = _AnchorParser()
    parser.feed(markup)
    parser.close()
    return parser.links, html.unescape(" ".join(parser.text))


def _unwrap(url: str) -> list[str]:
    """URLs carried inside a gateway or redirector URL's query string."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return []
    out = []
    for _, value in parse_qsl(query, keep_blank_values=False):
        inner = unquote(value)
        if inner.lower().startswith(("http://", "https://")):
            out.append(clean_url(inner))
    return out


def analyze_links(text: str, html_bodies: list[str]) -> Analysis:
    """Check every link of a message's text and HTML bodies."""
    result = Analysis(kind="links")
    links: list[Link] = [Link(u) for u in find_urls(text)]
    for body in html_bodies:
        anchors, visible = html_links(body)
        links.extend(anchors)
        links.extend(Link(u) for u in find_urls(visible) if u not in {a.href for a in anchors})
    seen: set[tuple[str, str]] = set()
    for link in links[:MAX_LINKS]:
        if (link.href, link.text) in seen or not link.href.lower().startswith(
            ("http", "ftp", "//")
        ):
            continue
        seen.add((link.href, link.text))
        _check(link, result)
    merge(result.observables, url_observables(result.urls))
    result.facts["links"] = len(result.urls)
    return result


def _check(link: Link, result: Analysis) -> None:
    href = clean_url(link.href if not link.href.startswith("//") else "http:" + link.href)
    for url in (href, *_unwrap(href)):
        if url not in result.urls:
            result.urls.append(url)
        host = url_host(url)
        if not host:
            continue
        if is_ip(host):
            result.hit("link.raw_ip", url=url, host=host)
        try:
            path = unquote(urlsplit(url).path)
        except ValueError:
            path = ""
        if extension(path) in DOWNLOAD_EXTENSIONS:
            result.hit("link.download", url=url, extension=extension(path))
        if any(label.startswith("xn--") for label in host.split(".")) or not host.isascii():
            result.hit("link.punycode", url=url, host=host, shown=_idna(host))
    if link.text:
        shown = _DOMAIN_IN_TEXT.search(link.text[:1000])
        target = url_host(href)
        if shown and target and "." in shown.group(1):
            shown_domain = registrable_domain(shown.group(1))
            if shown_domain != registrable_domain(target) and not is_ip(shown.group(1)):
                result.hit("link.text_mismatch", text=link.text[:200], href=href[:500])


def _idna(host: str) -> str:
    try:
        return host.encode("ascii").decode("idna")
    except (UnicodeError, ValueError):
        return host
