"""Tables of the /compat/ccai API (seed 004): call ids and tickets.

- `ccai_calls`: the vendor's call object has an integer `id` (seed 004 "Sample API response":
  `"id": 6868`); Helpline's calls have string ids. One row per callback call made through
  the API maps the one onto the other and keeps what the request said (menu, language,
  ticket, numbers), so `GET calls/{id}` can answer the same call object later.
- `ccai_tickets`: seed 004 "Ticket ID": a given `ticket_id` pops that ticket; without one,
  the "standard find/create ticket process" reuses the end user's open ticket for the menu,
  else opens a new one. A ticket is open until a call on it has reached an agent (the
  request it stands for has been served); `close_ticket` marks that. An end user has at most
  one open ticket per menu (a partial unique index): concurrent requests share it, and a
  ticket id given by the client for a new ticket supersedes (closes) the open one.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Index, delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from helpline.core.errors import Conflict
from helpline.store.base import Clock, SessionScope
from helpline.store.models import Base, BigId, _tenant_fk
from helpline.store.tenants import require_tenant


class CcaiCall(Base):
    """A callback call made through `POST /compat/ccai/apps/api/v1/calls`."""

    __tablename__ = "ccai_calls"
    __table_args__ = (Index(None, "tenant_id", "call_id", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    call_id: Mapped[str]  # the Helpline call id
    menu_id: Mapped[int]
    lang: Mapped[str]
    ticket_id: Mapped[str]
    end_user_number: Mapped[str]  # the number dialled (the ticket's, when a ticket is given)
    outbound_number: Mapped[str | None]  # what the customer sees (seed 004 outbound logic)
    recording_permission: Mapped[str]
    created_at: Mapped[float]


class CcaiTicket(Base):
    """A ticket calls are assigned to (`out_ticket_id` of the call object)."""

    __tablename__ = "ccai_tickets"
    __table_args__ = (
        Index(None, "tenant_id", "ticket_id", unique=True),
        # one open ticket per end user and menu (seed 004 find/create): concurrent callbacks
        # for the same end user find or create the same one (`create_ticket`)
        Index(
            None,
            "tenant_id",
            "end_user_number",
            "menu_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    ticket_id: Mapped[str]  # given by the client (a CRM's ticket) or made here (`HL-...`)
    end_user_number: Mapped[str]
    menu_id: Mapped[int]
    created_at: Mapped[float]
    closed_at: Mapped[float | None]


class CcaiRepository:
    """Every read filters by tenant: another tenant's ids look like they do not exist."""

    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    # -- tickets ---------------------------------------------------------------------------

    async def get_ticket(self, tenant_id: str, ticket_id: str) -> CcaiTicket | None:
        stmt = select(CcaiTicket).where(
            CcaiTicket.tenant_id == tenant_id, CcaiTicket.ticket_id == ticket_id
        )
        async with self._scope.begin() as s:
            return (await s.scalars(stmt)).one_or_none()

    async def open_ticket_for(
        self, tenant_id: str, end_user_number: str, menu_id: int
    ) -> CcaiTicket | None:
        """The end user's newest open ticket for the menu, if any."""
        stmt = (
            select(CcaiTicket)
            .where(
                CcaiTicket.tenant_id == tenant_id,
                CcaiTicket.end_user_number == end_user_number,
                CcaiTicket.menu_id == menu_id,
                CcaiTicket.closed_at.is_(None),
            )
            .order_by(CcaiTicket.id.desc())
            .limit(1)
        )
        async with self._scope.begin() as s:
            return (await s.scalars(stmt)).one_or_none()

    async def create_ticket(
        self,
        tenant_id: str,
        *,
        end_user_number: str,
        menu_id: int,
        ticket_id: str | None = None,
    ) -> CcaiTicket:
        """The ticket `ticket_id` (made if new; it supersedes the end user's open ticket for
        the menu), else the end user's open ticket for the menu, made (`HL-...`) if none.
        Requests racing for the same ticket get the same one: insert-on-conflict, then read."""
        for _ in range(3):  # a given id racing a made one for the same end user: once more
            try:
                if ticket_id is None:
                    return await self._find_or_make(tenant_id, end_user_number, menu_id)
                return await self._given(tenant_id, ticket_id, end_user_number, menu_id)
            except IntegrityError:
                continue
        raise Conflict(  # three races lost in a row: let the client try again
            "the end user's ticket is being changed by another request; try again",
            details={"field": "ticket_id"},
        )

    def _values(self, tenant_id: str, ticket_id: str, number: str, menu_id: int) -> dict[str, Any]:
        return {
            "tenant_id": tenant_id,
            "ticket_id": ticket_id,
            "end_user_number": number,
            "menu_id": menu_id,
            "created_at": self._clock(),
            "closed_at": None,
        }

    async def _find_or_make(self, tenant_id: str, number: str, menu_id: int) -> CcaiTicket:
        values = self._values(tenant_id, f"HL-{secrets.token_hex(6)}", number, menu_id)
        insert = (
            self._scope.insert(CcaiTicket)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "end_user_number", "menu_id"],
                index_where=CcaiTicket.closed_at.is_(None),
            )
        )
        found = select(CcaiTicket).where(
            CcaiTicket.tenant_id == tenant_id,
            CcaiTicket.end_user_number == number,
            CcaiTicket.menu_id == menu_id,
            CcaiTicket.closed_at.is_(None),
        )
        async with self._scope.begin() as s:
            await require_tenant(s, tenant_id)
            await s.execute(insert)
            return (await s.scalars(found)).one()

    async def _given(self, tenant_id: str, ticket_id: str, number: str, menu_id: int) -> CcaiTicket:
        found = select(CcaiTicket).where(
            CcaiTicket.tenant_id == tenant_id, CcaiTicket.ticket_id == ticket_id
        )
        supersede = (
            update(CcaiTicket)
            .where(
                CcaiTicket.tenant_id == tenant_id,
                CcaiTicket.end_user_number == number,
                CcaiTicket.menu_id == menu_id,
                CcaiTicket.closed_at.is_(None),
                CcaiTicket.ticket_id != ticket_id,
            )
            .values(closed_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        insert = (
            self._scope.insert(CcaiTicket)
            .values(**self._values(tenant_id, ticket_id, number, menu_id))
            .on_conflict_do_nothing(index_elements=["tenant_id", "ticket_id"])
        )
        async with self._scope.begin() as s:
            await require_tenant(s, tenant_id)
            existing = (await s.scalars(found)).one_or_none()
            if existing is not None:
                return existing
            await s.execute(supersede)
            await s.execute(insert)
            return (await s.scalars(found)).one()

    async def close_ticket(self, tenant_id: str, ticket_id: str) -> None:
        stmt = (
            update(CcaiTicket)
            .where(
                CcaiTicket.tenant_id == tenant_id,
                CcaiTicket.ticket_id == ticket_id,
                CcaiTicket.closed_at.is_(None),
            )
            .values(closed_at=self._clock())
        )
        async with self._scope.begin() as s:
            await s.execute(stmt)

    # -- calls -----------------------------------------------------------------------------

    async def add_call(
        self,
        tenant_id: str,
        *,
        call_id: str,
        menu_id: int,
        lang: str,
        ticket_id: str,
        end_user_number: str,
        outbound_number: str | None,
        recording_permission: str,
    ) -> CcaiCall:
        async with self._scope.begin() as s:
            await require_tenant(s, tenant_id)
            row = CcaiCall(
                tenant_id=tenant_id,
                call_id=call_id,
                menu_id=menu_id,
                lang=lang,
                ticket_id=ticket_id,
                end_user_number=end_user_number,
                outbound_number=outbound_number,
                recording_permission=recording_permission,
                created_at=self._clock(),
            )
            s.add(row)
            await s.flush()
        return row

    async def remove_call(self, tenant_id: str, row_id: int) -> None:
        """Undo `add_call` when the engine refused the call."""
        stmt = delete(CcaiCall).where(CcaiCall.tenant_id == tenant_id, CcaiCall.id == row_id)
        async with self._scope.begin() as s:
            await s.execute(stmt)

    async def get_call(self, tenant_id: str, row_id: int) -> CcaiCall | None:
        stmt = select(CcaiCall).where(CcaiCall.tenant_id == tenant_id, CcaiCall.id == row_id)
        async with self._scope.begin() as s:
            return (await s.scalars(stmt)).one_or_none()

    async def calls_of_ticket(self, tenant_id: str, ticket_id: str) -> list[CcaiCall]:
        stmt = (
            select(CcaiCall)
            .where(CcaiCall.tenant_id == tenant_id, CcaiCall.ticket_id == ticket_id)
            .order_by(CcaiCall.id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())
