from __future__ import annotations

from sekimori.intel.feeds import read_feed
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "intel"


def test_json_export() -> None:
    result = read_feed(DATA / "threatfox.json")
    assert result.report.format == "threatfox-json"
    by_type = {i.type: i for i in result.indicators}
    assert by_type["ip"].value == "192.0.2.30" and by_type["ip"].port == 443
    assert by_type["ip"].confidence == 100 and by_type["ip"].is_c2
    assert by_type["domain"].value == "c2.example.invalid"
    assert by_type["hash"].value == "44d88612fea8a8f36de82e1278abb02f"
    assert by_type["domain"].malware == "Emotet"
    assert result.report.skipped == 1 and "sha3_384_hash" in result.report.problems[0]


def test_api_answer() -> None:
    result = read_feed(DATA / "threatfox_api.json")
    assert [(i.type, i.value) for i in result.indicators] == [
        ("url", "http://gate.example.invalid/index.php")
    ]


def test_csv_export() -> None:
    result = read_feed(DATA / "threatfox.csv")
    assert result.report.format == "threatfox-csv"
    assert [i.type for i in result.indicators] == ["ip", "domain", "hash"]
    assert result.indicators[1].last_seen is not None
