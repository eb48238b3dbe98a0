from __future__ import annotations

from sekimori.intel.feeds import read_feed
from sekimori.intel.stix import pattern_values
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "intel"


def test_bundle() -> None:
    result = read_feed(DATA / "stix_bundle.json")
    assert result.report.format == "stix"
    got = {(i.type, i.value) for i in result.indicators}
    assert got == {
        ("ip", "198.51.100.70"),
        ("ip", "198.51.100.71"),
        ("url", "http://dl.example.invalid/a.dll"),
        ("hash", "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"),
        ("domain", "c2-stix.example.invalid"),
    }
    c2 = next(i for i in result.indicators if i.value == "198.51.100.70")
    assert c2.malware == "Emotet" and c2.confidence == 85
    assert c2.expires is not None and c2.expires.year == 2027
    # one broken pattern, one non-STIX pattern type
    assert result.report.skipped == 2


def test_pattern_values_in_and_or() -> None:
    values = pattern_values(
        "[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')] OR [email-addr:value = 'a@example.com']"
    )
    assert values == [("ip", "192.0.2.1"), ("ip", "192.0.2.2")]
