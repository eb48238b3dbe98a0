from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import sekimori.store
from sekimori.store import Store, migrate
from sekimori.store.schema import metadata


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
