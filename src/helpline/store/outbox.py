"""The durable outbox (issue 4, point 9): webhooks, `hangup_url` posts, IVR notifications.

A message is enqueued in the transaction that causes it (a `UnitOfWork` with the record it
reports), so it exists exactly when its cause does. Workers `claim_due` messages: a claim
counts the attempt and pushes `next_attempt_at` out by a lease, so no other worker takes the
message while it is being delivered, and a worker that dies leaves it to be retried when the
lease runs out (at least once). On PostgreSQL the claim locks with `FOR UPDATE SKIP LOCKED`,
so concurrent workers split the due rows instead of waiting on each other; on SQLite the claim
is one UPDATE ... RETURNING, atomic under SQLite's single writer.

The worker methods (`claim_due`, `mark_*`, `record_attempt`) are the store's internals and
go by outbox id across tenants; the tenant-facing reads filter by tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select, update

from helpline.store.base import (
    Clock,
    Page,
    SessionScope,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    fetch_page,
    rowcount,
)
from helpline.store.models import DeliveryAttempt, OutboxMessage, WebhookSubscription

DEFAULT_LEASE_S = 60.0
_ATTEMPTS_CURSOR = "att"


class OutboxKind(StrEnum):
    WEBHOOK = "webhook"
    HANGUP_URL = "hangup_url"  # seed 002: POST of the call's fields when it ends
    NOTIFY = "notify"  # seed 002: IVR call notification, GET with a query string
    EVENT_URL = "event_url"  # seed 000: a call event POSTed to the project's event_url


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the retry schedule
    DISABLED = "disabled"  # its subscription was disabled (410 Gone, or by the tenant)


def new_message_id() -> str:
    """A webhook-id (Standard Webhooks): the same on every retry of the message."""
    return f"msg_{uuid.uuid4().hex}"


class OutboxRepository:
    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    async def enqueue(
        self,
        tenant_id: str,
        *,
        kind: OutboxKind | str,
        url: str,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        body: str = "",
        subscription_id: str | None = None,
        message_id: str | None = None,
        next_attempt_at: float | None = None,
        if_absent: bool = False,
    ) -> OutboxMessage:
        """Queue one HTTP request; due at once unless `next_attempt_at` says later.

        `if_absent` (with a `message_id`): when the tenant has a message of that id already,
        return it and queue nothing; for the retry of a write whose first try may have
        committed unseen (an acknowledgement lost with its connection). `(tenant_id,
        message_id)` is unique (migration 0007): a second message of an id cannot be stored.
        """
        now = self._clock()
        row = OutboxMessage(
            tenant_id=tenant_id,
            kind=OutboxKind(kind).value,
            subscription_id=subscription_id,
            url=url,
            method=method.upper(),
            headers=dict(headers or {}),
            body=body,
            message_id=message_id or new_message_id(),
            status=OutboxStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now if next_attempt_at is None else next_attempt_at,
            created_at=now,
            last_error=None,
        )
        if row.method not in ("POST", "GET"):
            raise ValueError(f"method must be POST or GET, not {method!r}")
        async with self._scope.begin() as s:
            if if_absent and message_id is not None:
                there = select(OutboxMessage).where(
                    OutboxMessage.tenant_id == tenant_id, OutboxMessage.message_id == message_id
                )
                found = (await s.scalars(there.limit(1))).first()
                if found is not None:
                    return found
            s.add(row)
            await s.flush()
        return row

    async def claim_due(
        self, now: float, limit: int = 100, *, lease_s: float = DEFAULT_LEASE_S
    ) -> list[OutboxMessage]:
        """Take up to `limit` pending messages due by `now`, oldest due first.

        Each claimed row has `attempts` counting this attempt and `next_attempt_at` at
        `now + lease_s`: another worker gets it again only if this one neither marks it nor
        reschedules it within the lease.
        """
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(max(1, limit))
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders nothing
        )
        stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=now + lease_s)
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            rows = list((await s.scalars(stmt)).all())
        rows.sort(key=lambda r: r.id)
        return rows

    async def _mark(self, outbox_id: int, **values: Any) -> bool:
        stmt = (
            update(OutboxMessage)
            .where(
                OutboxMessage.id == outbox_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            return bool(rowcount(await s.execute(stmt)))

    async def mark_delivered(self, outbox_id: int) -> bool:
        """Delivered (2xx). False if the message is no longer pending."""
        return await self._mark(outbox_id, status=OutboxStatus.DELIVERED.value, last_error=None)

    async def mark_retry(self, outbox_id: int, next_attempt_at: float, error: str) -> bool:
        """Try again at `next_attempt_at` (the retry schedule, or the endpoint's Retry-After)."""
        return await self._mark(outbox_id, next_attempt_at=next_attempt_at, last_error=error)

    async def mark_failed(self, outbox_id: int, error: str) -> bool:
        """Give up: the retry schedule is exhausted."""
        return await self._mark(outbox_id, status=OutboxStatus.FAILED.value, last_error=error)

    async def disable_subscription(self, tenant_id: str, subscription_id: str, reason: str) -> bool:
        """Disable an endpoint (it answered 410 Gone, say) and its pending messages with it.

        False when the tenant has no such subscription.
        """
        async with self._scope.begin() as s:
            result = await s.execute(
                update(WebhookSubscription)
                .where(
                    WebhookSubscription.tenant_id == tenant_id,
                    WebhookSubscription.id == subscription_id,
                )
                .values(enabled=False, disabled_reason=reason)
                .execution_options(synchronize_session=False)
            )
            if not rowcount(result):
                return False
            await s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.tenant_id == tenant_id,
                    OutboxMessage.subscription_id == subscription_id,
                    OutboxMessage.status == OutboxStatus.PENDING.value,
                )
                .values(status=OutboxStatus.DISABLED.value, last_error=reason)
                .execution_options(synchronize_session=False)
            )
        return True

    async def record_attempt(
        self,
        message: OutboxMessage,
        *,
        at: float,
        duration_ms: float,
        status_code: int | None = None,
        error: str | None = None,
    ) -> DeliveryAttempt:
        """Keep one delivery attempt of `message`, for the tenant to list."""
        row = DeliveryAttempt(
            outbox_id=message.id,
            tenant_id=message.tenant_id,
            at=at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
        async with self._scope.begin() as s:
            s.add(row)
            await s.flush()
        return row

    async def purge(self, before: float) -> int:
        """Delete finished messages (not pending) created before `before`, with their attempts.

        Housekeeping: the outbox otherwise keeps every message it ever sent.
        """
        stmt = delete(OutboxMessage).where(
            OutboxMessage.status != OutboxStatus.PENDING.value,
            OutboxMessage.created_at < before,
        )
        async with self._scope.begin() as s:
            return rowcount(await s.execute(stmt))

    # -- tenant-facing reads -----------------------------------------------------------------

    async def get_message(self, tenant_id: str, outbox_id: int) -> OutboxMessage | None:
        stmt = select(OutboxMessage).where(
            OutboxMessage.tenant_id == tenant_id, OutboxMessage.id == outbox_id
        )
        async with self._scope.begin() as s:
            return (await s.scalars(stmt)).one_or_none()

    async def list_attempts(
        self,
        tenant_id: str,
        *,
        subscription_id: str | None = None,
        outbox_id: int | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[DeliveryAttempt]:
        """Delivery attempts, newest first, of the tenant or one subscription or message."""
        size = clamp_limit(limit)
        stmt = select(DeliveryAttempt).where(DeliveryAttempt.tenant_id == tenant_id)
        if subscription_id is not None:
            stmt = stmt.join(OutboxMessage, OutboxMessage.id == DeliveryAttempt.outbox_id).where(
                OutboxMessage.tenant_id == tenant_id,
                OutboxMessage.subscription_id == subscription_id,
            )
        if outbox_id is not None:
            stmt = stmt.where(DeliveryAttempt.outbox_id == outbox_id)
        if cursor is not None:
            (before,) = decode_cursor(cursor, _ATTEMPTS_CURSOR, (int,))
            stmt = stmt.where(DeliveryAttempt.id < before)
        stmt = stmt.order_by(DeliveryAttempt.id.desc())
        async with self._scope.begin() as s:
            return await fetch_page(
                s, stmt, size, lambda last: encode_cursor(_ATTEMPTS_CURSOR, last.id)
            )
