"""IP addresses and ranges as integers, so that a column of addresses is tested at once.

IPv4 text is turned into a ``UInt32`` column by polars string kernels (no Python
per row); the rarer IPv6 values are handled per distinct value with
:mod:`ipaddress`. A set of networks is kept as sorted, merged integer intervals
and a column is tested with one ``search_sorted``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4_PATTERN = r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"

# Columns longer than this are tested per distinct value.
DISTINCT_FIRST = 4096

RFC1918: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
)


def ipv4_int(expr: pl.Expr) -> pl.Expr:
    """``expr`` (dotted-quad strings) as ``UInt32``; null for anything that is not IPv4."""
    parts = expr.str.split_exact(".", 3)
    octets = [parts.struct.field(f"field_{i}").cast(pl.UInt32, strict=False) for i in range(4)]
    value = octets[0] * 16777216 + octets[1] * 65536 + octets[2] * 256 + octets[3]
    valid = expr.str.contains(_V4_PATTERN) & pl.all_horizontal([o <= 255 for o in octets])
    return pl.when(valid).then(value).otherwise(None).cast(pl.UInt32)


def parse_ip(text: str) -> IPAddress | None:
    """An address from text (brackets, zone ids and IPv4-mapped IPv6 handled), or None."""
    value = text.strip().strip("[]")
    if "%" in value:
        value = value.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(text: str) -> IPNetwork | None:
    """A network from ``a.b.c.d/n``, ``a.b.c.d`` or IPv6 forms (host bits ignored), or None."""
    value = text.strip()
    if "/" not in value:
        address = parse_ip(value)
        return ipaddress.ip_network(address) if address is not None else None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True, slots=True)
class IpRanges:
    """A set of IP networks that answers "is this address inside?" for one value or a column."""

    networks: tuple[IPNetwork, ...] = ()
    _v4: tuple[tuple[int, int], ...] = field(default=(), repr=False, compare=False)
    _v6: tuple[IPNetwork, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, networks: Iterable[IPNetwork]) -> IpRanges:
        """Ranges covering ``networks``."""
        nets = tuple(networks)
        v4 = _merge(
            (int(n.network_address), int(n.broadcast_address))
            for n in nets
            if isinstance(n, ipaddress.IPv4Network)
        )
        v6 = tuple(n for n in nets if isinstance(n, ipaddress.IPv6Network))
        return cls(nets, tuple(v4), v6)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def contains(self, value: str | IPAddress | None) -> bool:
        """True when ``value`` (text or address) falls in one of the networks."""
        if value is None:
            return False
        address = parse_ip(value) if isinstance(value, str) else value
        if address is None:
            return False
        if isinstance(address, ipaddress.IPv4Address):
            number = int(address)
            return any(start <= number <= end for start, end in self._v4)
        return any(address in net for net in self._v6)

    def overlaps(self, network: IPNetwork) -> bool:
        """True when ``network`` shares at least one address with these ranges."""
        return any(network.overlaps(n) for n in self.networks if n.version == network.version)

    def mask(self, values: pl.Series) -> pl.Series:
        """Boolean column: which of ``values`` (IP text) fall in the networks (nulls: False).

        Logs repeat addresses a lot, so long columns are tested once per
        distinct value and the answer is spread back with a hash lookup.
        """
        if not self.networks or values.len() == 0:
            return pl.Series(values.name, [False] * values.len(), dtype=pl.Boolean)
        text = values.cast(pl.String)
        if text.len() > DISTINCT_FIRST:
            distinct = text.drop_nulls().unique()
            if distinct.len() * 2 < text.len():
                inside = distinct.filter(self._mask(distinct))
                return text.is_in(inside.implode()).fill_null(False).alias(values.name)
        return self._mask(text).alias(values.name)

    def _mask(self, text: pl.Series) -> pl.Series:
        numbers = text.to_frame("ip").select(ipv4_int(pl.col("ip"))).to_series()
        result = pl.Series(text.name, [False] * text.len(), dtype=pl.Boolean)
        if self._v4:
            starts = pl.Series([s for s, _ in self._v4], dtype=pl.UInt32)
            ends = pl.Series([e for _, e in self._v4], dtype=pl.UInt32)
            position = starts.search_sorted(numbers.fill_null(0), side="right").cast(pl.Int64) - 1
            safe = position.clip(0, len(ends) - 1)
            inside = (position >= 0) & (numbers <= ends.gather(safe)) & numbers.is_not_null()
            result = inside.fill_null(False).alias(text.name)
        if self._v6 or any(n.version == 4 for n in self.networks):
            others = text.filter(numbers.is_null() & text.is_not_null()).unique()
            hits = [v for v in others.to_list() if ":" in v and self.contains(v)]
            if hits:
                result = result | text.is_in(hits).fill_null(False)
        return result


def ip_sort_key(text: str) -> tuple[int, int]:
    """Sort key that orders addresses and networks numerically, IPv4 first."""
    network = parse_network(text)
    if network is None:
        return (9, 0)
    return (network.version, int(network.network_address))
