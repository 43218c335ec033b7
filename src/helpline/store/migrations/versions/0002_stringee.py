"""Tables of the /compat/stringee API (issue 5): projects, API keys, id mappings.

Written out in full, like 0001 (it must not change when the models do).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant(table: str) -> tuple[sa.Column[str], sa.ForeignKeyConstraint]:
    return (
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
    )


def upgrade() -> None:
    op.create_table(
        "stringee_projects",
        sa.Column("project_id", BIG_ID, autoincrement=True, nullable=False),
        *_tenant("stringee_projects"),
        sa.Column("event_url", sa.Text(), nullable=True),
        sa.Column("callout_answer_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_stringee_projects"),
        sa.UniqueConstraint("tenant_id", name="uq_stringee_projects_tenant_id"),
    )
    op.create_table(
        "stringee_keys",
        sa.Column("sid", sa.String(), nullable=False),
        *_tenant("stringee_keys"),
        sa.Column("secret", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("sid", name="pk_stringee_keys"),
    )
    op.create_index("ix_stringee_keys_tenant_id", "stringee_keys", ["tenant_id"])
    op.create_table(
        "stringee_ids",
        *_tenant("stringee_ids"),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("stringee_id", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "stringee_id", name="pk_stringee_ids"),
        sa.UniqueConstraint("tenant_id", "kind", "ref", name="uq_stringee_ids_tenant_id_kind_ref"),
    )
    op.create_index(
        "ix_stringee_ids_tenant_id_kind_created_at",
        "stringee_ids",
        ["tenant_id", "kind", "created_at"],
    )


def downgrade() -> None:
    for table in ("stringee_ids", "stringee_keys", "stringee_projects"):
        op.drop_table(table)  # its indexes go with it
