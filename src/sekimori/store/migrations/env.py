"""Alembic environment: runs the store's migrations on a given connection.

``sekimori.store.migrate`` passes an open connection in
``config.attributes["connection"]``; a ``sqlalchemy.url`` main option is used
otherwise. Offline mode (``alembic upgrade --sql``) prints the SQL instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from sekimori.errors import StoreError
from sekimori.store.schema import metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Print the migration SQL for ``sqlalchemy.url``'s dialect."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate the connection given by the caller, or one opened from the URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise StoreError("no connection and no sqlalchemy.url to migrate", where="alembic")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _configure(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
