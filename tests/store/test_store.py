from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from sekimori.errors import StoreError
from sekimori.model import Finding, Severity
from sekimori.sources.base import ReadReport
from sekimori.store import Store
from sekimori.store.schema import findings as findings_table
from tests.store.samples import HOSTILE_ATTR, HOSTILE_SCRIPT, JAPANESE, T0, chain, finding, incident


def count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_saving_the_same_finding_twice_keeps_one_row(store: Store) -> None:
    f = finding()
    store.save_findings([f])
    store.save_findings([f, f])
    store.save_findings([replace(f, timestamp=f.timestamp)])  # equal content, equal id
    assert count(store, findings_table) == 1
    assert store.count_findings() == 1
    assert store.findings_for("default", "WS-ACCT-07") == [f]


def test_empty_writes_are_no_ops(store: Store) -> None:
    store.save_findings([])
    store.upsert_incidents([])
    assert store.list_incidents() == []


def test_findings_round_trip_in_time_order(store: Store) -> None:
    items = chain(n=5)
    store.save_findings(reversed(items))
    store.save_findings(chain(host="OTHER"))
    got = store.findings_for("default", "WS-ACCT-07")
    assert got == items
    assert [f.id for f in got] == [f.id for f in items]
    assert store.findings_for("other-tenant", "WS-ACCT-07") == []


def test_upsert_replaces_by_id_and_keeps_status(store: Store) -> None:
    items = chain(n=2)
    store.save_findings(items)
    inc = incident(items)
    store.upsert_incidents([inc])
    assert store.set_status(inc.id, "in_progress")
    more = chain(n=4)
    store.save_findings(more)
    store.upsert_incidents(
        [replace(incident(more), score=77.0, summary="grew", finding_count=4, id=inc.id)]
    )
    [doc] = store.list_incidents()
    assert doc["incident"]["id"] == inc.id
    assert doc["incident"]["status"] == "in_progress"
    assert doc["score"] == 77.0
    assert doc["summary"] == "grew"
    assert doc["finding_count"] == 4
    assert doc["incident"]["updated_at"].endswith("Z")
    detail = store.get_incident(inc.id)
    assert detail is not None
    assert [f["finding"]["id"] for f in detail.findings] == [f.id for f in more]


def test_set_status_checks_its_input(store: Store) -> None:
    assert not store.set_status("nope", "closed")
    with pytest.raises(StoreError, match="unknown status"):
        store.set_status("nope", "pwned")


def test_list_sorts_by_severity_then_score_and_filters(store: Store) -> None:
    a = chain(host="A", n=1)
    b = chain(host="B", n=1)
    c = chain(host="C", tenant="acme", n=1)
    d = chain(host="D", n=1)
    store.save_findings(a + b + c + d)
    store.upsert_incidents(
        [
            incident(a, severity=Severity.MEDIUM, score=90.0),
            incident(b, severity=Severity.CRITICAL, score=10.0),
            incident(c, severity=Severity.HIGH, score=50.0),
            incident(d, severity=Severity.HIGH, score=60.0),
        ]
    )
    hosts = [i["host"]["name"] for i in store.list_incidents()]
    assert hosts == ["B", "D", "C", "A"]
    assert [i["host"]["name"] for i in store.list_incidents(tenant="acme")] == ["C"]
    assert [i["host"]["name"] for i in store.list_incidents(min_severity="high")] == [
        "B",
        "D",
        "C",
    ]
    assert [i["host"]["name"] for i in store.list_incidents(min_severity=Severity.CRITICAL)] == [
        "B"
    ]
    assert len(store.list_incidents(limit=2)) == 2
    store.set_status(store.list_incidents()[0]["incident"]["id"], "closed")
    assert [i["host"]["name"] for i in store.list_incidents(status="closed")] == ["B"]


def test_get_incident_with_its_findings(store: Store) -> None:
    items = chain(n=3)
    inc = incident(items)
    # Incident first, findings later: the document's finding ids still find them.
    store.upsert_incidents([inc])
    store.save_findings(items)
    store.save_findings(chain(host="SOMEONE-ELSE"))
    detail = store.get_incident(inc.id)
    assert detail is not None
    assert detail.incident["incident"]["status"] == "new"
    assert detail.incident["findings"] == [f.id for f in items]
    assert [Finding.from_json(d) for d in detail.findings] == items
    assert store.get_incident("does-not-exist") is None


def test_incident_links_its_findings(store: Store) -> None:
    items = chain(n=2)
    store.save_findings(items)
    inc = incident(items)
    store.upsert_incidents([inc])
    with store.engine.connect() as conn:
        linked = conn.execute(sa.select(findings_table.c.incident_id)).scalars().all()
    assert linked == [inc.id, inc.id]


def test_record_file_keeps_every_report(store: Store) -> None:
    ok = ReadReport(path="/logs/zeek/conn.log", source="zeek", events=120)
    ok.skip("conn.log:7", "wrong number of fields")
    ok.skip("conn.log:9", "bad timestamp")
    bad = ReadReport(path=f"/logs/{JAPANESE}.evtx", source="evtx", error="not an EVTX file")
    first = store.record_file(ok, run_id="run-1")
    second = store.record_file(bad, run_id="run-1")
    store.record_file(ok, run_id="run-2")
    assert second > first
    files = store.list_files("run-1")
    assert [f["path"] for f in files] == ["/logs/zeek/conn.log", f"/logs/{JAPANESE}.evtx"]
    assert files[0]["events"] == 120
    assert files[0]["skipped"] == 2
    assert files[0]["problems"] == [
        "conn.log:7: wrong number of fields",
        "conn.log:9: bad timestamp",
    ]
    assert files[0]["error"] is None
    assert files[1]["error"] == "not an EVTX file"
    assert files[1]["ingested_at"].endswith("Z")
    assert len(store.list_files()) == 3


def test_japanese_text_round_trips(store: Store) -> None:
    f = finding(
        host_name="経理部-PC01",
        user_name="山田太郎",
        rule_name="請求書を装ったメールのマクロ",
        evidence={"email.subject": "【至急】請求書の送付（11月分）", "file.name": "請求書.doc"},
    )
    store.save_findings([f])
    store.upsert_incidents([incident([f], summary=JAPANESE)])
    assert store.findings_for("default", "経理部-PC01") == [f]
    [doc] = store.list_incidents()
    assert doc["summary"] == JAPANESE
    assert doc["host"]["name"] == "経理部-PC01"


def test_hostile_strings_are_stored_verbatim(store: Store) -> None:
    nasty = HOSTILE_SCRIPT + HOSTILE_ATTR + "'; DROP TABLE findings; --"
    f = finding(
        host_name=nasty,
        rule_name=nasty,
        evidence={"process.command_line": nasty, "nul": "a\x00b", "surrogate": "x\udcffy"},
    )
    store.save_findings([f])
    store.upsert_incidents([incident([f], summary=nasty)])
    [got] = store.findings_for("default", nasty)
    assert got == f
    assert got.evidence["nul"] == "a\x00b"
    assert got.evidence["surrogate"] == "x\udcffy"
    [doc] = store.list_incidents()
    assert doc["summary"] == nasty
    assert doc["host"]["name"] == nasty
    assert count(store, findings_table) == 1


def test_nul_in_a_host_name_is_kept_in_the_document(store: Store) -> None:
    f = finding(host_name="HOST\x00EVIL")
    store.save_findings([f])
    store.upsert_incidents([incident([f])])
    [doc] = store.list_incidents()
    assert doc["host"]["name"] == "HOST\x00EVIL"
    detail = store.get_incident(doc["incident"]["id"])
    assert detail is not None
    assert [Finding.from_json(d) for d in detail.findings] == [f]


def test_timestamps_come_back_as_aware_utc(store: Store) -> None:
    f = finding(timestamp=(T0 + timedelta(hours=9)).astimezone())
    store.save_findings([f])
    [got] = store.findings_for("default", f.host_name)
    assert got.timestamp == T0 + timedelta(hours=9)
    assert got.timestamp.utcoffset() == timedelta(0)
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(findings_table.c.timestamp)).scalar_one()
    assert stored == T0 + timedelta(hours=9)
    assert stored.tzinfo is not None


def test_reopening_keeps_data(db_url: str) -> None:
    with Store.open(db_url) as first:
        first.save_findings(chain(n=2))
    with Store.open(db_url) as second:
        assert second.count_findings() == 2
        assert second.ping()


def test_sqlite_uses_wal_and_foreign_keys(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_in_memory_sqlite_works(tmp_path: Path) -> None:
    with Store.open("sqlite://") as store:
        store.save_findings([finding()])
        assert store.count_findings() == 1


def test_open_without_url_uses_sekimori_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEKIMORI_DB", raising=False)
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path / "home"))
    with Store.open() as store:
        store.save_findings([finding()])
    assert (tmp_path / "home" / "sekimori.db").is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://root@127.0.0.1/x", "unsupported database"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "cannot open or migrate"),
    ],
)
def test_bad_urls_give_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        Store.open(url)
    assert info.value.where


def test_password_is_hidden_in_errors() -> None:
    with pytest.raises(StoreError) as info:
        Store.open("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(info.value.where)
