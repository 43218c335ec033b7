"""What happened: the append-only event log and the metadata of call recordings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from helpline.store.base import (
    Clock,
    Page,
    SessionScope,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    fetch_page,
    new_id,
)
from helpline.store.models import CallRecordRow, EventLogEntry, Recording

_RECORDINGS_CURSOR = "rcd"


class EventLogRepository:
    """Append-only, per tenant, numbered from 1 without gaps.

    The next `seq` is taken in the INSERT itself. One writer per tenant is assumed (the
    tenant's engine runs on one node at a time): two concurrent appends of one tenant on
    PostgreSQL could both take the same number, and the second would fail on the primary key.
    """

    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    async def append(
        self, tenant_id: str, kind: str, data: Mapping[str, Any], *, at: float | None = None
    ) -> int:
        """Append one event; its `seq`."""
        next_seq = (
            select(func.coalesce(func.max(EventLogEntry.seq), 0) + 1)
            .where(EventLogEntry.tenant_id == tenant_id)
            .scalar_subquery()
        )
        stmt = (
            self._scope.insert(EventLogEntry)
            .values(
                tenant_id=tenant_id,
                seq=next_seq,
                at=self._clock() if at is None else at,
                kind=kind,
                data=dict(data),
            )
            .returning(EventLogEntry.seq)
        )
        async with self._scope.begin() as s:
            return int((await s.execute(stmt)).scalar_one())

    async def read(
        self, tenant_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[EventLogEntry]:
        """Events with `seq > after_seq`, in order, at most `limit` (capped)."""
        stmt = (
            select(EventLogEntry)
            .where(EventLogEntry.tenant_id == tenant_id, EventLogEntry.seq > after_seq)
            .order_by(EventLogEntry.seq)
            .limit(clamp_limit(limit))
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    async def last_seq(self, tenant_id: str) -> int:
        """The `seq` of the tenant's last event; 0 when there is none."""
        stmt = select(func.coalesce(func.max(EventLogEntry.seq), 0)).where(
            EventLogEntry.tenant_id == tenant_id
        )
        async with self._scope.begin() as s:
            return int((await s.execute(stmt)).scalar_one())


class RecordingsRepository:
    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    async def add_recording(
        self,
        tenant_id: str,
        call_id: str,
        url: str,
        *,
        content_type: str = "audio/wav",
        duration_s: float | None = None,
        recording_id: str | None = None,
    ) -> Recording:
        """Keep a recording's metadata; the call's record (if written) points to it.

        With `recording_id`, idempotent: a second call with the same id (the retry of a write
        whose first try committed unseen) keeps the row there and changes nothing.
        """
        row = Recording(
            id=recording_id or new_id("rcd"),
            tenant_id=tenant_id,
            call_id=call_id,
            url=url,
            duration_s=duration_s,
            content_type=content_type,
            created_at=self._clock(),
        )
        async with self._scope.begin() as s:
            if recording_id is not None:
                there = await s.get(Recording, recording_id)
                if there is not None:
                    return there
            s.add(row)
            await s.flush()
            await s.execute(
                update(CallRecordRow)
                .where(CallRecordRow.tenant_id == tenant_id, CallRecordRow.call_id == call_id)
                .values(recorded=True, recording_url=url)
                .execution_options(synchronize_session=False)
            )
        return row

    async def get_recording(self, tenant_id: str, recording_id: str) -> Recording | None:
        stmt = select(Recording).where(
            Recording.tenant_id == tenant_id, Recording.id == recording_id
        )
        async with self._scope.begin() as s:
            return (await s.scalars(stmt)).one_or_none()

    async def list_recordings(
        self,
        tenant_id: str,
        *,
        call_id: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Recording]:
        """Recordings oldest first, by keyset on (created_at, id); of one call if given."""
        size = clamp_limit(limit)
        stmt = select(Recording).where(Recording.tenant_id == tenant_id)
        if call_id is not None:
            stmt = stmt.where(Recording.call_id == call_id)
        if cursor is not None:
            after_at, after_id = decode_cursor(cursor, _RECORDINGS_CURSOR, (float, str))
            stmt = stmt.where(
                or_(
                    Recording.created_at > after_at,
                    and_(Recording.created_at == after_at, Recording.id > after_id),
                )
            )
        stmt = stmt.order_by(Recording.created_at, Recording.id)
        async with self._scope.begin() as s:
            return await fetch_page(
                s,
                stmt,
                size,
                lambda last: encode_cursor(_RECORDINGS_CURSOR, last.created_at, last.id),
            )
