"""The initial schema: tenants, credentials, center documents, call records, live calls,
webhooks and their outbox, recordings metadata and the event log.

Written out in full (it must not change when the models do); `tests/store/
test_store_migrations.py` checks that it creates exactly what `helpline.store.models` defines.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT ids that autoincrement (SQLite only makes an INTEGER PRIMARY KEY a rowid alias)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant(table: str) -> tuple[sa.Column[str], sa.ForeignKeyConstraint]:
    """The `tenant_id` column every table has, with its cascading foreign key."""
    return (
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
    )


def _time(name: str, *, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "tenants",
        _text("id"),
        _text("name"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_table(
        "api_keys",
        _text("id"),
        *_tenant("api_keys"),
        _text("secret_hash"),
        _text("label"),
        _time("created_at"),
        _time("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "agent_sessions",
        _text("token_hash"),
        *_tenant("agent_sessions"),
        _text("agent_id"),
        _time("created_at"),
        _time("expires_at"),
        _time("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_agent_sessions"),
    )
    op.create_index(
        "ix_agent_sessions_tenant_id_agent_id_created_at",
        "agent_sessions",
        ["tenant_id", "agent_id", "created_at"],
    )
    op.create_table(
        "app_tokens",
        _text("id"),
        *_tenant("app_tokens"),
        _text("token_hash"),
        _text("label"),
        _time("created_at"),
        _time("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_app_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_app_tokens_token_hash"),
    )
    op.create_index("ix_app_tokens_tenant_id", "app_tokens", ["tenant_id"])
    op.create_table(
        "center_configs",
        *_tenant("center_configs"),
        sa.Column("version", sa.Integer(), nullable=False),
        _json("document"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_center_configs"),
    )
    op.create_table(
        "call_records",
        *_tenant("call_records"),
        _text("call_id"),
        _text("direction"),
        _text("from_number"),
        _text("to_number"),
        _text("result"),
        _text("disconnected_by"),
        _text("end_reason"),
        _time("created_at"),
        _time("queued_at", nullable=True),
        _time("offered_at", nullable=True),
        _time("answered_at", nullable=True),
        _time("ended_at"),
        _time("wait_s"),
        _time("talk_s"),
        _time("hold_s"),
        _time("wrap_up_s", nullable=True),
        _text("queue_id", nullable=True),
        _text("agent_id", nullable=True),
        _text("ivr_tree", nullable=True),
        _json("ivr_path"),
        _text("keys"),
        sa.Column("priority", sa.Integer(), nullable=False),
        _json("legs"),
        _json("decisions"),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        _text("recording_url", nullable=True),
        _text("disposition", nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        _json("data"),
        sa.PrimaryKeyConstraint("tenant_id", "call_id", name="pk_call_records"),
    )
    op.create_index(
        "ix_call_records_tenant_id_ended_at_call_id",
        "call_records",
        ["tenant_id", "ended_at", "call_id"],
    )
    op.create_table(
        "live_calls",
        *_tenant("live_calls"),
        _text("call_id"),
        _time("started_at"),
        _json("data"),
        sa.PrimaryKeyConstraint("tenant_id", "call_id", name="pk_live_calls"),
    )
    op.create_table(
        "webhook_subscriptions",
        _text("id"),
        *_tenant("webhook_subscriptions"),
        sa.Column("url", sa.Text(), nullable=False),
        _text("secret"),
        _json("event_types"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _text("disabled_reason", nullable=True),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
    )
    op.create_index("ix_webhook_subscriptions_tenant_id", "webhook_subscriptions", ["tenant_id"])
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        *_tenant("outbox"),
        _text("kind"),
        _text("subscription_id", nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        _text("method"),
        _json("headers"),
        sa.Column("body", sa.Text(), nullable=False),
        _text("message_id"),
        _text("status"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at"),
        _time("created_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name="fk_outbox_subscription_id_webhook_subscriptions",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_subscription_id", "outbox", ["subscription_id"])
    op.create_index("ix_outbox_tenant_id", "outbox", ["tenant_id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        *_tenant("delivery_attempts"),
        _time("at"),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _time("duration_ms"),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name="fk_delivery_attempts_outbox_id_outbox",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempts"),
    )
    op.create_index("ix_delivery_attempts_outbox_id", "delivery_attempts", ["outbox_id"])
    op.create_index("ix_delivery_attempts_tenant_id_id", "delivery_attempts", ["tenant_id", "id"])
    op.create_table(
        "recordings",
        _text("id"),
        *_tenant("recordings"),
        _text("call_id"),
        sa.Column("url", sa.Text(), nullable=False),
        _time("duration_s", nullable=True),
        _text("content_type"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
    )
    op.create_index("ix_recordings_tenant_id_call_id", "recordings", ["tenant_id", "call_id"])
    op.create_table(
        "event_log",
        *_tenant("event_log"),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        _time("at"),
        _text("kind"),
        _json("data"),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_event_log"),
    )


def downgrade() -> None:
    for table in (
        "event_log",
        "recordings",
        "delivery_attempts",
        "outbox",
        "webhook_subscriptions",
        "live_calls",
        "call_records",
        "center_configs",
        "app_tokens",
        "agent_sessions",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)  # its indexes go with it
