"""The outbox's message ids unique per tenant.

A message id (the Standard Webhooks `webhook-id`) names one message for all its retries; the
runtime's retry of a write whose first try may have committed unseen looks it up
(`OutboxRepository.enqueue(if_absent=True)`) so nothing is queued twice. The lookup had no
index of its own, and two messages of one id could exist. Now `(tenant_id, message_id)` is a
unique index: the lookup is one index probe, and a second message of an id cannot be stored.

A database that somehow holds duplicates keeps the first of each (the lowest id): the others
are the same message again, which a receiver would have dropped by its webhook-id anyway.

Written out in full, like 0001 (it must not change when the models do).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_outbox_tenant_id_message_id"


def upgrade() -> None:
    op.execute(
        "DELETE FROM outbox WHERE id NOT IN "
        "(SELECT MIN(id) FROM outbox GROUP BY tenant_id, message_id)"
    )
    op.create_index(INDEX, "outbox", ["tenant_id", "message_id"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="outbox")
