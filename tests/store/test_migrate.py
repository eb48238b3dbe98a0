from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import sekimori.store
from sekimori.store import Store, migrate
from sekimori.store.schema import metadata
from sekimori.store.store import create_store_engine


def test_migrations_ship_inside_the_package() -> None:
    location = Path(migrate.alembic_config().get_main_option("script_location") or "")
    package = Path(sekimori.store.__file__).parent
    assert location == package / "migrations"
    assert (location / "env.py").is_file()
    assert (location / "script.py.mako").is_file()
    assert (location / "versions" / "0001_initial.py").is_file()
    assert migrate.head_revision() == "0001"


def test_open_migrates_to_head(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        names = set(sa.inspect(store.engine).get_table_names())
    assert {"findings", "incidents", "ingested_files", "alembic_version"} <= names


def test_migrations_create_exactly_the_schema(db_url: str) -> None:
    with Store.open(db_url) as store, store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_indexes_exist(db_url: str) -> None:
    with Store.open(db_url) as store:
        inspector = sa.inspect(store.engine)
        findings = {i["name"]: i["column_names"] for i in inspector.get_indexes("findings")}
        incidents = {i["name"]: i["column_names"] for i in inspector.get_indexes("incidents")}
    assert findings["ix_findings_tenant_host_name"] == ["tenant", "host_name"]
    assert findings["ix_findings_timestamp"] == ["timestamp"]
    assert findings["ix_findings_severity"] == ["severity"]
    assert incidents["ix_incidents_tenant_host_name"] == ["tenant", "host_name"]
    assert incidents["ix_incidents_severity_rank_score"] == ["severity_rank", "score"]


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    with Store.open(db_url) as store:
        config = migrate.alembic_config()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert migrate.current_revision(store.engine) is None
        assert "findings" not in sa.inspect(store.engine).get_table_names()
        migrate.upgrade(store.engine)
        assert migrate.current_revision(store.engine) == "0001"


def test_offline_mode_prints_sql(capsys: pytest.CaptureFixture[str]) -> None:
    config = migrate.alembic_config()
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://postgres@127.0.0.1/none")
    command.upgrade(config, "head", sql=True)
    out = capsys.readouterr().out
    assert "CREATE TABLE findings" in out
    assert "CREATE TABLE incidents" in out


def test_concurrent_opens_of_a_fresh_database_all_succeed(db_url: str) -> None:
    def open_and_close(_: int) -> str | None:
        with Store.open(db_url) as store:
            return migrate.current_revision(store.engine)

    with ThreadPoolExecutor(max_workers=4) as pool:
        revisions = list(pool.map(open_and_close, range(4)))
    assert revisions == ["0001"] * 4
    with Store.open(db_url) as store, store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_constraint_names_follow_the_convention(db_url: str) -> None:
    with Store.open(db_url) as store:
        inspector = sa.inspect(store.engine)
        checks = [c["name"] for c in inspector.get_check_constraints("incidents")]
        keys = [k["name"] for k in inspector.get_foreign_keys("findings")]
    assert checks == ["ck_incidents_status"]
    assert keys == ["fk_findings_incident_id_incidents"]


def test_processes_migrating_at_once_all_succeed(db_url: str) -> None:
    code = (
        "import sys; from sekimori.store import Store, migrate; "
        "s = Store.open(sys.argv[1]); print(migrate.current_revision(s.engine))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    assert [out.strip() for out, _ in results] == ["0001"] * 3


def test_sqlite_accepts_a_migration_finished_by_another_process(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_store_engine(sqlite_url)
    other = create_store_engine(sqlite_url)
    real_upgrade = command.upgrade

    def raced(config: object, revision: str) -> None:
        migrate_other = migrate.alembic_config()
        with other.begin() as conn:
            migrate_other.attributes["connection"] = conn
            real_upgrade(migrate_other, revision)
        raise sa.exc.OperationalError("CREATE TABLE incidents", {}, Exception("already exists"))

    monkeypatch.setattr(command, "upgrade", raced)
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == "0001"
    finally:
        engine.dispose()
        other.dispose()


def test_a_real_migration_failure_is_not_hidden(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(config: object, revision: str) -> None:
        raise sa.exc.OperationalError("CREATE TABLE incidents", {}, Exception("disk I/O error"))

    monkeypatch.setattr(command, "upgrade", broken)
    engine = create_store_engine(sqlite_url)
    try:
        with pytest.raises(sa.exc.OperationalError):
            migrate.upgrade(engine)
    finally:
        engine.dispose()
