"""Tables of the /compat/callfire API (issue 5, seed 003): campaigns, numbers, attempts.

Written out in full, like 0001 (it must not change when the models do).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
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


def _campaign(table: str) -> tuple[sa.Column[int], sa.ForeignKeyConstraint]:
    return (
        sa.Column("campaign_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["callfire_campaigns.id"],
            name=f"fk_{table}_campaign_id_callfire_campaigns",
            ondelete="CASCADE",
        ),
    )


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _float(name: str, *, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def _int(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "callfire_campaigns",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        *_tenant("callfire_campaigns"),
        _text("name"),
        _text("status"),
        _int("max_attempts"),
        _float("busy_retry_s"),
        _float("no_answer_retry_s"),
        _text("caller_id", nullable=True),
        _float("answer_timeout_s"),
        _float("created_at"),
        _float("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_callfire_campaigns"),
    )
    op.create_index("ix_callfire_campaigns_tenant_id", "callfire_campaigns", ["tenant_id"])
    op.create_table(
        "callfire_numbers",
        *_tenant("callfire_numbers"),
        *_campaign("callfire_numbers"),
        _int("number_id"),
        _text("number"),
        sa.Column("data", sa.JSON(), nullable=False),
        _text("state"),
        _int("attempts"),
        _int("dials"),
        _float("due_at"),
        _text("outcome", nullable=True),
        _text("call_id", nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id", "campaign_id", "number_id", name="pk_callfire_numbers"
        ),
    )
    op.create_table(
        "callfire_attempts",
        *_tenant("callfire_attempts"),
        _text("call_id"),
        *_campaign("callfire_attempts"),
        _int("number_id"),
        _text("agent_id"),
        _float("started_at"),
        _float("ended_at", nullable=True),
        _text("outcome", nullable=True),
        _text("disposition", nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "call_id", name="pk_callfire_attempts"),
    )
    op.create_index(
        "ix_callfire_attempts_tenant_id_campaign_id_number_id",
        "callfire_attempts",
        ["tenant_id", "campaign_id", "number_id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_callfire_attempts_tenant_id_campaign_id_number_id", table_name="callfire_attempts"
    )
    op.drop_table("callfire_attempts")
    op.drop_table("callfire_numbers")
    op.drop_index("ix_callfire_campaigns_tenant_id", table_name="callfire_campaigns")
    op.drop_table("callfire_campaigns")
