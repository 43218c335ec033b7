"""`WebhookOutbox`: the runtime's `Outbox` port, on the store's durable outbox.

`publish_event` writes one outbox message per enabled subscription of the tenant whose filter
takes the event, in one transaction, with the Standard Webhooks payload
`{"type", "timestamp", "data"}` as its body. Only the body is stored: the deliverer signs
each attempt with the subscription's secret and a fresh timestamp. The tenant's subscriptions
come from an in-memory cache (`subscriptions.SubscriptionCache`), so an event nobody
subscribed to costs no database work at all.

`send` queues the per-call requests of seed 002: IVR notifications (GET, fields in the query
string) and `hangup_url` (POST, urlencoded form).

A failed write raises: the runtime queues these calls to its writer task
(`runtime/writer.py`), which retries what the database could not take for the moment and logs
and skips what it never will, so a webhook is not lost to a brief outage.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from helpline.store import OutboxKind, Store
from helpline.webhooks.deliverer import Deliverer, iso_utc, wake_deliverers
from helpline.webhooks.subscriptions import SubscriptionCache, subscription_cache

log = logging.getLogger("helpline.webhooks")

JSON_HEADERS = {"content-type": "application/json"}
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}


def event_body(event_type: str, data: Mapping[str, Any], at: float) -> str:
    """The JSON body of a webhook (the Standard Webhooks payload shape)."""
    payload = {"type": event_type, "timestamp": iso_utc(at), "data": data}
    return json.dumps(payload, separators=(",", ":"), default=str)


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` appended to whatever query string it already has."""
    if not params:
        return url
    parts = urlsplit(url)
    extra = urlencode([(str(k), str(v)) for k, v in params.items()])
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class WebhookOutbox:
    """The `Outbox` port (helpline.ports) on a `Store`.

    After every enqueue it wakes the deliverer so the message goes out at once rather than at
    the next poll: `deliverer.wake` if a `deliverer` is given, else `wake` if given, else
    every running `Deliverer` of the same store in this process.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        deliverer: Deliverer | None = None,
        wake: Callable[[], None] | None = None,
        cache: SubscriptionCache | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.cache = cache or subscription_cache(store)
        if deliverer is not None:
            wake = deliverer.wake
        self._wake = wake or self._wake_deliverers

    def _wake_deliverers(self) -> None:
        wake_deliverers(self.store)

    def may_publish(self, tenant_id: str, event_type: str) -> bool:
        """False only when the cache knows that no subscription of the tenant takes the
        event now: the runtime then queues no write for it (most state changes of a tenant
        without webhooks; a write per change was a few percent of a SIP call's CPU)."""
        targets = self.cache.fresh(tenant_id)
        return targets is None or any(target.takes(event_type) for target in targets)

    async def publish_event(
        self,
        tenant_id: str,
        event_type: str,
        data: Mapping[str, Any],
        *,
        message_id: str | None = None,
        retry: bool = False,
    ) -> None:
        """A webhook for every enabled subscription of the tenant whose filter takes the event.

        With `message_id`, each subscription's message is `<message_id>_<subscription id>`, and
        a `retry` queues none that is there already (see `helpline.ports.Outbox`).
        """
        targets = [t for t in await self.cache.targets(tenant_id) if t.takes(event_type)]
        if not targets:
            return
        body = event_body(event_type, data, self.clock())
        async with self.store.transaction() as tx:
            for target in targets:
                await tx.outbox.enqueue(
                    tenant_id,
                    kind=OutboxKind.WEBHOOK,
                    url=target.url,
                    method="POST",
                    headers=JSON_HEADERS,
                    body=body,
                    subscription_id=target.id,
                    message_id=f"{message_id}_{target.id}" if message_id else None,
                    if_absent=retry,
                )
        self._wake()

    async def send(
        self,
        tenant_id: str,
        *,
        kind: str,
        url: str,
        method: str,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        message_id: str | None = None,
        retry: bool = False,
    ) -> None:
        """One request to a URL the tenant gave: GET with `params` in the query string, or POST
        with `form` as an urlencoded body."""
        verb = method.upper()
        target = with_query(url, params or {})
        body = ""
        headers: Mapping[str, str] = {}
        if form is not None and verb == "POST":
            body = urlencode([(str(k), str(v)) for k, v in form.items()])
            headers = FORM_HEADERS
        await self.store.outbox.enqueue(
            tenant_id,
            kind=kind,
            url=target,
            method=verb,
            headers=headers,
            body=body,
            message_id=message_id,
            if_absent=retry,
        )
        self._wake()
