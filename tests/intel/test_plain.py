from __future__ import annotations

from sekimori.intel.feeds import read_feed
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "intel"


def test_plain_list() -> None:
    result = read_feed(DATA / "plain.txt")
    assert result.report.format == "plain"
    assert [(i.type, i.value) for i in result.indicators] == [
        ("ip", "192.0.2.50"),
        ("ip", "192.0.2.51"),
        ("cidr", "203.0.113.128/25"),
        ("ip", "198.51.100.90"),
        ("domain", "bad.example.invalid"),
        ("domain", "hosts-style.example.invalid"),
        ("url", "https://phish.example.invalid/login?x=1"),
        ("hash", "d41d8cd98f00b204e9800998ecf8427e"),
        ("ip", "2001:db8::dead"),
    ]
    assert result.report.skipped == 1
