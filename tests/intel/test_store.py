from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sekimori.intel.feeds import read_feed
from sekimori.intel.indicator import Indicator
from sekimori.intel.store import IntelStore, default_path
from tests.conftest import TEST_DATA

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def test_upsert_is_idempotent_and_refreshes(tmp_path: Path) -> None:
    store = IntelStore(tmp_path / "intel.sqlite")
    feed = read_feed(TEST_DATA / "intel" / "feodo.csv", ttl=timedelta(days=30), now=NOW).indicators
    store.upsert(feed, NOW)
    store.upsert(feed, NOW)
    assert len(store.active(NOW)) == 3
    later = NOW + timedelta(days=10)
    refreshed = [
        Indicator("ip", "192.0.2.10", "feodo", last_seen=later, expires=later + timedelta(days=30))
    ]
    store.upsert(refreshed, later)
    got = {i.value: i for i in store.active(NOW)}
    assert got["192.0.2.10"].expires == later + timedelta(days=30)
    assert got["192.0.2.10"].malware == "Emotet"  # kept from the first reading
    assert (
        got["192.0.2.10"].first_seen is not None and got["192.0.2.10"].first_seen.tzinfo is not None
    )
    store.close()


def test_expiry_counts_search_and_purge(tmp_path: Path) -> None:
    store = IntelStore(tmp_path / "intel.sqlite")
    store.upsert(
        [
            Indicator("cidr", "203.0.113.0/24", "a", expires=NOW + timedelta(days=1)),
            Indicator("domain", "c2.example.invalid", "a"),
            Indicator("ip", "192.0.2.1", "b", expires=NOW - timedelta(days=1)),
        ],
        NOW,
    )
    assert {i.value for i in store.active(NOW)} == {"203.0.113.0/24", "c2.example.invalid"}
    assert store.counts(NOW) == [("a", "cidr", 1, 0), ("a", "domain", 1, 0), ("b", "ip", 0, 1)]
    assert [i.value for i in store.search("203.0.113.9", NOW)] == ["203.0.113.0/24"]
    assert [i.value for i in store.search("www.c2.example.invalid", NOW)] == ["c2.example.invalid"]
    assert [i.value for i in store.search("example.inv", NOW)] == ["c2.example.invalid"]
    assert store.search("192.0.2.1", NOW) == []
    assert store.purge(NOW) == 1
    assert len(store.active()) == 2


def test_default_path_follows_sekimori_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path))
    assert default_path() == tmp_path / "intel.sqlite"
