from __future__ import annotations

from sekimori.intel.feeds import read_feed
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "intel"


def test_event_json() -> None:
    result = read_feed(DATA / "misp_event.json")
    assert result.report.format == "misp"
    got = {(i.type, i.value) for i in result.indicators}
    assert got == {
        ("ip", "198.51.100.60"),
        ("domain", "mail-relay.example.invalid"),
        ("url", "https://docs.example.invalid/share/Invoice.zip"),
        ("hash", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("cidr", "203.0.113.0/28"),
    }
    ip = next(i for i in result.indicators if i.type == "ip")
    assert ip.malware == "Emotet" and ip.is_c2 and ip.confidence == 90
    # the comment attribute and the to_ids=false sinkhole are reported, not read
    assert result.report.skipped == 2


def test_feed_folder() -> None:
    result = read_feed(DATA / "misp_feed")
    assert result.report.format == "misp-feed"
    assert {(i.type, i.value) for i in result.indicators} == {
        ("domain", "update.example.invalid"),
        ("ip", "198.51.100.61"),
    }
    assert all(i.malware == "Emotet" for i in result.indicators)
    assert result.report.skipped == 1  # the manifest names an event file that is absent
