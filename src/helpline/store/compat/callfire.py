"""Tables of the /compat/callfire API (seed 003): agent campaigns, their numbers, each dial.

A campaign row keeps its rules and status; a number row where it stands (the dialer's
`DialNumber`, written on every change), so a restart resumes the campaign without dialling a
finished number again; an attempt row per call placed, with its outcome and the agent's
response (disposition and notes, seed 003 storeAgentResponse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, ForeignKeyConstraint, Index, select, update
from sqlalchemy.orm import Mapped, mapped_column

from helpline.core.dialer import Dialer
from helpline.core.dialer_messages import (
    CampaignStatus,
    DialNumber,
    NumberState,
    Outcome,
    Rules,
    SaveAttempt,
    SaveResponse,
)
from helpline.store.base import Clock, SessionScope
from helpline.store.models import Base, BigId, CallRecordRow, Text, _tenant_fk


class CallfireCampaign(Base):
    __tablename__ = "callfire_campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk(index=True)
    name: Mapped[str]
    status: Mapped[str]  # core.dialer.CampaignStatus
    max_attempts: Mapped[int]
    busy_retry_s: Mapped[float]
    no_answer_retry_s: Mapped[float]
    caller_id: Mapped[str | None]
    answer_timeout_s: Mapped[float]
    created_at: Mapped[float]
    updated_at: Mapped[float]


class CallfireNumber(Base):
    __tablename__ = "callfire_numbers"
    __table_args__ = (
        ForeignKeyConstraint(["campaign_id"], ["callfire_campaigns.id"], ondelete="CASCADE"),
    )

    tenant_id: Mapped[str] = _tenant_fk(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number_id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str]  # core.dialer.NumberState
    attempts: Mapped[int]
    dials: Mapped[int]
    due_at: Mapped[float]
    outcome: Mapped[str | None]
    call_id: Mapped[str | None]


class CallfireAttempt(Base):
    __tablename__ = "callfire_attempts"
    __table_args__ = (
        ForeignKeyConstraint(["campaign_id"], ["callfire_campaigns.id"], ondelete="CASCADE"),
        Index(None, "tenant_id", "campaign_id", "number_id"),
    )

    tenant_id: Mapped[str] = _tenant_fk(primary_key=True)
    call_id: Mapped[str] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigId)
    number_id: Mapped[int]
    agent_id: Mapped[str]
    started_at: Mapped[float]
    ended_at: Mapped[float | None]
    outcome: Mapped[str | None]
    disposition: Mapped[str | None]
    notes: Mapped[str | None] = mapped_column(Text)


def dial_number(row: CallfireNumber) -> DialNumber:
    return DialNumber(
        number_id=row.number_id,
        number=row.number,
        data={str(k): str(v) for k, v in row.data.items()},
        state=NumberState(row.state),
        attempts=row.attempts,
        dials=row.dials,
        due_at=row.due_at,
        outcome=Outcome(row.outcome) if row.outcome else None,
        call_id=row.call_id,
    )


def rules_of(row: CallfireCampaign) -> Rules:
    return Rules(
        max_attempts=row.max_attempts,
        retry_delay_s={Outcome.BUSY: row.busy_retry_s, Outcome.NO_ANSWER: row.no_answer_retry_s},
        caller_id=row.caller_id,
        answer_timeout_s=row.answer_timeout_s,
    )


_CHUNK = 500  # rows per upsert: 11 parameters each, SQLite allows 32766 per statement
_NUMBER_FIELDS = ("number", "data", "state", "attempts", "dials", "due_at", "outcome", "call_id")


class CallfireRepository:
    """Campaigns, numbers and attempts of every tenant; each method takes the tenant."""

    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    # -- campaigns ---------------------------------------------------------------------------

    async def create_campaign(
        self,
        tenant_id: str,
        *,
        name: str,
        max_attempts: int,
        busy_retry_s: float,
        no_answer_retry_s: float,
        caller_id: str | None,
        answer_timeout_s: float,
    ) -> CallfireCampaign:
        now = self._clock()
        row = CallfireCampaign(
            tenant_id=tenant_id,
            name=name,
            status="setup",
            max_attempts=max_attempts,
            busy_retry_s=busy_retry_s,
            no_answer_retry_s=no_answer_retry_s,
            caller_id=caller_id,
            answer_timeout_s=answer_timeout_s,
            created_at=now,
            updated_at=now,
        )
        async with self._scope.begin() as s:
            s.add(row)
            await s.flush()
        return row

    async def get_campaign(self, tenant_id: str, campaign_id: int) -> CallfireCampaign | None:
        stmt = select(CallfireCampaign).where(
            CallfireCampaign.tenant_id == tenant_id, CallfireCampaign.id == campaign_id
        )
        async with self._scope.begin() as s:
            return (await s.scalars(stmt)).one_or_none()

    async def list_campaigns(self, tenant_id: str) -> list[CallfireCampaign]:
        stmt = (
            select(CallfireCampaign)
            .where(CallfireCampaign.tenant_id == tenant_id)
            .order_by(CallfireCampaign.id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    async def load_dialers(self, tenant_id: str, now: float) -> list[Dialer]:
        """Every campaign of the tenant as a dialer, where it stood (after a restart). Attempts
        still open (their call was live when the process stopped) are closed first."""
        await self.close_open_attempts(tenant_id, now)
        dialers = []
        for campaign in await self.list_campaigns(tenant_id):
            numbers = await self.list_numbers(tenant_id, campaign.id)
            dialers.append(
                Dialer(
                    str(campaign.id),
                    rules_of(campaign),
                    status=CampaignStatus(campaign.status),
                    numbers=[dial_number(n) for n in numbers],
                    now=now,
                )
            )
        return dialers

    async def save_campaign_status(self, tenant_id: str, campaign_id: int, status: str) -> None:
        stmt = (
            update(CallfireCampaign)
            .where(CallfireCampaign.tenant_id == tenant_id, CallfireCampaign.id == campaign_id)
            .values(status=status, updated_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            await s.execute(stmt)

    # -- numbers -----------------------------------------------------------------------------

    async def save_numbers(
        self, tenant_id: str, campaign_id: int, numbers: Sequence[DialNumber]
    ) -> None:
        """Numbers as they stand: one transaction, multi-row upserts (`_CHUNK` rows each, which
        keeps a statement under SQLite's limit of bound parameters)."""
        rows = [
            {
                "tenant_id": tenant_id,
                "campaign_id": campaign_id,
                "number_id": n.number_id,
                "number": n.number,
                "data": dict(n.data),
                "state": n.state.value,
                "attempts": n.attempts,
                "dials": n.dials,
                "due_at": n.due_at,
                "outcome": n.outcome.value if n.outcome else None,
                "call_id": n.call_id,
            }
            for n in numbers
        ]
        async with self._scope.begin() as s:
            for start in range(0, len(rows), _CHUNK):
                stmt = self._scope.insert(CallfireNumber).values(rows[start : start + _CHUNK])
                stmt = stmt.on_conflict_do_update(
                    index_elements=["tenant_id", "campaign_id", "number_id"],
                    set_={name: stmt.excluded[name] for name in _NUMBER_FIELDS},
                )
                await s.execute(stmt)

    async def list_numbers(self, tenant_id: str, campaign_id: int) -> list[CallfireNumber]:
        stmt = (
            select(CallfireNumber)
            .where(CallfireNumber.tenant_id == tenant_id, CallfireNumber.campaign_id == campaign_id)
            .order_by(CallfireNumber.number_id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    # -- attempts ----------------------------------------------------------------------------

    async def save_attempt(self, tenant_id: str, campaign_id: int, attempt: SaveAttempt) -> None:
        """The dial when placed (no outcome), then its outcome when it ends."""
        if attempt.outcome is None:
            stmt = self._scope.insert(CallfireAttempt).values(
                tenant_id=tenant_id,
                call_id=attempt.call_id,
                campaign_id=campaign_id,
                number_id=attempt.number_id,
                agent_id=attempt.agent_id,
                started_at=attempt.at,
            )
            async with self._scope.begin() as s:
                await s.execute(
                    stmt.on_conflict_do_nothing(index_elements=["tenant_id", "call_id"])
                )
            return
        done = (
            update(CallfireAttempt)
            .where(
                CallfireAttempt.tenant_id == tenant_id, CallfireAttempt.call_id == attempt.call_id
            )
            .values(ended_at=attempt.at, outcome=attempt.outcome.value)
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            await s.execute(done)

    async def save_response(self, tenant_id: str, campaign_id: int, response: SaveResponse) -> None:
        stmt = (
            update(CallfireAttempt)
            .where(
                CallfireAttempt.tenant_id == tenant_id, CallfireAttempt.call_id == response.call_id
            )
            .values(disposition=response.disposition, notes=response.notes)
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            await s.execute(stmt)

    async def close_open_attempts(self, tenant_id: str, now: float) -> int:
        """Give every attempt without an outcome the one its call record gives (the restart
        closed the live call with a record): `answered` if the customer was connected, else
        `not_dialed` (the dialer no longer knows how far the call got, and dials the number
        again without counting it). No record: `not_dialed`, ended now."""
        opened = (
            select(CallfireAttempt, CallRecordRow.result, CallRecordRow.ended_at)
            .outerjoin(
                CallRecordRow,
                (CallRecordRow.tenant_id == CallfireAttempt.tenant_id)
                & (CallRecordRow.call_id == CallfireAttempt.call_id),
            )
            .where(CallfireAttempt.tenant_id == tenant_id, CallfireAttempt.outcome.is_(None))
        )
        async with self._scope.begin() as s:
            found = (await s.execute(opened)).all()
            for attempt, result, ended_at in found:
                answered = result == "answered"
                attempt.outcome = (Outcome.ANSWERED if answered else Outcome.NOT_DIALED).value
                attempt.ended_at = ended_at if ended_at is not None else now
        return len(found)

    async def call_end(self, tenant_id: str, call_id: str) -> tuple[str, str] | None:
        """The (result, end reason) of a call's record, None while it is not written."""
        stmt = select(CallRecordRow.result, CallRecordRow.end_reason).where(
            CallRecordRow.tenant_id == tenant_id, CallRecordRow.call_id == call_id
        )
        async with self._scope.begin() as s:
            row = (await s.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def list_attempts(self, tenant_id: str, campaign_id: int) -> list[CallfireAttempt]:
        stmt = (
            select(CallfireAttempt)
            .where(
                CallfireAttempt.tenant_id == tenant_id, CallfireAttempt.campaign_id == campaign_id
            )
            .order_by(CallfireAttempt.started_at, CallfireAttempt.call_id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())
