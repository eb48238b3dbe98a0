"""Matching columns of observables against indicators, a whole batch at a time.

:class:`IntelIndex` holds the active indicators as small polars tables and
answers "which rows of this column match which indicator?" with joins:

- IPs: equality join on the canonical text.
- CIDRs (IPv4): for each prefix length present, the column's addresses (as
  ``UInt32``) are masked to that length and joined on the network number, so
  overlapping ranges all match and the cost is one join per distinct length.
  IPv6 CIDRs are tested per distinct value.
- Domains: every distinct name is expanded into its suffixes
  (``a.b.example.com`` → ``a.b.example.com``, ``b.example.com``,
  ``example.com``) and joined, so an indicator covers its subdomains.
- URLs: distinct values are normalized (``indicator.normalize_url``) and joined.
- Hashes: lowercased and joined.

Work per batch is proportional to the distinct values of the column, not to
the number of indicators. The index is immutable; build a new one to update.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from sekimori.intel.indicator import (
    Indicator,
    classify,
    normalize_domain,
    normalize_ip,
    normalize_url,
)
from sekimori.intel.ipaddr import ipv4_int

MATCH_SCHEMA = {"row": pl.UInt32, "indicator": pl.UInt32}


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=MATCH_SCHEMA)


def _table(pairs: list[tuple[str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"key": [p[0] for p in pairs], "indicator": [p[1] for p in pairs]},
        schema={"key": pl.String, "indicator": pl.UInt32},
    )


def domain_suffixes(name: str) -> list[str]:
    """``name`` and every parent domain with at least two labels."""
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(max(1, len(labels) - 1))]


@dataclass(frozen=True, slots=True)
class IntelIndex:
    """Active indicators, indexed for vectorized matching (see the module docstring)."""

    indicators: tuple[Indicator, ...] = ()
    _ip: pl.DataFrame = field(default_factory=lambda: _table([]), repr=False)
    _domain: pl.DataFrame = field(default_factory=lambda: _table([]), repr=False)
    _url: pl.DataFrame = field(default_factory=lambda: _table([]), repr=False)
    _hash: pl.DataFrame = field(default_factory=lambda: _table([]), repr=False)
    _cidr4: tuple[tuple[int, pl.DataFrame], ...] = field(default=(), repr=False)
    _cidr6: tuple[tuple[ipaddress.IPv6Network, int], ...] = field(default=(), repr=False)

    @classmethod
    def build(cls, indicators: Iterable[Indicator], now: datetime | None = None) -> IntelIndex:
        """An index of ``indicators``, leaving out those expired at ``now``."""
        active = tuple(i for i in indicators if now is None or not i.expired(now))
        buckets: dict[str, list[tuple[str, int]]] = {k: [] for k in ("ip", "domain", "url", "hash")}
        by_length: dict[int, list[tuple[int, int]]] = {}
        cidr6: list[tuple[ipaddress.IPv6Network, int]] = []
        for number, indicator in enumerate(active):
            if indicator.type == "cidr":
                network = ipaddress.ip_network(indicator.value, strict=False)
                if isinstance(network, ipaddress.IPv4Network):
                    by_length.setdefault(network.prefixlen, []).append(
                        (int(network.network_address), number)
                    )
                else:
                    cidr6.append((network, number))
            else:
                buckets[indicator.type].append((indicator.value, number))
        cidr4 = tuple(
            (
                length,
                pl.DataFrame(
                    {"net": [n for n, _ in pairs], "indicator": [i for _, i in pairs]},
                    schema={"net": pl.UInt32, "indicator": pl.UInt32},
                ),
            )
            for length, pairs in sorted(by_length.items())
        )
        return cls(
            active,
            _table(buckets["ip"]),
            _table(buckets["domain"]),
            _table(buckets["url"]),
            _table(buckets["hash"]),
            cidr4,
            tuple(cidr6),
        )

    def __len__(self) -> int:
        return len(self.indicators)

    @property
    def has_ips(self) -> bool:
        """True when IP or CIDR indicators exist."""
        return self._ip.height > 0 or bool(self._cidr4) or bool(self._cidr6)

    @property
    def has_domains(self) -> bool:
        """True when domain indicators exist."""
        return self._domain.height > 0

    @property
    def has_urls(self) -> bool:
        """True when URL indicators exist."""
        return self._url.height > 0

    @property
    def has_hashes(self) -> bool:
        """True when hash indicators exist."""
        return self._hash.height > 0

    @staticmethod
    def _rows(values: pl.Series) -> pl.DataFrame:
        return pl.DataFrame(
            {"row": pl.arange(0, values.len(), eager=True, dtype=pl.UInt32), "v": values}
        ).filter(pl.col("v").is_not_null())

    def _join_keys(
        self, values: pl.Series, keys: pl.DataFrame, table: pl.DataFrame
    ) -> pl.DataFrame:
        """Rows of ``values`` whose distinct value maps (``keys``: v → key) to ``table``."""
        if table.height == 0 or keys.height == 0:
            return _empty()
        hits = keys.join(table, on="key", how="inner").select("v", "indicator")
        if hits.height == 0:
            return _empty()
        rows = self._rows(values.cast(pl.String))
        return rows.join(hits, on="v", how="inner").select("row", "indicator").cast(pl.UInt32)

    def match_ips(self, values: pl.Series) -> pl.DataFrame:
        """``(row, indicator)`` for every row of ``values`` (IP text) matching an IP or CIDR."""
        if not self.has_ips or values.len() == 0:
            return _empty()
        text = values.cast(pl.String)
        distinct = pl.DataFrame({"v": text.drop_nulls().unique()})
        parts = []
        if self._ip.height:
            keys = distinct.with_columns(
                pl.when(pl.col("v").str.contains(":"))
                .then(pl.col("v").map_elements(_canonical_ip, return_dtype=pl.String))
                .otherwise(pl.col("v"))
                .alias("key")
            )
            parts.append(keys.join(self._ip, on="key", how="inner").select("v", "indicator"))
        if self._cidr4:
            numbers = distinct.with_columns(ipv4_int(pl.col("v")).alias("n")).drop_nulls("n")
            for length, table in self._cidr4:
                mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
                masked = numbers.with_columns(
                    (pl.col("n") & pl.lit(mask, dtype=pl.UInt32)).alias("net")
                )
                parts.append(masked.join(table, on="net", how="inner").select("v", "indicator"))
        if self._cidr6:
            found: list[tuple[str, int]] = []
            for value in distinct.filter(pl.col("v").str.contains(":"))["v"].to_list():
                address = _parse_v6(value)
                if address is None:
                    continue
                found.extend((value, n) for net, n in self._cidr6 if address in net)
            if found:
                parts.append(
                    pl.DataFrame(
                        {"v": [f[0] for f in found], "indicator": [f[1] for f in found]},
                        schema={"v": pl.String, "indicator": pl.UInt32},
                    )
                )
        hits = pl.concat(parts) if parts else pl.DataFrame()
        if hits.height == 0:
            return _empty()
        rows = self._rows(text)
        return rows.join(hits, on="v", how="inner").select("row", "indicator").cast(pl.UInt32)

    def match_domains(self, values: pl.Series) -> pl.DataFrame:
        """``(row, indicator)`` for names equal to, or under, a domain indicator."""
        if not self.has_domains or values.len() == 0:
            return _empty()
        distinct = values.cast(pl.String).drop_nulls().unique().to_list()
        pairs: list[tuple[str, str]] = []
        for name in distinct:
            normalized = normalize_domain(name)
            if normalized:
                pairs.extend((name, suffix) for suffix in domain_suffixes(normalized))
        keys = pl.DataFrame(
            {"v": [p[0] for p in pairs], "key": [p[1] for p in pairs]},
            schema={"v": pl.String, "key": pl.String},
        )
        return self._join_keys(values, keys, self._domain)

    def match_urls(self, values: pl.Series) -> pl.DataFrame:
        """``(row, indicator)`` for full URLs equal to a URL indicator once normalized."""
        if not self.has_urls or values.len() == 0:
            return _empty()
        distinct = values.cast(pl.String).drop_nulls().unique().to_list()
        pairs = [(v, n) for v in distinct if (n := normalize_url(v)) is not None]
        keys = pl.DataFrame(
            {"v": [p[0] for p in pairs], "key": [p[1] for p in pairs]},
            schema={"v": pl.String, "key": pl.String},
        )
        return self._join_keys(values, keys, self._url)

    def match_hashes(self, values: pl.Series) -> pl.DataFrame:
        """``(row, indicator)`` for digests equal to a hash indicator (any case)."""
        if not self.has_hashes or values.len() == 0:
            return _empty()
        distinct = pl.DataFrame({"v": values.cast(pl.String).drop_nulls().unique()})
        keys = distinct.with_columns(pl.col("v").str.strip_chars().str.to_lowercase().alias("key"))
        return self._join_keys(values, keys, self._hash)

    def lookup(self, value: str) -> list[Indicator]:
        """Indicators matching one value (IP, domain, URL or hash; its type is guessed)."""
        found = classify(value)
        if found is None:
            return []
        kind, normalized = found
        series = pl.Series([normalized])
        match kind:
            case "ip":
                hits = self.match_ips(series)
            case "domain":
                hits = self.match_domains(series)
            case "url":
                hits = self.match_urls(series)
            case "hash":
                hits = self.match_hashes(series)
            case _:
                return [i for i in self.indicators if i.type == "cidr" and i.value == normalized]
        return [self.indicators[n] for n in hits["indicator"].to_list()]


def _parse_v6(value: str) -> ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None
    return address if isinstance(address, ipaddress.IPv6Address) else None


def _canonical_ip(value: str) -> str:
    return normalize_ip(value) or value
