"""Webhook subscriptions: event filters, the per-tenant cache, and the store reads the store's
own `WebhooksRepository` lacks (a paged list, secret rotation, batch loads for the deliverer).

The cache exists for latency: the runtime publishes an event for every call and agent state
change, and a tenant without subscriptions must cost no database work per event. Each
`Store` has one `SubscriptionCache` (`subscription_cache(store)`), shared by the publisher,
the deliverer (a 410 disables a subscription) and the API (every change invalidates it). A
short TTL bounds how stale it can be when another process changed the subscriptions.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from helpline.store import Page, Store
from helpline.store.base import (
    InvalidCursor,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    fetch_page,
    rowcount,
)
from helpline.store.models import OutboxMessage, WebhookSubscription
from helpline.store.outbox import OutboxStatus
from helpline.webhooks.signing import new_secret

# the event types the runtime publishes (helpline.runtime.tenant), and `call.media_ready` (a
# call's recording or voicemail can be fetched: helpline.api.records)
EVENT_TYPES = ("call.state_changed", "agent.state_changed", "call.ended", "call.media_ready")
CACHE_TTL_S = 30.0
_SUBSCRIPTIONS_CURSOR = "whs"
_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def takes(patterns: Sequence[str], event_type: str) -> bool:
    """Whether an `event_types` filter takes `event_type`.

    Empty takes everything; `*` too; `call.*` takes `call.ended` and `call.state_changed`
    (any type below `call.`); anything else must equal the type.
    """
    if not patterns:
        return True
    for pattern in patterns:
        if pattern in (event_type, "*"):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Target:
    """What fan-out needs of an enabled subscription (never its secret: that is read at send)."""

    id: str
    url: str
    event_types: tuple[str, ...]

    def takes(self, event_type: str) -> bool:
        return takes(self.event_types, event_type)


class SubscriptionCache:
    """Each tenant's enabled subscriptions, loaded on first use and on invalidation."""

    def __init__(
        self,
        store: Store,
        *,
        ttl_s: float = CACHE_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, tuple[Target, ...]]] = {}
        self._generation: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.loads = 0  # how many times the database was read (tests look)

    async def targets(self, tenant_id: str) -> tuple[Target, ...]:
        entry = self._entries.get(tenant_id)
        if entry is not None and self._monotonic() - entry[0] < self._ttl_s:
            return entry[1]
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:  # one load per tenant at a time, however many events wait
            entry = self._entries.get(tenant_id)
            if entry is not None and self._monotonic() - entry[0] < self._ttl_s:
                return entry[1]
            generation = self._generation.get(tenant_id, 0)
            loaded_at = self._monotonic()
            rows = await self._store.webhooks.list_subscriptions(tenant_id)
            self.loads += 1
            targets = tuple(
                Target(id=row.id, url=row.url, event_types=tuple(row.event_types or ()))
                for row in rows
                if row.enabled
            )
            if self._generation.get(tenant_id, 0) == generation:  # not invalidated meanwhile
                self._entries[tenant_id] = (loaded_at, targets)
            return targets

    def fresh(self, tenant_id: str) -> tuple[Target, ...] | None:
        """The tenant's subscriptions if loaded and within the TTL, without waiting; None
        when they would have to be (re)loaded."""
        entry = self._entries.get(tenant_id)
        if entry is not None and self._monotonic() - entry[0] < self._ttl_s:
            return entry[1]
        return None

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Forget a tenant's subscriptions (or every tenant's): the next event reloads them."""
        tenants = list(self._entries) if tenant_id is None else [tenant_id]
        if tenant_id is None:
            tenants.extend(self._generation)
        for tenant in tenants:
            self._entries.pop(tenant, None)
            self._generation[tenant] = self._generation.get(tenant, 0) + 1


_caches: weakref.WeakKeyDictionary[Store, SubscriptionCache] = weakref.WeakKeyDictionary()


def subscription_cache(store: Store) -> SubscriptionCache:
    """The one cache of `store`'s subscriptions in this process."""
    cache = _caches.get(store)
    if cache is None:
        cache = _caches[store] = SubscriptionCache(store)
    return cache


def subscriptions_changed(store: Store, tenant_id: str) -> None:
    """Call after any change to a tenant's subscriptions."""
    subscription_cache(store).invalidate(tenant_id)


# -- store reads and writes the store's repository does not have --------------------------------


async def list_page(
    store: Store, tenant_id: str, *, cursor: str | None = None, limit: int | None = None
) -> Page[WebhookSubscription]:
    """A tenant's subscriptions, oldest first, a page at a time (keyset on created_at, id)."""
    size = clamp_limit(limit)
    stmt = select(WebhookSubscription).where(WebhookSubscription.tenant_id == tenant_id)
    if cursor is not None:
        after_at, after_id = decode_cursor(cursor, _SUBSCRIPTIONS_CURSOR, (float, str))
        if not _ID.fullmatch(after_id):
            raise InvalidCursor()
        stmt = stmt.where(
            (WebhookSubscription.created_at > after_at)
            | ((WebhookSubscription.created_at == after_at) & (WebhookSubscription.id > after_id))
        )
    stmt = stmt.order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    async with store.transaction() as tx:
        return await fetch_page(
            tx.session,
            stmt,
            size,
            lambda last: encode_cursor(_SUBSCRIPTIONS_CURSOR, last.created_at, last.id),
        )


async def rotate_secret(
    store: Store, tenant_id: str, subscription_id: str
) -> WebhookSubscription | None:
    """A new secret for a subscription; deliveries from now on are signed with it."""
    stmt = select(WebhookSubscription).where(
        WebhookSubscription.tenant_id == tenant_id, WebhookSubscription.id == subscription_id
    )
    async with store.transaction() as tx:
        row = (await tx.session.scalars(stmt)).one_or_none()
        if row is None:
            return None
        row.secret = new_secret()
        await tx.session.flush()
    return row


async def load_many(store: Store, ids: Iterable[str]) -> dict[str, WebhookSubscription]:
    """Subscriptions by id, across tenants (the deliverer's batch read)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(WebhookSubscription).where(WebhookSubscription.id.in_(wanted))
    async with store.transaction() as tx:
        return {row.id: row for row in (await tx.session.scalars(stmt)).all()}


async def messages_by_id(
    store: Store, tenant_id: str, ids: Iterable[int]
) -> dict[int, OutboxMessage]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(OutboxMessage).where(
        OutboxMessage.tenant_id == tenant_id, OutboxMessage.id.in_(wanted)
    )
    async with store.transaction() as tx:
        return {row.id: row for row in (await tx.session.scalars(stmt)).all()}


async def mark_disabled(store: Store, outbox_id: int, reason: str) -> bool:
    """One pending message will not be sent: its subscription is gone or disabled."""
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.DISABLED.value, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    async with store.transaction() as tx:
        return bool(rowcount(await tx.session.execute(stmt)))
