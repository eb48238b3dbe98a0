"""The tables of the store, in SQLAlchemy Core (no ORM).

Every row keeps the public JSON form of its object in ``doc`` (the contract of
``docs/output.md``); the other columns are copies of the fields that lists
filter and sort on. ``migrations/versions`` creates exactly these tables; a
test compares the two so that they cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from sekimori.model import utc

# Stable constraint names on every backend, so that later migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Analyst workflow of an incident.
STATUSES: tuple[str, ...] = ("new", "in_progress", "closed")

# JSON documents. Plain JSON on PostgreSQL too: JSONB refuses NUL characters (\u0000), and
# evidence is attacker-controlled text that must be kept verbatim.
Document = sa.JSON()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime.

    SQLite has no time zones: values are converted to UTC before they are
    written and tagged UTC when read. PostgreSQL uses ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; SQLite stores the naive UTC wall time."""
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            value = datetime.fromisoformat(str(value))
        return utc(value)


metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Text(), primary_key=True),
    sa.Column("tenant", sa.Text(), nullable=False),
    sa.Column("host_name", sa.Text(), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("severity_rank", sa.SmallInteger(), nullable=False),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("first_seen", UTCDateTime(), nullable=False),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="new"),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("finding_count", sa.Integer(), nullable=False),
    sa.Column("doc", Document, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('new', 'in_progress', 'closed')", name="status"),
    sa.Index("ix_incidents_tenant_host_name", "tenant", "host_name"),
    sa.Index("ix_incidents_severity_rank_score", "severity_rank", "score"),
    sa.Index("ix_incidents_last_seen", "last_seen"),
)

findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", sa.Text(), primary_key=True),
    sa.Column("tenant", sa.Text(), nullable=False),
    sa.Column("host_name", sa.Text(), nullable=False),
    sa.Column("timestamp", UTCDateTime(), nullable=False),
    sa.Column("rule_id", sa.Text(), nullable=False),
    sa.Column("rule_name", sa.Text(), nullable=False),
    sa.Column("ruleset", sa.Text(), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("severity_rank", sa.SmallInteger(), nullable=False),
    sa.Column("stage", sa.String(32), nullable=True),
    sa.Column(
        "incident_id",
        sa.Text(),
        sa.ForeignKey("incidents.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("doc", Document, nullable=False),
    sa.Column("stored_at", UTCDateTime(), nullable=False),
    sa.Index("ix_findings_tenant_host_name", "tenant", "host_name"),
    sa.Index("ix_findings_timestamp", "timestamp"),
    sa.Index("ix_findings_severity", "severity"),
    sa.Index("ix_findings_incident_id", "incident_id"),
)

ingested_files = sa.Table(
    "ingested_files",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text(), nullable=True),
    sa.Column("tenant", sa.Text(), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("events", sa.Integer(), nullable=False),
    sa.Column("skipped", sa.Integer(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("detail", Document, nullable=False),
    sa.Column("ingested_at", UTCDateTime(), nullable=False),
    sa.Index("ix_ingested_files_run_id", "run_id"),
    sa.Index("ix_ingested_files_ingested_at", "ingested_at"),
)
