"""Webhook subscriptions of a tenant (issue 4, point 9).

Each has a `whsec_` secret (Standard Webhooks: base64 of random bytes behind the prefix), kept
in clear because every delivery is signed with it, and an event filter (`event_types`; empty
takes every event).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, select, update

from helpline.store.base import Clock, SessionScope, new_id, rowcount
from helpline.store.models import OutboxMessage, WebhookSubscription
from helpline.store.outbox import OutboxStatus
from helpline.store.tenants import require_tenant


def new_webhook_secret() -> str:
    """`whsec_` and the base64 of 32 random bytes (Standard Webhooks allows 24 to 64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def takes(subscription: WebhookSubscription, event_type: str) -> bool:
    """Whether a subscription receives `event_type`: enabled, and its filter takes it."""
    types = subscription.event_types
    return subscription.enabled and (not types or event_type in types)


class WebhooksRepository:
    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    async def create_subscription(
        self,
        tenant_id: str,
        url: str,
        *,
        event_types: Sequence[str] = (),
        secret: str | None = None,
        enabled: bool = True,
    ) -> WebhookSubscription:
        async with self._scope.begin() as s:
            await require_tenant(s, tenant_id)
            row = WebhookSubscription(
                id=new_id("wh"),
                tenant_id=tenant_id,
                url=url,
                secret=secret or new_webhook_secret(),
                event_types=list(event_types),
                enabled=enabled,
                disabled_reason=None,
                created_at=self._clock(),
            )
            s.add(row)
            await s.flush()
        return row

    async def get_subscription(
        self, tenant_id: str, subscription_id: str
    ) -> WebhookSubscription | None:
        stmt = select(WebhookSubscription).where(
            WebhookSubscription.tenant_id == tenant_id,
            WebhookSubscription.id == subscription_id,
        )
        async with self._scope.begin() as s:
            return (await s.scalars(stmt)).one_or_none()

    async def list_subscriptions(self, tenant_id: str) -> list[WebhookSubscription]:
        stmt = (
            select(WebhookSubscription)
            .where(WebhookSubscription.tenant_id == tenant_id)
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    async def subscriptions_for(self, tenant_id: str, event_type: str) -> list[WebhookSubscription]:
        """The enabled subscriptions whose filter takes `event_type` (fan-out of one event)."""
        return [sub for sub in await self.list_subscriptions(tenant_id) if takes(sub, event_type)]

    async def update_subscription(
        self,
        tenant_id: str,
        subscription_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
    ) -> WebhookSubscription | None:
        """Change what is given; enabling clears `disabled_reason`. None when not found."""
        values: dict[str, object] = {}
        if url is not None:
            values["url"] = url
        if event_types is not None:
            values["event_types"] = list(event_types)
        if enabled is not None:
            values["enabled"] = enabled
            if enabled:
                values["disabled_reason"] = None
        async with self._scope.begin() as s:
            if values:
                await s.execute(
                    update(WebhookSubscription)
                    .where(
                        WebhookSubscription.tenant_id == tenant_id,
                        WebhookSubscription.id == subscription_id,
                    )
                    .values(values)
                    .execution_options(synchronize_session=False)
                )
            stmt = select(WebhookSubscription).where(
                WebhookSubscription.tenant_id == tenant_id,
                WebhookSubscription.id == subscription_id,
            )
            row = (await s.scalars(stmt.execution_options(populate_existing=True))).one_or_none()
        return row

    async def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool:
        """Delete a subscription; its pending messages are disabled, not sent."""
        async with self._scope.begin() as s:
            await s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.tenant_id == tenant_id,
                    OutboxMessage.subscription_id == subscription_id,
                    OutboxMessage.status == OutboxStatus.PENDING.value,
                )
                .values(status=OutboxStatus.DISABLED.value, last_error="subscription deleted")
                .execution_options(synchronize_session=False)
            )
            result = await s.execute(
                delete(WebhookSubscription).where(
                    WebhookSubscription.tenant_id == tenant_id,
                    WebhookSubscription.id == subscription_id,
                )
            )
        return bool(rowcount(result))
