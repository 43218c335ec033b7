"""The in-process event bus: live call and agent events for websockets, per tenant.

A subscriber gets its own bounded queue; a subscriber that falls behind loses its oldest
messages rather than slowing the engine (a live view wants the present, and the call
records keep the history).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

QUEUE_LIMIT = 1000


class Subscription:
    def __init__(self, bus: LocalBus, tenant_id: str) -> None:
        self._bus = bus
        self.tenant_id = tenant_id
        self.queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0

    def deliver(self, message: Mapping[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    async def get(self) -> Mapping[str, Any]:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)


class LocalBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}

    def publish(self, tenant_id: str, message: Mapping[str, Any]) -> None:
        for subscription in list(self._subscribers.get(tenant_id, ())):
            subscription.deliver(message)

    def subscribe(self, tenant_id: str) -> Subscription:
        subscription = Subscription(self, tenant_id)
        self._subscribers.setdefault(tenant_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.tenant_id)
        if subscribers is not None:
            subscribers.discard(subscription)
