"""Initial schema: incidents, findings, ingested files.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DOC = sa.JSON()


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "incidents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("host_name", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("severity_rank", sa.SmallInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        _ts("first_seen"),
        _ts("last_seen"),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("finding_count", sa.Integer(), nullable=False),
        sa.Column("doc", _DOC, nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.CheckConstraint(
            "status IN ('new', 'in_progress', 'closed')", name=op.f("ck_incidents_status")
        ),
    )
    op.create_index(op.f("ix_incidents_tenant_host_name"), "incidents", ["tenant", "host_name"])
    op.create_index(
        op.f("ix_incidents_severity_rank_score"), "incidents", ["severity_rank", "score"]
    )
    op.create_index(op.f("ix_incidents_last_seen"), "incidents", ["last_seen"])

    op.create_table(
        "findings",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("host_name", sa.Text(), nullable=False),
        _ts("timestamp"),
        sa.Column("rule_id", sa.Text(), nullable=False),
        sa.Column("rule_name", sa.Text(), nullable=False),
        sa.Column("ruleset", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("severity_rank", sa.SmallInteger(), nullable=False),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("incident_id", sa.Text(), nullable=True),
        sa.Column("doc", _DOC, nullable=False),
        _ts("stored_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_findings_incident_id_incidents"),
            ondelete="SET NULL",
        ),
    )
    op.create_index(op.f("ix_findings_tenant_host_name"), "findings", ["tenant", "host_name"])
    op.create_index(op.f("ix_findings_timestamp"), "findings", ["timestamp"])
    op.create_index(op.f("ix_findings_severity"), "findings", ["severity"])
    op.create_index(op.f("ix_findings_incident_id"), "findings", ["incident_id"])

    op.create_table(
        "ingested_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("detail", _DOC, nullable=False),
        _ts("ingested_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingested_files")),
    )
    op.create_index(op.f("ix_ingested_files_run_id"), "ingested_files", ["run_id"])
    op.create_index(op.f("ix_ingested_files_ingested_at"), "ingested_files", ["ingested_at"])


def downgrade() -> None:
    """Drop everything ``upgrade`` created."""
    op.drop_table("ingested_files")
    op.drop_table("findings")
    op.drop_table("incidents")
