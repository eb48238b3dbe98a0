"""Site knowledge: one TOML file that says which networks are ours and what is exempt.

``sekimori hunt … --config FILE`` (and ``serve``) read it with :func:`load_site`.
Without a file, the RFC 1918 ranges are internal and nothing is exempt. The
commented example is ``docs/site.example.toml``::

    [site]
    internal = ["10.0.0.0/8", "192.168.0.0/16"]
    mail_servers = ["10.1.0.25"]
    dns_servers = ["10.1.0.2"]
    allow = ["192.0.2.200", "*.windowsupdate.com"]

Optional tables tune the detectors (``[beacon]``, ``[lateral]``,
``[bruteforce]``, ``[spam]``) and list threat-intel feeds (``[[intel.feeds]]``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from sekimori.errors import ConfigError
from sekimori.intel.ipaddr import RFC1918, IPNetwork, IpRanges, parse_network

_DEFAULT_TTL_DAYS = 30.0
_DOMAIN = re.compile(r"^(\*\.)?([a-z0-9_-]+\.)*[a-z0-9_-]+\.?$")


@dataclass(frozen=True, slots=True)
class BeaconSettings:
    """Thresholds of the beacon detector (``detect/beacon.py``, ``docs/network.md``)."""

    min_connections: int = 20
    score_threshold: float = 0.8
    high_score: float = 0.9
    include_internal: bool = False
    prevalence_threshold: float = 0.5


@dataclass(frozen=True, slots=True)
class LateralSettings:
    """Thresholds of the SMB/RPC sweep detector (``detect/lateral.py``)."""

    window_seconds: int = 600
    min_targets: int = 10
    ports: tuple[int, ...] = (445, 139, 135)
    failed_share: float = 0.5


@dataclass(frozen=True, slots=True)
class BruteforceSettings:
    """Thresholds of the password-guessing part of ``detect/lateral.py``."""

    window_seconds: int = 600
    min_attempts: int = 20
    min_failures: int = 10


@dataclass(frozen=True, slots=True)
class SpamSettings:
    """Thresholds of the spam-bot detector (``detect/spam.py``)."""

    min_destinations: int = 10
    ports: tuple[int, ...] = (25, 465, 587)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One threat-intel feed: a file path or URL, its name, format and lifetime."""

    location: str
    name: str | None = None
    format: str | None = None
    ttl_days: float | None = None


@dataclass(frozen=True, slots=True)
class IntelSettings:
    """Threat-intel settings: the feeds ``sekimori intel update`` reads."""

    feeds: tuple[FeedSpec, ...] = ()
    default_ttl_days: float = _DEFAULT_TTL_DAYS


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """What Sekimori knows about the monitored site.

    ``internal`` are our networks; ``mail_servers`` may speak SMTP to the
    world; ``dns_servers`` are our resolvers; ``allow_networks`` and
    ``allow_domains`` never raise an alert and are never blocked (the site's
    own ranges, resolvers and mail servers are never blocked either);
    ``mail_domains`` are our own mail domains (a reply from one of them is
    not an outsider hijacking a thread; a display name posing as us is).
    """

    internal: tuple[IPNetwork, ...] = RFC1918
    mail_servers: tuple[IPNetwork, ...] = ()
    dns_servers: tuple[IPNetwork, ...] = ()
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_domains: tuple[str, ...] = ()
    mail_domains: tuple[str, ...] = ()
    beacon: BeaconSettings = field(default_factory=BeaconSettings)
    lateral: LateralSettings = field(default_factory=LateralSettings)
    bruteforce: BruteforceSettings = field(default_factory=BruteforceSettings)
    spam: SpamSettings = field(default_factory=SpamSettings)
    intel: IntelSettings = field(default_factory=IntelSettings)
    path: str | None = None

    @property
    def internal_ranges(self) -> IpRanges:
        """``internal`` as ranges that test a column at once."""
        return IpRanges.of(self.internal)

    @property
    def mail_ranges(self) -> IpRanges:
        """The mail servers as ranges."""
        return IpRanges.of(self.mail_servers)

    @property
    def allow_ranges(self) -> IpRanges:
        """Addresses that never alert: ``allow`` entries (not the internal ranges)."""
        return IpRanges.of(self.allow_networks)

    @property
    def never_block(self) -> IpRanges:
        """Addresses no exported blocklist may contain: ours, resolvers, mail servers, allow."""
        return IpRanges.of(
            self.internal + self.mail_servers + self.dns_servers + self.allow_networks
        )

    def is_internal(self, ip: str | None) -> bool:
        """True when ``ip`` is in one of the internal networks."""
        return self.internal_ranges.contains(ip)

    def is_allowed_ip(self, ip: str | None) -> bool:
        """True when ``ip`` is on the allow-list."""
        return self.allow_ranges.contains(ip)

    def is_allowed_domain(self, name: str | None) -> bool:
        """True when ``name`` matches an allow pattern (``*.x`` covers x and its subdomains)."""
        return domain_allowed(name, self.allow_domains)


def domain_allowed(name: str | None, patterns: tuple[str, ...]) -> bool:
    """True when ``name`` matches one of ``patterns``.

    A plain pattern matches that exact name; ``*.example.com`` matches
    ``example.com`` and every name under it. Case and a trailing dot are ignored.
    """
    if not name or not patterns:
        return False
    host = name.strip().rstrip(".").lower()
    for pattern in patterns:
        if pattern.startswith("*."):
            base = pattern[2:]
            if host == base or host.endswith("." + base):
                return True
        elif host == pattern:
            return True
    return False


T = TypeVar("T")


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


class _Reader:
    """Turns the parsed TOML into typed settings, pointing errors at file:line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, message: str, needle: str | None = None) -> ConfigError:
        line = _line_of(self.text, needle) if needle else None
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(message, where=where)

    def table(self, doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = doc.get(name, {})
        if not isinstance(value, Mapping):
            raise self.fail(f"[{name}] must be a table", name)
        return value

    def strings(self, table: Mapping[str, Any], section: str, key: str) -> list[str]:
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{section}.{key} must be a list of strings", key)
        return [v.strip() for v in value if v.strip()]

    def networks(self, table: Mapping[str, Any], section: str, key: str) -> tuple[IPNetwork, ...]:
        result = []
        for entry in self.strings(table, section, key):
            network = parse_network(entry)
            if network is None:
                raise self.fail(f"{section}.{key}: {entry!r} is not an IP address or CIDR", entry)
            result.append(network)
        return tuple(result)

    def settings(self, doc: Mapping[str, Any], name: str, default: T) -> T:
        table = self.table(doc, name)
        known = {f.name: f for f in fields(default)}  # type: ignore[arg-type]
        changes: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                allowed = ", ".join(sorted(known))
                raise self.fail(f"[{name}] has no setting {key!r} (known: {allowed})", key)
            current = getattr(default, key)
            changes[key] = self._coerce(name, key, value, current)
        return replace(default, **changes)  # type: ignore[type-var]

    def _coerce(self, section: str, key: str, value: Any, current: Any) -> Any:
        where = f"[{section}] {key}"
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise self.fail(f"{where} must be true or false", key)
            return value
        if isinstance(current, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise self.fail(f"{where} must be a non-negative integer", key)
            return value
        if isinstance(current, float):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise self.fail(f"{where} must be a non-negative number", key)
            return float(value)
        if isinstance(current, tuple):
            ok = isinstance(value, list) and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535 for v in value
            )
            if not ok:
                raise self.fail(f"{where} must be a list of port numbers", key)
            return tuple(value)
        return value

    def feeds(self, intel: Mapping[str, Any]) -> tuple[FeedSpec, ...]:
        raw = intel.get("feeds", [])
        if not isinstance(raw, list):
            raise self.fail("intel.feeds must be a list", "feeds")
        specs = []
        for entry in raw:
            if isinstance(entry, str):
                specs.append(FeedSpec(location=entry))
                continue
            if not isinstance(entry, Mapping) or not isinstance(entry.get("location"), str):
                raise self.fail("each intel feed needs a location (file path or URL)", "feeds")
            ttl = entry.get("ttl_days")
            if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
                raise self.fail("intel feed ttl_days must be a number", "ttl_days")
            specs.append(
                FeedSpec(
                    location=entry["location"],
                    name=entry.get("name"),
                    format=entry.get("format"),
                    ttl_days=float(ttl) if ttl is not None else None,
                )
            )
        return tuple(specs)


_TOP_LEVEL = {"site", "beacon", "lateral", "bruteforce", "spam", "intel"}


def load_site(path: Path | None) -> SiteConfig:
    """Read the site file at ``path``; ``None`` gives the defaults (RFC 1918 internal).

    Raises ``ConfigError`` naming ``file:line`` for malformed TOML, unknown
    keys, and values that are not addresses, numbers or patterns.
    """
    if path is None:
        return SiteConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(exc.strerror or str(exc), where=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("not UTF-8 text", where=str(path)) from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        if match:
            where = f"{path}:{match.group(1)}"
        elif "end of document" in str(exc):
            where = f"{path}:{len(text.splitlines()) + 1}"
        else:
            where = str(path)
        raise ConfigError(f"not valid TOML: {exc}", where=where) from exc
    return parse_site(doc, path, text)


def parse_site(doc: Mapping[str, Any], path: Path, text: str = "") -> SiteConfig:
    """Build a ``SiteConfig`` from an already parsed TOML document."""
    reader = _Reader(path, text)
    for key in doc:
        if key not in _TOP_LEVEL:
            raise reader.fail(
                f"unknown table [{key}] (known: {', '.join(sorted(_TOP_LEVEL))})", key
            )
    site = reader.table(doc, "site")
    known_site = {"internal", "mail_servers", "dns_servers", "allow", "mail_domains"}
    for key in site:
        if key not in known_site:
            raise reader.fail(f"[site] has no setting {key!r}", key)
    internal = reader.networks(site, "site", "internal") if "internal" in site else RFC1918
    allow_networks: list[IPNetwork] = []
    allow_domains: list[str] = []
    for entry in reader.strings(site, "site", "allow"):
        network = parse_network(entry)
        if network is not None:
            allow_networks.append(network)
            continue
        pattern = entry.lower().rstrip(".")
        if not _DOMAIN.match(pattern):
            raise reader.fail(f"site.allow: {entry!r} is not an address, CIDR or domain", entry)
        allow_domains.append(pattern)
    mail_domains: list[str] = []
    for entry in reader.strings(site, "site", "mail_domains"):
        domain = entry.lower().strip().rstrip(".")
        if not _DOMAIN.match(domain) or domain.startswith("*."):
            raise reader.fail(f"site.mail_domains: {entry!r} is not a domain", entry)
        mail_domains.append(domain)
    intel_table = reader.table(doc, "intel")
    for key in intel_table:
        if key not in {"feeds", "default_ttl_days"}:
            raise reader.fail(f"[intel] has no setting {key!r}", key)
    ttl = intel_table.get("default_ttl_days", _DEFAULT_TTL_DAYS)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise reader.fail("intel.default_ttl_days must be a positive number", "default_ttl_days")
    return SiteConfig(
        internal=internal,
        mail_servers=reader.networks(site, "site", "mail_servers"),
        dns_servers=reader.networks(site, "site", "dns_servers"),
        allow_networks=tuple(allow_networks),
        allow_domains=tuple(allow_domains),
        mail_domains=tuple(mail_domains),
        beacon=reader.settings(doc, "beacon", BeaconSettings()),
        lateral=reader.settings(doc, "lateral", LateralSettings()),
        bruteforce=reader.settings(doc, "bruteforce", BruteforceSettings()),
        spam=reader.settings(doc, "spam", SpamSettings()),
        intel=IntelSettings(feeds=reader.feeds(intel_table), default_ttl_days=float(ttl)),
        path=str(path),
    )
