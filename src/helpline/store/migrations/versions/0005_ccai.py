"""Tables of the /compat/ccai API (issue 5): callback call ids and tickets (seed 004).

Written out in full, like 0001 (it must not change when the models do).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT ids that autoincrement (SQLite only makes an INTEGER PRIMARY KEY a rowid alias)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant(table: str) -> tuple[sa.Column[str], sa.ForeignKeyConstraint]:
    return (
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
    )


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ccai_calls",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        *_tenant("ccai_calls"),
        _text("call_id"),
        sa.Column("menu_id", sa.Integer(), nullable=False),
        _text("lang"),
        _text("ticket_id"),
        _text("end_user_number"),
        _text("outbound_number", nullable=True),
        _text("recording_permission"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_ccai_calls"),
    )
    op.create_index(
        "ix_ccai_calls_tenant_id_call_id", "ccai_calls", ["tenant_id", "call_id"], unique=True
    )
    op.create_table(
        "ccai_tickets",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        *_tenant("ccai_tickets"),
        _text("ticket_id"),
        _text("end_user_number"),
        sa.Column("menu_id", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("closed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ccai_tickets"),
    )
    op.create_index(
        "ix_ccai_tickets_tenant_id_ticket_id",
        "ccai_tickets",
        ["tenant_id", "ticket_id"],
        unique=True,
    )
    # one open ticket per end user and menu: concurrent callbacks find/create the same one
    op.create_index(
        "ix_ccai_tickets_tenant_id_end_user_number_menu_id",
        "ccai_tickets",
        ["tenant_id", "end_user_number", "menu_id"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("ccai_tickets")
    op.drop_table("ccai_calls")
