from __future__ import annotations

import pytest

from sekimori.errors import IntelError
from sekimori.intel.feeds import read_feed
from sekimori.intel.feodo import FeodoJsonReader
from sekimori.intel.reader import FeedReport
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "intel"


def test_csv_current_layout() -> None:
    result = read_feed(DATA / "feodo.csv")
    assert result.report.format == "feodo-csv"
    assert [i.value for i in result.indicators] == ["192.0.2.10", "198.51.100.23", "203.0.113.77"]
    first = result.indicators[0]
    assert first.type == "ip" and first.port == 8080 and first.malware == "Emotet"
    assert first.is_c2 and first.source == "feodo"
    assert first.first_seen is not None and first.first_seen.tzinfo is not None
    assert result.report.skipped == 1 and "line 12" in result.report.problems[0]


def test_csv_old_layout() -> None:
    result = read_feed(DATA / "feodo_old.csv")
    assert [i.value for i in result.indicators] == ["192.0.2.11", "192.0.2.12"]
    assert {i.malware for i in result.indicators} == {"Heodo"}


def test_json() -> None:
    result = read_feed(DATA / "feodo.json")
    assert result.report.format == "feodo-json"
    assert [i.value for i in result.indicators] == ["192.0.2.10", "2001:db8::bad"]
    assert result.report.skipped == 1


def test_broken_json_is_an_intel_error() -> None:
    with pytest.raises(IntelError):
        list(FeodoJsonReader().parse('[{"ip_address": ', "x", FeedReport("x")))
