"""`Deliverer`: sends what the outbox holds, at least once (issue 4, points 9 and 11).

It claims due messages (the claim counts the attempt and leases the row, so a second worker
or process does not take it too, and a worker killed mid-delivery leaves it to be retried
when the lease runs out), sends each, records the attempt, and then:

- 2xx: delivered.
- 410 Gone from a webhook endpoint: the subscription is disabled (reason recorded) with all
  its pending messages. From a `hangup_url` or notification URL: failed, without retrying.
- anything else (another status, a timeout, a refused connection): tried again after the
  next delay of `settings.webhook_retry_schedule` (attempt 1 at once, attempt n+1 schedule[n]
  seconds after attempt n), or later if the endpoint's `Retry-After` asks for more; after the
  last attempt, failed.

Webhooks are signed at send time with the subscription's current secret and a fresh
timestamp, and go to its current URL. Up to `concurrency` requests are in flight at once;
when idle the loop sleeps `settings.outbox_poll_s`, and `wake()` (the publisher calls it
after each enqueue) ends the sleep at once. One bad message never stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from helpline.settings import Settings
from helpline.store import OutboxKind, Store
from helpline.store.models import OutboxMessage, WebhookSubscription
from helpline.webhooks import signing
from helpline.webhooks.subscriptions import (
    load_many,
    mark_disabled,
    subscriptions_changed,
)

log = logging.getLogger("helpline.webhooks")

USER_AGENT = "Helpline-Webhooks/0.1"
DEFAULT_CONCURRENCY = 10
DEFAULT_BATCH = 100
MAX_RETRY_AFTER_S = 24 * 3600.0  # an endpoint may slow us down, but not park a message forever
MAX_ERROR_CHARS = 500

_deliverers: weakref.WeakKeyDictionary[Store, weakref.WeakSet[Deliverer]] = (
    weakref.WeakKeyDictionary()
)


def wake_deliverers(store: Store) -> None:
    """Nudge every running deliverer of `store` in this process: there is fresh work."""
    for deliverer in list(_deliverers.get(store, ())):
        deliverer.wake()


def retry_after_s(value: str | None, now: float) -> float | None:
    """A `Retry-After` header as seconds from `now`: delay-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def iso_utc(at: float) -> str:
    """`2021-02-25T15:02:10.123Z`: ISO-8601 in UTC with milliseconds."""
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class _Outcome:
    status_code: int | None = None
    error: str | None = None
    retry_after: str | None = None
    permanent: bool = False  # no retry can help (a URL httpx cannot even send to)


class Deliverer:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_s: float | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.timeout_s = settings.webhook_timeout_s
        self.schedule = tuple(settings.webhook_retry_schedule) or (0.0,)
        # a lease outlives one request, with room to record its outcome
        self.lease_s = lease_s if lease_s is not None else self.timeout_s + 10.0
        self._http = http
        self._owns_http = http is None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._wakeup: asyncio.Event | None = None
        self._stopping = False

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the delivery loop in a task of the running event loop."""
        if self._task is not None:
            return
        self._stopping = False
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="helpline-webhook-deliverer")
        _deliverers.setdefault(self.store, weakref.WeakSet()).add(self)

    async def stop(self) -> None:
        """Stop claiming; let requests in flight finish (up to the timeout); close the client."""
        self._stopping = True
        registered = _deliverers.get(self.store)
        if registered is not None:
            registered.discard(self)
        self.wake()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=self.timeout_s + 1.0)
            for task in pending:
                task.cancel()  # its lease runs out and another run retries it
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def wake(self) -> None:
        """Look for due messages now instead of at the next poll."""
        if self._wakeup is not None:
            self._wakeup.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                headers={"user-agent": USER_AGENT},
                limits=httpx.Limits(max_connections=self.concurrency * 2),
            )
        return self._http

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wakeup is not None
        while not self._stopping:
            self._wakeup.clear()  # a wake or a finished request from here on is not lost
            try:
                free = self.concurrency - len(self._inflight)
                if free > 0:
                    messages = await self.store.outbox.claim_due(
                        self.clock(), limit=free, lease_s=self.lease_s
                    )
                    subscriptions = await self._subscriptions(messages)
                    for message in messages:
                        task = asyncio.create_task(self._deliver(message, subscriptions, None))
                        self._inflight.add(task)
                        task.add_done_callback(self._done)
                    if messages and len(messages) == free:
                        continue  # perhaps more is due: claim again once a slot frees
            except Exception:
                log.exception("webhook deliverer: claiming failed")
            await self._sleep()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._wakeup is not None:
            self._wakeup.set()

    async def _sleep(self) -> None:
        assert self._wakeup is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.settings.outbox_poll_s)

    async def run_once(self, now: float | None = None, *, limit: int = DEFAULT_BATCH) -> int:
        """Claim the messages due at `now` (default: the clock) and deliver them; how many.

        With `now` given, retries are scheduled from it, so tests can step a fake clock.
        """
        at = self.clock() if now is None else now
        messages = await self.store.outbox.claim_due(at, limit=limit, lease_s=self.lease_s)
        if not messages:
            return 0
        subscriptions = await self._subscriptions(messages)
        bound = asyncio.Semaphore(self.concurrency)

        async def one(message: OutboxMessage) -> None:
            async with bound:
                await self._deliver(message, subscriptions, now)

        await asyncio.gather(*(one(message) for message in messages))
        return len(messages)

    async def _subscriptions(
        self, messages: list[OutboxMessage]
    ) -> Mapping[str, WebhookSubscription]:
        ids = [m.subscription_id for m in messages if m.subscription_id is not None]
        return await load_many(self.store, ids)

    # -- one message ---------------------------------------------------------------------------

    async def _deliver(
        self,
        message: OutboxMessage,
        subscriptions: Mapping[str, WebhookSubscription],
        now: float | None,
    ) -> None:
        try:
            await self._deliver_one(message, subscriptions, now)
        except Exception:
            log.exception("webhook deliverer: message %s failed unexpectedly", message.id)

    async def _deliver_one(
        self,
        message: OutboxMessage,
        subscriptions: Mapping[str, WebhookSubscription],
        now: float | None,
    ) -> None:
        at = self.clock() if now is None else now
        subscription: WebhookSubscription | None = None
        url = message.url
        headers = {str(k): str(v) for k, v in (message.headers or {}).items()}
        headers.setdefault("user-agent", USER_AGENT)
        if message.kind == OutboxKind.WEBHOOK.value:
            found = subscriptions.get(message.subscription_id or "")
            if found is None or found.tenant_id != message.tenant_id:
                await mark_disabled(self.store, message.id, "subscription deleted")
                return
            if not found.enabled:
                reason = found.disabled_reason or "subscription disabled"
                await mark_disabled(self.store, message.id, reason)
                return
            subscription = found
            url = found.url
            headers.update(
                signing.headers(found.secret, message.message_id, int(self.clock()), message.body)
            )
        outcome, duration_ms = await self._request(message, url, headers)
        await self.store.outbox.record_attempt(
            message,
            at=at,
            duration_ms=duration_ms,
            status_code=outcome.status_code,
            error=outcome.error,
        )
        await self._settle(message, subscription, outcome, now)

    async def _request(
        self, message: OutboxMessage, url: str, headers: dict[str, str]
    ) -> tuple[_Outcome, float]:
        started = time.perf_counter()
        content = message.body.encode() if message.method == "POST" else None
        try:
            async with self._client().stream(
                message.method, url, headers=headers, content=content, timeout=self.timeout_s
            ) as response:
                outcome = _Outcome(
                    status_code=response.status_code,
                    error=None
                    if response.is_success
                    else f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    retry_after=response.headers.get("retry-after"),
                )
        except httpx.TimeoutException:
            outcome = _Outcome(error=f"timeout after {self.timeout_s:g} s")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            outcome = _Outcome(error=f"invalid URL: {error}"[:MAX_ERROR_CHARS], permanent=True)
        except httpx.HTTPError as error:
            text = str(error) or type(error).__name__
            outcome = _Outcome(error=f"{type(error).__name__}: {text}"[:MAX_ERROR_CHARS])
        return outcome, (time.perf_counter() - started) * 1000.0

    async def _settle(
        self,
        message: OutboxMessage,
        subscription: WebhookSubscription | None,
        outcome: _Outcome,
        now: float | None,
    ) -> None:
        status = outcome.status_code
        if status is not None and 200 <= status < 300:
            await self.store.outbox.mark_delivered(message.id)
            return
        if status == 410:
            if subscription is not None:
                reason = f"endpoint answered 410 Gone at {iso_utc(self.clock())}"
                await self.store.outbox.disable_subscription(
                    message.tenant_id, subscription.id, reason
                )
                subscriptions_changed(self.store, message.tenant_id)
                log.warning(
                    "tenant %s: webhook subscription %s disabled: %s",
                    message.tenant_id,
                    subscription.id,
                    reason,
                )
            else:
                await self.store.outbox.mark_failed(message.id, "HTTP 410 Gone")
            return
        error = outcome.error or f"HTTP {status}"
        if outcome.permanent:
            await self.store.outbox.mark_failed(message.id, error)
            return
        attempt = max(1, message.attempts)  # the claim counted this attempt
        if attempt >= len(self.schedule):
            await self.store.outbox.mark_failed(message.id, error)
            log.info("outbox message %s failed after %d attempts: %s", message.id, attempt, error)
            return
        base = self.clock() if now is None else now
        delay = self.schedule[attempt]
        asked = retry_after_s(outcome.retry_after, self.clock())
        if asked is not None:
            delay = max(delay, min(asked, MAX_RETRY_AFTER_S))
        await self.store.outbox.mark_retry(message.id, base + delay, error)
