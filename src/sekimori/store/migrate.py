"""Run the store's Alembic migrations from the installed package (no alembic.ini).

The migration scripts are package data under ``sekimori/store/migrations``;
``upgrade`` points an in-memory Alembic ``Config`` at that folder and hands it
the caller's connection, so the same code migrates SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock that serializes migrations of one database.
MIGRATION_LOCK = 0x5E4B1_0001
# Alembic's ``context`` and ``op`` are module-global proxies: one migration per process at a time.
_IN_PROCESS = threading.Lock()


def alembic_config() -> Config:
    """An Alembic configuration whose scripts are the packaged migrations."""
    config = Config()
    folder = resources.files("sekimori.store") / "migrations"
    config.set_main_option("script_location", str(folder))
    return config


def head_revision() -> str | None:
    """The newest revision shipped with this version of Sekimori."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` when it was never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (the newest by default).

    Safe when several processes open a fresh database at once (workers starting
    together): PostgreSQL migrations hold an advisory lock for their
    transaction; on SQLite, whose DDL is not serialized the same way, a
    migration that failed because another process got there first is accepted
    once the database is found at the wanted revision.
    """
    config = alembic_config()
    try:
        with _IN_PROCESS, engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except (OperationalError, ProgrammingError):
        wanted = head_revision() if revision == "head" else revision
        if engine.dialect.name != "sqlite" or current_revision(engine) != wanted:
            raise
        log.info("store was migrated by another process meanwhile")
    log.debug("store migrated to %s", revision)
