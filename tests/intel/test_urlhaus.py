from __future__ import annotations

from sekimori.intel.feeds import read_feed
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "intel"


def test_csv_dump() -> None:
    result = read_feed(DATA / "urlhaus.csv")
    assert result.report.format == "urlhaus-csv"
    values = [i.value for i in result.indicators]
    assert values == [
        "http://loader.example.invalid/wp-content/Invoice_2026.doc",
        "http://loader.example.invalid/x/load.dll",
        "http://198.51.100.44/bins/update.exe",
    ]
    assert result.indicators[1].malware == "Emotet"
    assert result.indicators[0].threat == "malware_download"
    assert result.report.skipped == 1


def test_text_list_is_read_as_plain() -> None:
    result = read_feed(DATA / "urlhaus.txt")
    assert result.report.format == "plain"
    assert [i.type for i in result.indicators] == ["url", "url"]
