"""The store: findings, incidents and ingest reports in SQLite or PostgreSQL.

SQLAlchemy Core tables (``schema.py``), Alembic migrations shipped inside the
package (``migrations/``), and the ``Store`` that reads and writes them.
"""

from __future__ import annotations

from sekimori.store.location import data_dir, default_db_url
from sekimori.store.store import IncidentDetail, Store

__all__ = ["IncidentDetail", "Store", "data_dir", "default_db_url"]
