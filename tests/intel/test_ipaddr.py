from __future__ import annotations

import ipaddress

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from sekimori.intel.ipaddr import IpRanges, ipv4_int, parse_network


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_int_round_trip(number: int) -> None:
    text = str(ipaddress.IPv4Address(number))
    assert pl.select(ipv4_int(pl.lit(text))).item() == number


def test_ranges_merge_and_mask() -> None:
    ranges = IpRanges.of(
        [
            n
            for n in map(
                parse_network, ["10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32"]
            )
            if n
        ]
    )
    values = pl.Series(
        ["10.1.2.3", "11.0.0.0", "192.0.2.255", "192.0.3.0", "2001:db8::1", "2001:db9::1", None]
    )
    assert ranges.mask(values).to_list() == [True, False, True, False, True, False, False]
    assert ranges.contains("10.200.0.1") and not ranges.contains("bogus")
