from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from sekimori.intel.indicator import Indicator
from sekimori.intel.matcher import IntelIndex, domain_suffixes


def ind(kind: str, value: str, **kw: object) -> Indicator:
    return Indicator(type=kind, value=value, source="t", **kw)  # type: ignore[arg-type]


INDEX = IntelIndex.build(
    [
        ind("ip", "192.0.2.10"),
        ind("cidr", "203.0.113.128/25"),
        ind("cidr", "203.0.113.0/24"),
        ind("cidr", "2001:db8:bad::/48"),
        ind("domain", "c2.example.invalid"),
        ind("url", "http://loader.example.invalid/x/load.dll"),
        ind("hash", "d41d8cd98f00b204e9800998ecf8427e"),
        ind("ip", "192.0.2.11", expires=datetime(2000, 1, 1, tzinfo=UTC)),
    ],
    now=datetime(2026, 1, 1, tzinfo=UTC),
)


def pairs(frame: pl.DataFrame) -> set[tuple[int, str]]:
    return {(r, INDEX.indicators[i].value) for r, i in frame.iter_rows()}


def test_expired_indicators_are_left_out() -> None:
    assert len(INDEX) == 7
    assert INDEX.match_ips(pl.Series(["192.0.2.11"])).height == 0


def test_ips_and_overlapping_cidrs() -> None:
    values = pl.Series(
        ["192.0.2.10", "203.0.113.200", "203.0.113.5", "10.0.0.1", None, "2001:db8:bad::7", "x"]
    )
    assert pairs(INDEX.match_ips(values)) == {
        (0, "192.0.2.10"),
        (1, "203.0.113.128/25"),
        (1, "203.0.113.0/24"),
        (2, "203.0.113.0/24"),
        (5, "2001:db8:bad::/48"),
    }


def test_domains_cover_subdomains_only() -> None:
    values = pl.Series(
        ["c2.example.invalid", "A.B.C2.Example.Invalid.", "example.invalid", "xc2.example.invalid"]
    )
    assert pairs(INDEX.match_domains(values)) == {
        (0, "c2.example.invalid"),
        (1, "c2.example.invalid"),
    }


def test_urls_normalized() -> None:
    values = pl.Series(
        [
            "HTTP://Loader.Example.Invalid:80/x/load.dll#f",
            "http://loader.example.invalid/x/load.dll?v=1",
        ]
    )
    assert pairs(INDEX.match_urls(values)) == {(0, "http://loader.example.invalid/x/load.dll")}


def test_hashes_any_case() -> None:
    assert INDEX.match_hashes(pl.Series(["D41D8CD98F00B204E9800998ECF8427E", "00"])).height == 1


def test_lookup_single_values() -> None:
    assert {i.value for i in INDEX.lookup("203.0.113.130")} == {
        "203.0.113.128/25",
        "203.0.113.0/24",
    }
    assert INDEX.lookup("x.c2.example.invalid")[0].value == "c2.example.invalid"
    assert INDEX.lookup("nothing") == []


def test_suffixes() -> None:
    assert domain_suffixes("a.b.example.com") == ["a.b.example.com", "b.example.com", "example.com"]


def test_large_column_matches_exactly() -> None:
    rows = 200_000
    values = pl.Series([f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(rows)])
    values = values.scatter([123_456], ["203.0.113.140"])
    hits = INDEX.match_ips(values)
    assert sorted(hits["row"].to_list()) == [123_456, 123_456]
