"""The outbox: claim, retry, deliver, fail, disable; concurrent claimers; attempts."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import IntegrityError
from store_support import FakeClock

from helpline.store import InvalidCursor, OutboxStatus, Store
from helpline.store.base import encode_cursor


async def _enqueue(store: Store, tenant_id: str = "t1", **kw: object) -> int:
    args: dict[str, object] = {"kind": "webhook", "url": "https://hooks.test/a", "body": "{}"}
    args.update(kw)
    return (await store.outbox.enqueue(tenant_id, **args)).id  # type: ignore[arg-type]


async def test_claim_retry_deliver(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    now = clock.now
    sub = await store.webhooks.create_subscription("t1", "https://hooks.test/a")
    first = await store.outbox.enqueue(
        "t1", kind="webhook", url=sub.url, body='{"type":"call.ended"}',
        headers={"content-type": "application/json"}, subscription_id=sub.id,
    )  # fmt: skip
    later = await _enqueue(store, next_attempt_at=now + 50)
    assert first.status == "pending" and first.attempts == 0 and first.message_id.startswith("msg_")

    claimed = await store.outbox.claim_due(now, limit=10, lease_s=30)
    assert [m.id for m in claimed] == [first.id]  # `later` is not due yet
    assert claimed[0].attempts == 1 and claimed[0].next_attempt_at == now + 30
    assert claimed[0].headers == {"content-type": "application/json"}
    # while claimed (within the lease) nobody else gets it
    assert await store.outbox.claim_due(now + 10) == []

    assert await store.outbox.mark_retry(first.id, now + 5, "HTTP 503")
    again = await store.outbox.claim_due(now + 5)
    assert [(m.id, m.attempts, m.message_id) for m in again] == [
        (first.id, 2, first.message_id)  # the webhook-id is the same on every retry
    ]
    assert await store.outbox.mark_delivered(first.id)
    assert not await store.outbox.mark_delivered(first.id)  # only pending rows change
    assert not await store.outbox.mark_retry(first.id, now, "late")
    stored = await store.outbox.get_message("t1", first.id)
    assert stored is not None and (stored.status, stored.last_error) == ("delivered", None)

    assert [m.id for m in await store.outbox.claim_due(now + 60)] == [later]
    assert await store.outbox.mark_failed(later, "gave up after 8 attempts")
    stored = await store.outbox.get_message("t1", later)
    assert stored is not None and stored.status == OutboxStatus.FAILED
    assert await store.outbox.claim_due(now + 10_000) == []


async def test_a_worker_that_dies_leaves_the_message_to_be_retried(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    mid = await _enqueue(store)
    assert [m.id for m in await store.outbox.claim_due(clock.now, lease_s=60)] == [mid]
    # no mark: the worker died. After the lease the message is due again (at least once)
    assert await store.outbox.claim_due(clock.now + 59) == []
    assert [(m.id, m.attempts) for m in await store.outbox.claim_due(clock.now + 60)] == [(mid, 2)]


async def test_claim_takes_the_oldest_due_first_up_to_the_limit(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    ids = [await _enqueue(store, next_attempt_at=clock.now - i) for i in range(5)]
    claimed = await store.outbox.claim_due(clock.now, limit=2)
    assert sorted(m.id for m in claimed) == sorted(ids[-2:])


async def test_concurrent_claimers_never_share_a_message(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    async with store.transaction() as tx:
        ids = {
            (await tx.outbox.enqueue("t1", kind="notify", url="https://n.test/", method="get")).id
            for _ in range(120)
        }

    async def worker() -> list[int]:
        got: list[int] = []
        while batch := await store.outbox.claim_due(clock.now, limit=7):
            got += [m.id for m in batch]
            await asyncio.sleep(0)
        return got

    results = await asyncio.gather(*(worker() for _ in range(4)))
    every = [i for r in results for i in r]
    assert len(every) == len(set(every)) == len(ids)
    assert set(every) == ids


async def test_skip_locked_on_postgresql(pg_store: Store, clock: FakeClock) -> None:
    store = pg_store
    await store.tenants.create_tenant("One", tenant_id="t1")
    ids = [await _enqueue(store) for _ in range(6)]
    async with store.transaction() as tx:
        mine = await tx.outbox.claim_due(clock.now, limit=3)  # locked until this commits
        # another worker neither waits for those rows nor takes them
        theirs = await asyncio.wait_for(store.outbox.claim_due(clock.now, limit=10), timeout=5)
        assert {m.id for m in mine} | {m.id for m in theirs} == set(ids)
        assert not {m.id for m in mine} & {m.id for m in theirs}
    assert await store.outbox.claim_due(clock.now) == []


async def test_disabling_a_subscription_disables_its_pending_messages(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    sub = await store.webhooks.create_subscription("t1", "https://gone.test/")
    other = await store.webhooks.create_subscription("t1", "https://ok.test/")
    pending = await _enqueue(store, subscription_id=sub.id)
    kept = await _enqueue(store, subscription_id=other.id)
    assert not await store.outbox.disable_subscription("t2", sub.id, "410 Gone")  # not theirs
    assert await store.outbox.disable_subscription("t1", sub.id, "410 Gone")
    found = await store.webhooks.get_subscription("t1", sub.id)
    assert found is not None and (found.enabled, found.disabled_reason) == (False, "410 Gone")
    message = await store.outbox.get_message("t1", pending)
    assert message is not None and message.status == "disabled"
    assert [m.id for m in await store.outbox.claim_due(clock.now)] == [kept]
    assert [s.id for s in await store.webhooks.subscriptions_for("t1", "call.ended")] == [other.id]


async def test_attempts_are_listed_per_tenant_and_subscription(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    sub = await store.webhooks.create_subscription("t1", "https://a.test/")
    await _enqueue(store, subscription_id=sub.id)
    await _enqueue(store, kind="hangup_url")
    await _enqueue(store, "t2")
    for round_ in range(3):
        for message in await store.outbox.claim_due(clock.now + 100 * round_, lease_s=1):
            async with store.transaction() as tx:
                await tx.outbox.record_attempt(
                    message, at=clock.now, duration_ms=12.5, status_code=500, error="HTTP 500"
                )
                await tx.outbox.mark_retry(message.id, clock.now + 100 * (round_ + 1), "HTTP 500")
    everything = await store.outbox.list_attempts("t1")
    assert len(everything.items) == 6 and everything.next_cursor is None
    assert [a.id for a in everything.items] == sorted(
        (a.id for a in everything.items), reverse=True
    )
    of_sub = await store.outbox.list_attempts("t1", subscription_id=sub.id)
    assert len(of_sub.items) == 3
    assert {a.status_code for a in of_sub.items} == {500}
    # pages
    first = await store.outbox.list_attempts("t1", limit=4)
    assert first.next_cursor is not None
    rest = await store.outbox.list_attempts("t1", cursor=first.next_cursor, limit=4)
    assert [a.id for a in first.items + rest.items] == [a.id for a in everything.items]
    with pytest.raises(InvalidCursor):  # past BIGINT: refused, not a driver error
        await store.outbox.list_attempts("t1", cursor=encode_cursor("att", 2**70))
    # another tenant sees none of them
    assert len((await store.outbox.list_attempts("t2")).items) == 3
    assert (await store.outbox.list_attempts("t2", subscription_id=sub.id)).items == []
    one = everything.items[0]
    assert await store.outbox.get_message("t2", one.outbox_id) is None
    # housekeeping: finished messages go with their attempts; pending ones stay
    assert await store.outbox.mark_delivered(one.outbox_id)
    assert await store.outbox.purge(clock.now) == 0  # not older than that
    assert await store.outbox.purge(clock.now + 1) == 1
    assert await store.outbox.get_message("t1", one.outbox_id) is None
    assert len((await store.outbox.list_attempts("t1")).items) == 3


async def test_enqueue_checks_kind_and_method(store: Store, tenants: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        await _enqueue(store, kind="carrier-pigeon")
    with pytest.raises(ValueError):
        await _enqueue(store, method="DELETE")


async def test_a_message_id_names_one_message_per_tenant(
    store: Store, tenants: tuple[str, str]
) -> None:
    """Migration 0007: (tenant, message id) is unique; a retry asks `if_absent` and gets the
    message there; the same id in another tenant is another message."""
    first = await _enqueue(store, message_id="msg_once")
    with pytest.raises(IntegrityError):
        await _enqueue(store, message_id="msg_once")
    assert await _enqueue(store, message_id="msg_once", if_absent=True) == first
    assert await _enqueue(store, "t2", message_id="msg_once") != first
