"""The indicator: one normalized value from a feed, with where it came from and when it expires.

Values are normalized once, when read, so that matching is a plain equality:
IPs in canonical text form, CIDRs with host bits cleared, domains lowercased
IDNA without the trailing dot, URLs with scheme and host lowercased, default
port and fragment dropped (RFC 3986 §6.2.2–6.2.3), hashes lowercase hex.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from sekimori.intel.ipaddr import parse_ip, parse_network

IndicatorType = Literal["ip", "cidr", "domain", "url", "hash"]
INDICATOR_TYPES: tuple[str, ...] = ("ip", "cidr", "domain", "url", "hash")

_HEX = re.compile(r"^[0-9a-f]+$")
_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")

# Threat types whose indicators are command-and-control servers.
C2_THREATS = frozenset({"botnet_cc", "c2", "command_and_control", "cc"})


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator of compromise.

    ``value`` is normalized (see the module docstring). ``source`` names the
    feed; ``threat`` is the feed's own category (``botnet_cc``,
    ``payload_delivery`` …); ``confidence`` is 0–100; ``expires`` is when the
    indicator stops matching and stops being exported.
    """

    type: IndicatorType
    value: str
    source: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    malware: str | None = None
    confidence: int | None = None
    expires: datetime | None = None
    threat: str | None = None
    port: int | None = None
    reference: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity in a store: the same value from the same feed is one indicator."""
        return (self.type, self.value, self.source)

    @property
    def is_c2(self) -> bool:
        """True when the feed says this is a command-and-control server."""
        return (self.threat or "").lower() in C2_THREATS

    def expired(self, now: datetime) -> bool:
        """True when the indicator has expired at ``now``."""
        return self.expires is not None and self.expires <= now

    def with_ttl(self, ttl: timedelta, now: datetime) -> Indicator:
        """The indicator expiring ``ttl`` after ``now`` or its last sighting (own expiry kept)."""
        if self.expires is not None:
            return self
        seen = self.last_seen or self.first_seen or now
        return replace(self, expires=max(seen, now) + ttl)


def normalize_ip(text: str) -> str | None:
    """Canonical text of an IP address, or None."""
    address = parse_ip(text)
    return str(address) if address is not None else None


def normalize_cidr(text: str) -> str | None:
    """Canonical ``net/len`` with host bits cleared, or None."""
    network = parse_network(text)
    return str(network) if network is not None else None


def normalize_domain(text: str) -> str | None:
    """Lowercase ASCII (IDNA) domain without trailing dot or port, or None."""
    value = text.strip().rstrip(".").lower()
    if value.startswith("*."):
        value = value[2:]
    if not value or "/" in value or " " in value:
        return None
    if ":" in value and value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        value = value.encode("idna").decode("ascii") if not value.isascii() else value
    except UnicodeError:
        return None
    labels = value.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    return value


def normalize_url(text: str) -> str | None:
    """URL with scheme and host lowercased, default port and fragment dropped, or None."""
    value = text.strip()
    if "://" not in value:
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return None
    address = parse_ip(host)
    if address is not None:
        host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    else:
        domain = normalize_domain(host)
        host = domain if domain is not None else host.lower()
    netloc = host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def normalize_hash(text: str) -> str | None:
    """Lowercase hex digest of a known length (MD5, SHA-1, SHA-256, SHA-512), or None."""
    value = text.strip().lower()
    if len(value) in _HASH_LENGTHS and _HEX.match(value):
        return value
    return None


def url_host(url: str) -> str | None:
    """The host of a normalized URL (no brackets, no port)."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def normalize(kind: str, text: str) -> str | None:
    """Normalize ``text`` as an indicator of type ``kind``."""
    match kind:
        case "ip":
            return normalize_ip(text)
        case "cidr":
            return normalize_cidr(text)
        case "domain":
            return normalize_domain(text)
        case "url":
            return normalize_url(text)
        case "hash":
            return normalize_hash(text)
    return None


def classify(text: str) -> tuple[IndicatorType, str] | None:
    """Guess the type of a bare value (plain lists) and normalize it; None when unknown.

    ``ip:port`` gives the IP; a CIDR covering one address gives that address.
    """
    value = text.strip().strip("\"'")
    if not value:
        return None
    if "://" in value:
        url = normalize_url(value)
        return ("url", url) if url else None
    if "/" in value:
        network = parse_network(value)
        if network is None:
            return None
        if network.num_addresses == 1:
            return ("ip", str(network.network_address))
        return ("cidr", str(network))
    ip = normalize_ip(value)
    if ip is None and value.count(":") == 1 and value.rsplit(":", 1)[1].isdigit():
        ip = normalize_ip(value.rsplit(":", 1)[0])
    if ip is not None:
        return ("ip", ip)
    digest = normalize_hash(value)
    if digest is not None:
        return ("hash", digest)
    domain = normalize_domain(value)
    if domain is not None:
        return ("domain", domain)
    return None


def parse_time(text: object) -> datetime | None:
    """A feed timestamp (ISO 8601, ``YYYY-MM-DD HH:MM:SS [UTC]``, epoch seconds) as aware UTC."""
    if text is None or text == "":
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        return datetime.fromtimestamp(float(text), tz=UTC)
    value = str(text).strip().removesuffix(" UTC").removesuffix("UTC").strip()
    if not value or value.lower() in {"none", "null", "-"}:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt).replace(tzinfo=UTC)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def make(
    kind: str,
    raw: str,
    source: str,
    **details: object,
) -> Indicator | None:
    """An indicator of type ``kind`` from the raw feed value, or None when it does not parse."""
    value = normalize(kind, raw)
    if value is None:
        return None
    if kind == "cidr" and value.endswith(("/32", "/128")):
        kind, value = "ip", value.rsplit("/", 1)[0]
    return Indicator(type=kind, value=value, source=source, **details)  # type: ignore[arg-type]
