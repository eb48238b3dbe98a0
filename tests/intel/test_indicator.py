from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekimori.intel.indicator import (
    classify,
    normalize_domain,
    normalize_hash,
    normalize_url,
    parse_time,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.INVALID:80/a/b#frag", "http://example.invalid/a/b"),
        ("https://example.invalid:443", "https://example.invalid/"),
        ("https://example.invalid:8443/x?q=1", "https://example.invalid:8443/x?q=1"),
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("http://user@example.invalid/x", "http://example.invalid/x"),
        ("no scheme", None),
    ],
)
def test_normalize_url(raw: str, expected: str | None) -> None:
    assert normalize_url(raw) == expected


def test_normalize_domain_and_hash() -> None:
    assert normalize_domain("WWW.Example.Invalid.") == "www.example.invalid"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"
    assert normalize_domain("192.0.2.1") is None
    assert normalize_domain("nodot") is None
    assert normalize_hash("ABCDEF" * 0 + "d41d8cd98f00b204e9800998ecf8427e".upper()) is not None
    assert normalize_hash("xyz") is None


def test_classify() -> None:
    assert classify("192.0.2.1:8080") == ("ip", "192.0.2.1")
    assert classify("192.0.2.0/24") == ("cidr", "192.0.2.0/24")
    assert classify("192.0.2.5/32") == ("ip", "192.0.2.5")
    assert classify("evil.example.invalid") == ("domain", "evil.example.invalid")
    assert classify("???") is None


def test_parse_time() -> None:
    assert parse_time("2026-11-18 10:00:00 UTC") == datetime(2026, 11, 18, 10, tzinfo=UTC)
    assert parse_time("2026-11-18T10:00:00+09:00") == datetime(2026, 11, 18, 1, tzinfo=UTC)
    assert parse_time("1795000000") == datetime.fromtimestamp(1795000000, tz=UTC)
    assert parse_time("garbage") is None
    assert parse_time(None) is None


@given(st.text(max_size=60))
def test_classify_never_raises(text: str) -> None:
    classify(text)
    normalize_url(text)
    normalize_domain(text)
