"""Browser calls, second round (issue 6): the wallboard's covering index and voicemail URLs.

- `ix_call_records_tenant_id_ended_at_queue_id_result_wait_s`: the day's figures per queue
  (`records.queue_figures`) are one range scan of this index, never of the table's rows.
- `call_records.voicemail_url`: where the caller's voicemail message is served.

Written out in full, like 0001 (it must not change when the models do).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES_INDEX = "ix_call_records_tenant_id_ended_at_queue_id_result_wait_s"


def upgrade() -> None:
    op.create_index(
        FIGURES_INDEX, "call_records", ["tenant_id", "ended_at", "queue_id", "result", "wait_s"]
    )
    # batch: SQLite cannot drop a column in place (the downgrade); adding is plain ALTER
    with op.batch_alter_table("call_records") as table:
        table.add_column(sa.Column("voicemail_url", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_records") as table:
        table.drop_column("voicemail_url")
    op.drop_index(FIGURES_INDEX, table_name="call_records")
