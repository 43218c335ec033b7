"""Tables of the /compat/alotech API (issue 5): none.

The Alo-Tech API keeps nothing of its own: its sessions are Helpline's agent sessions, its
app tokens Helpline's, its CDRs the call records, and a click2call's transaction id and
hangup_url live in the call's data. The revision stays so the chain 0002-0005 is unbroken.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
