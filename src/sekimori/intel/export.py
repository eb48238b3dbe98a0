"""Blocklists for firewalls, IPS, proxies and resolvers, from the indicators we hold.

``build_blocklist`` chooses what may be blocked: unexpired indicators, minus
everything the site says must never be blocked (internal ranges, resolvers,
mail servers, ``allow`` entries — a CIDR that overlaps one of them is dropped
whole, a domain is dropped when an allowed name is it or lies under it).
Overlapping networks are merged (the merged entry expires with its longest
lived part). ``render`` writes one target format:

- ``nftables``: an ``inet sekimori`` table with interval sets (per-element
  ``timeout`` for expiry) and drop rules on input/forward/output; load with
  ``nft -f``.
- ``iptables-ipset``: ``ipset restore`` input (``hash:net`` sets with
  per-entry timeouts); the iptables rules that use them are in the comments.
- ``windows-firewall``: a PowerShell script that replaces the
  ``Sekimori blocklist`` rule group (inbound and outbound block rules, at most
  1000 addresses per rule). Windows rules do not expire: run it again.
- ``suricata``: rules for IPs (``ip``), domains (``dns.query`` and
  ``tls.sni`` with ``dotprefix``) and URLs (``http.host`` + ``http.uri``).
- ``paloalto-edl``: an External Dynamic List, one entry per line, of one type
  (``ip``, ``domain`` or ``url``; a domain also as ``*.domain``).
- ``rpz``: a DNS Response Policy Zone (RFC-draft "DNS RPZ", BIND/Unbound):
  ``CNAME .`` (NXDOMAIN) for each domain and its subdomains, ``rpz-ip``
  triggers for IPv4 networks.
- ``plain``: the values, one per line.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sekimori.config import SiteConfig
from sekimori.errors import IntelError
from sekimori.intel.indicator import Indicator, url_host
from sekimori.intel.ipaddr import IPNetwork
from sekimori.model import iso

TABLE = "sekimori"
SET_V4 = "sekimori-v4"
SET_V6 = "sekimori-v6"
IPSET_MAX_TIMEOUT = 2_147_483
WINDOWS_GROUP = "Sekimori blocklist"
WINDOWS_CHUNK = 1000
SID_BASE = 9_100_000
SID_SPAN = 800_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One blockable value with its expiry and where it came from."""

    value: str
    expires: datetime | None
    sources: tuple[str, ...]
    family: str | None = None


@dataclass(slots=True)
class Blocklist:
    """What may be blocked, by kind, and what was left out and why."""

    networks: list[Entry] = field(default_factory=list)
    domains: list[Entry] = field(default_factory=list)
    urls: list[Entry] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    generated: datetime | None = None

    @property
    def size(self) -> int:
        """Entries of every kind."""
        return len(self.networks) + len(self.domains) + len(self.urls)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return None
    return max(a, b)


def _merge_networks(items: list[tuple[IPNetwork, Indicator]]) -> list[Entry]:
    """Collapse overlapping networks; a merged entry keeps the latest expiry (None wins)."""
    entries: list[Entry] = []
    for version in (4, 6):
        nets = [(n, i) for n, i in items if n.version == version]
        collapsed: list[IPNetwork] = []
        if version == 4:
            collapsed.extend(
                ipaddress.collapse_addresses(
                    n for n, _ in nets if isinstance(n, ipaddress.IPv4Network)
                )
            )
        else:
            collapsed.extend(
                ipaddress.collapse_addresses(
                    n for n, _ in nets if isinstance(n, ipaddress.IPv6Network)
                )
            )
        for network in collapsed:
            parts = [i for n, i in nets if network.overlaps(n)]
            expires = parts[0].expires
            for part in parts[1:]:
                expires = _later(expires, part.expires)
            text = str(network.network_address) if network.num_addresses == 1 else str(network)
            entries.append(
                Entry(
                    text,
                    expires,
                    tuple(sorted({p.source for p in parts})),
                    next((p.malware for p in parts if p.malware), None),
                )
            )
    return entries


def _blocks_allowed_name(domain: str, site: SiteConfig) -> bool:
    for pattern in site.allow_domains:
        base = pattern[2:] if pattern.startswith("*.") else pattern
        if base == domain or base.endswith("." + domain):
            return True
    return site.is_allowed_domain(domain)


def build_blocklist(indicators: Iterable[Indicator], site: SiteConfig, now: datetime) -> Blocklist:
    """The entries that may be blocked at ``now`` (see the module docstring)."""
    never = site.never_block
    result = Blocklist(generated=now)
    networks: list[tuple[IPNetwork, Indicator]] = []
    domains: dict[str, list[Indicator]] = {}
    urls: dict[str, list[Indicator]] = {}
    for indicator in indicators:
        if indicator.expired(now):
            continue
        if indicator.type in ("ip", "cidr"):
            network = ipaddress.ip_network(indicator.value, strict=False)
            if never.overlaps(network):
                result.dropped.append(
                    (indicator.value, "site network, resolver, mail server or allow")
                )
                continue
            networks.append((network, indicator))
        elif indicator.type == "domain":
            if _blocks_allowed_name(indicator.value, site):
                result.dropped.append((indicator.value, "allow-listed name"))
                continue
            domains.setdefault(indicator.value, []).append(indicator)
        elif indicator.type == "url":
            host = url_host(indicator.value) or ""
            if site.is_allowed_domain(host) or never.contains(host):
                result.dropped.append((indicator.value, "allow-listed host"))
                continue
            urls.setdefault(indicator.value, []).append(indicator)
    result.networks = _merge_networks(networks)
    result.domains = [_entry(v, group) for v, group in sorted(domains.items())]
    result.urls = [_entry(v, group) for v, group in sorted(urls.items())]
    return result


def _entry(value: str, group: list[Indicator]) -> Entry:
    expires = group[0].expires
    for item in group[1:]:
        expires = _later(expires, item.expires)
    family = next((i.malware for i in group if i.malware), None)
    return Entry(value, expires, tuple(sorted({i.source for i in group})), family)


def _seconds_left(entry: Entry, now: datetime) -> int | None:
    if entry.expires is None:
        return None
    return max(1, int((entry.expires - now).total_seconds()))


def _header(blocklist: Blocklist, comment: str, what: str) -> list[str]:
    when = iso(blocklist.generated) if blocklist.generated else "unknown"
    return [
        f"{comment} Sekimori blocklist ({what}), generated {when}",
        f"{comment} {len(blocklist.networks)} networks, {len(blocklist.domains)} domains, "
        f"{len(blocklist.urls)} URLs; {len(blocklist.dropped)} indicators never blocked "
        "(site ranges, resolvers, mail servers, allow-list)",
    ]


def _split(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    v4 = [e for e in entries if ":" not in e.value]
    v6 = [e for e in entries if ":" in e.value]
    return v4, v6


def render_nftables(blocklist: Blocklist, now: datetime) -> str:
    """An ``nft -f`` script: table ``inet sekimori``, sets with timeouts, drop rules."""
    v4, v6 = _split(blocklist.networks)
    lines = ["#!/usr/sbin/nft -f", *_header(blocklist, "#", "nftables")]
    # create-then-delete makes the script idempotent whether or not the table exists
    lines += [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    for name, kind, entries in (
        ("blocklist_v4", "ipv4_addr", v4),
        ("blocklist_v6", "ipv6_addr", v6),
    ):
        lines += [f"    set {name} {{", f"        type {kind}", "        flags interval, timeout"]
        if entries:
            elements = []
            for entry in entries:
                left = _seconds_left(entry, now)
                elements.append(entry.value + (f" timeout {left}s" if left else ""))
            lines.append("        elements = {")
            lines += [f"            {e}," for e in elements[:-1]] + [f"            {elements[-1]}"]
            lines.append("        }")
        lines.append("    }")
    for chain, hook in (("input", "input"), ("forward", "forward"), ("output", "output")):
        lines += [
            f"    chain {chain} {{",
            f"        type filter hook {hook} priority filter - 5; policy accept;",
        ]
        if chain != "input":
            lines += [
                "        ip daddr @blocklist_v4 counter drop",
                "        ip6 daddr @blocklist_v6 counter drop",
            ]
        if chain != "output":
            lines += [
                "        ip saddr @blocklist_v4 counter drop",
                "        ip6 saddr @blocklist_v6 counter drop",
            ]
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_ipset(blocklist: Blocklist, now: datetime) -> str:
    """``ipset restore`` input for two ``hash:net`` sets with per-entry timeouts."""
    v4, v6 = _split(blocklist.networks)
    lines = [*_header(blocklist, "#", "ipset restore"), "# use with:"]
    lines += [
        f"#   iptables -I OUTPUT -m set --match-set {SET_V4} dst -j DROP",
        f"#   iptables -I FORWARD -m set --match-set {SET_V4} dst -j DROP",
        f"#   ip6tables -I OUTPUT -m set --match-set {SET_V6} dst -j DROP",
    ]
    for name, family, entries in ((SET_V4, "inet", v4), (SET_V6, "inet6", v6)):
        size = max(65536, len(entries) * 2)
        lines.append(f"create {name} hash:net family {family} maxelem {size} timeout 0 -exist")
        lines.append(f"flush {name}")
        for entry in entries:
            left = _seconds_left(entry, now)
            # ipset's longest timeout is about 24.8 days: longer entries need a re-export
            timeout = min(left, IPSET_MAX_TIMEOUT) if left else 0
            lines.append(f"add {name} {entry.value} timeout {timeout} -exist")
    return "\n".join(lines) + "\n"


def _ps_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render_windows(blocklist: Blocklist, now: datetime) -> str:
    """A PowerShell script replacing the ``Sekimori blocklist`` firewall rule group."""
    values = [e.value for e in blocklist.networks]
    lines = [*_header(blocklist, "#", "Windows Defender Firewall, PowerShell")]
    lines += [
        "# Windows firewall rules do not expire: run the newest script again to refresh.",
        "#Requires -RunAsAdministrator",
        "$ErrorActionPreference = 'Stop'",
        f"$group = {_ps_quote(WINDOWS_GROUP)}",
        "Get-NetFirewallRule -Group $group -ErrorAction SilentlyContinue | Remove-NetFirewallRule",
    ]
    for number, start in enumerate(range(0, len(values), WINDOWS_CHUNK), start=1):
        chunk = values[start : start + WINDOWS_CHUNK]
        lines.append(f"$addresses = @({', '.join(_ps_quote(v) for v in chunk)})")
        for direction in ("Outbound", "Inbound"):
            name = _ps_quote(f"{WINDOWS_GROUP} {number} ({direction.lower()})")
            lines.append(
                f"New-NetFirewallRule -DisplayName {name} -Group $group -Direction {direction} "
                "-Action Block -Profile Any -RemoteAddress $addresses | Out-Null"
            )
    return "\n".join(lines) + "\n"


def _rule_text(text: str) -> str:
    """A Suricata content/msg string: bytes that would end or break the option are hex-escaped."""
    out = []
    for char in text:
        if char in ';"\\|' or not char.isprintable() or ord(char) > 126:
            out.append("|" + " ".join(f"{b:02X}" for b in char.encode()) + "|")
        else:
            out.append(char)
    return "".join(out)


class _Sids:
    """Stable rule ids: derived from the value, bumped on collision."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def of(self, key: str) -> int:
        sid = SID_BASE + zlib.crc32(key.encode()) % SID_SPAN
        while sid in self.used:
            sid += 1
        self.used.add(sid)
        return sid


def _meta(entry: Entry) -> str:
    parts = [f"sekimori_feed {'_'.join(entry.sources)}"]
    if entry.expires:
        parts.append(f"expires {entry.expires.date().isoformat()}")
    return "metadata:" + ", ".join(parts) + ";"


def _rule(action: str, header: str, msg: str, options: str, sid: int, entry: Entry) -> str:
    return (
        f'{action} {header} (msg:"SEKIMORI {msg}"; {options + " " if options else ""}'
        "classtype:trojan-activity; "
        f"sid:{sid}; rev:1; {_meta(entry)})"
    )


def render_suricata(blocklist: Blocklist, now: datetime, action: str = "alert") -> str:
    """Suricata rules: IPs, domains (DNS query and TLS SNI) and URLs."""
    sids = _Sids()
    lines = [*_header(blocklist, "#", "Suricata rules")]
    for entry in blocklist.networks:
        family = f" ({_rule_text(entry.family)})" if entry.family else ""
        msg = f"blocklisted address {entry.value}{family}"
        directions = (
            ("to", f"ip $HOME_NET any -> {entry.value} any"),
            ("from", f"ip {entry.value} any -> $HOME_NET any"),
        )
        for direction, header in directions:
            sid = sids.of(direction + entry.value)
            lines.append(_rule(action, header, f"{msg} ({direction})", "", sid, entry))
    for entry in blocklist.domains:
        name = _rule_text(entry.value)
        for keyword, proto in (("dns.query", "dns"), ("tls.sni", "tls")):
            options = f'{keyword}; dotprefix; content:".{name}"; nocase; endswith;'
            header = f"{proto} $HOME_NET any -> any any"
            sid = sids.of(keyword + entry.value)
            lines.append(_rule(action, header, f"blocklisted domain {name}", options, sid, entry))
    for entry in blocklist.urls:
        parts = urlsplit(entry.value)
        host = parts.hostname or ""
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        options = (
            f'http.host; content:"{_rule_text(host)}"; nocase; endswith; '
            f'http.uri; content:"{_rule_text(path)}"; startswith;'
        )
        msg = f"blocklisted URL {_rule_text(entry.value)}"
        header = "http $HOME_NET any -> any any"
        lines.append(_rule(action, header, msg, options, sids.of("url" + entry.value), entry))
    return "\n".join(lines) + "\n"


def render_edl(blocklist: Blocklist, kind: str = "ip") -> str:
    """A PAN-OS External Dynamic List of one kind: ``ip``, ``domain`` or ``url``."""
    if kind == "ip":
        values = [e.value for e in blocklist.networks]
    elif kind == "domain":
        values = [v for e in blocklist.domains for v in (e.value, "*." + e.value)]
    elif kind == "url":
        values = [e.value.split("://", 1)[-1] for e in blocklist.urls]
    else:
        raise IntelError(f"unknown EDL type {kind!r} (ip, domain, url)")
    return "\n".join(values) + ("\n" if values else "")


def _rpz_ip(entry: Entry) -> str | None:
    network = ipaddress.ip_network(entry.value, strict=False)
    if not isinstance(network, ipaddress.IPv4Network):
        return None
    octets = str(network.network_address).split(".")
    return f"{network.prefixlen}.{'.'.join(reversed(octets))}.rpz-ip"


def render_rpz(blocklist: Blocklist, now: datetime) -> str:
    """A DNS RPZ zone: NXDOMAIN for the domains (and subdomains), IPv4 response-IP triggers."""
    serial = int(now.timestamp())
    lines = [*_header(blocklist, ";", "DNS RPZ zone")]
    lines += [
        "$TTL 300",
        f"@ IN SOA localhost. hostmaster.localhost. ( {serial} 3600 600 86400 300 )",
        "@ IN NS localhost.",
    ]
    for entry in blocklist.domains:
        lines += [f"{entry.value} CNAME .", f"*.{entry.value} CNAME ."]
    for entry in blocklist.networks:
        owner = _rpz_ip(entry)
        if owner:
            lines.append(f"{owner} CNAME .")
    return "\n".join(lines) + "\n"


def render_plain(blocklist: Blocklist, kind: str | None = None) -> str:
    """Values one per line (all kinds, or only ``kind``)."""
    groups = {"ip": blocklist.networks, "domain": blocklist.domains, "url": blocklist.urls}
    chosen = [groups[kind]] if kind else list(groups.values())
    values = [e.value for group in chosen for e in group]
    return "\n".join(values) + ("\n" if values else "")


Renderer = Callable[[Blocklist, datetime, str | None], str]

# Explicit registry of the export formats (STYLE.md, 7).
RENDERERS: dict[str, Renderer] = {
    "nftables": lambda b, now, kind: render_nftables(b, now),
    "iptables-ipset": lambda b, now, kind: render_ipset(b, now),
    "windows-firewall": lambda b, now, kind: render_windows(b, now),
    "suricata": lambda b, now, kind: render_suricata(b, now),
    "paloalto-edl": lambda b, now, kind: render_edl(b, kind or "ip"),
    "rpz": lambda b, now, kind: render_rpz(b, now),
    "plain": lambda b, now, kind: render_plain(b, kind),
}


def render(blocklist: Blocklist, fmt: str, now: datetime, kind: str | None = None) -> str:
    """The blocklist in format ``fmt`` (one of ``FORMATS``)."""
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise IntelError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    return renderer(blocklist, now, kind)


FORMATS: tuple[str, ...] = tuple(RENDERERS)
