"""Run the store's Alembic migrations from the installed package (no alembic.ini).

The migration scripts are package data under ``sekimori/store/migrations``;
``upgrade`` points an in-memory Alembic ``Config`` at that folder and hands it
the caller's connection, so the same code migrates SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

log = logging.getLogger(__name__)


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
    """Bring the database up to ``revision`` (the newest by default)."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    log.debug("store migrated to %s", revision)
