"""Run the store's Alembic migrations from the installed package (no alembic.ini).

The migration scripts are package data under ``sekimori/store/migrations``;
``upgrade`` points an in-memory Alembic ``Config`` at that folder and hands it
the caller's connection, so the same code migrates SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
import time
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

log = logging.getLogger(__name__)

# Seconds a SQLite migration waits for a concurrent one to finish.
SQLITE_MIGRATION_WAIT = 30.0
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
        if engine.dialect.name != "sqlite" or not _reaches(engine, wanted):
            raise
        log.info("store was migrated by another process meanwhile")
    log.debug("store migrated to %s", revision)


def _reaches(engine: Engine, wanted: str | None) -> bool:
    """True once another process's migration has brought the database to ``wanted``.

    SQLite runs each DDL statement in its own transaction, so the other
    process may have created the tables but not yet stamped the revision:
    give it a moment before calling the failure real.
    """
    deadline = time.monotonic() + SQLITE_MIGRATION_WAIT
    while True:
        if current_revision(engine) == wanted:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
