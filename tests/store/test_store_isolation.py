"""Tenant isolation: every read of another tenant's ids finds nothing, every write misses."""

from __future__ import annotations

from collections.abc import Callable

from helpline.core.records import CallRecord
from helpline.store import Store


async def test_another_tenants_ids_do_not_exist(
    store: Store, tenants: tuple[str, str], record: Callable[..., CallRecord]
) -> None:
    # tenant t1 owns one of everything
    key = await store.tenants.create_api_key("t1")
    app = await store.tenants.create_app_token("t1")
    session = await store.sessions.create_session("t1", "a1", ttl_s=60, max_live=2)
    await store.configs.put_config("t1", {"name": "one"})
    await store.records.call_started("t1", "live1", 1.0)
    await store.records.write_record("t1", record("c1", 10.0))
    sub = await store.webhooks.create_subscription("t1", "https://one.test/")
    message = await store.outbox.enqueue("t1", kind="webhook", url=sub.url, subscription_id=sub.id)
    for claimed in await store.outbox.claim_due(1e12):
        await store.outbox.record_attempt(claimed, at=1.0, duration_ms=3.0, status_code=200)
    rec = await store.recordings.add_recording("t1", "c1", "https://m.test/1.wav")
    await store.events.append("t1", "call.started", {})

    t2 = "t2"
    # reads
    assert await store.tenants.get_api_key(t2, key.key_id) is None
    assert await store.tenants.list_api_keys(t2) == []
    assert await store.tenants.list_app_tokens(t2) == []
    assert await store.sessions.list_sessions(t2, "a1") == []
    assert await store.configs.get_config(t2) is None
    assert await store.records.get_record(t2, "c1") is None
    assert (await store.records.list_records(t2)).items == []
    assert await store.records.count_records(t2) == 0
    assert await store.records.get_live_call(t2, "live1") is None
    assert await store.records.list_live_calls(t2) == []
    assert await store.webhooks.get_subscription(t2, sub.id) is None
    assert await store.webhooks.list_subscriptions(t2) == []
    assert await store.webhooks.subscriptions_for(t2, "call.ended") == []
    assert await store.outbox.get_message(t2, message.id) is None
    assert (await store.outbox.list_attempts(t2)).items == []
    assert (await store.outbox.list_attempts(t2, subscription_id=sub.id)).items == []
    assert (await store.outbox.list_attempts(t2, outbox_id=message.id)).items == []
    assert await store.recordings.get_recording(t2, rec.id) is None
    assert (await store.recordings.list_recordings(t2)).items == []
    assert (await store.recordings.list_recordings(t2, call_id="c1")).items == []
    assert await store.events.read(t2) == []
    assert await store.events.last_seq(t2) == 0
    # writes by id miss
    assert not await store.tenants.revoke_api_key(t2, key.key_id)
    assert not await store.tenants.revoke_app_token(t2, app.app_token.id)
    assert not await store.sessions.revoke_session(t2, session.token)
    assert await store.sessions.revoke_agent(t2, "a1") == 0
    assert not await store.records.update_live_call(t2, "live1", {"x": 1})
    await store.records.amend_record(t2, "c1", 9.0, "hacked", "hacked")
    assert await store.records.close_live_calls(t2, 100.0) == []
    assert await store.webhooks.update_subscription(t2, sub.id, url="https://evil.test/") is None
    assert not await store.webhooks.delete_subscription(t2, sub.id)
    assert not await store.outbox.disable_subscription(t2, sub.id, "x")
    await store.recordings.add_recording(t2, "c1", "https://evil.test/x.wav")
    # and t1's things are as they were
    assert await store.tenants.verify_api_key(key.key_id, key.secret) is not None
    assert await store.tenants.verify_app_token(app.token) is not None
    assert await store.sessions.verify_session(session.token) is not None
    row = await store.records.get_record("t1", "c1")
    assert row is not None
    assert (row.disposition, row.recording_url) == (None, "https://m.test/1.wav")
    live = await store.records.get_live_call("t1", "live1")
    assert live is not None and live.data == {}
    found = await store.webhooks.get_subscription("t1", sub.id)
    assert found is not None and (found.url, found.enabled) == ("https://one.test/", True)


async def test_update_and_delete_subscription(store: Store, tenants: tuple[str, str]) -> None:
    sub = await store.webhooks.create_subscription(
        "t1", "https://a.test/", event_types=["call.ended"]
    )
    assert sub.secret.startswith("whsec_") and sub.event_types == ["call.ended"]
    assert [s.id for s in await store.webhooks.subscriptions_for("t1", "call.ended")] == [sub.id]
    assert await store.webhooks.subscriptions_for("t1", "agent.state_changed") == []
    await store.outbox.disable_subscription("t1", sub.id, "410 Gone")
    changed = await store.webhooks.update_subscription(
        "t1", sub.id, url="https://b.test/", event_types=[], enabled=True
    )
    assert changed is not None
    assert (changed.url, changed.event_types, changed.enabled, changed.disabled_reason) == (
        "https://b.test/", [], True, None,
    )  # fmt: skip
    assert [s.id for s in await store.webhooks.subscriptions_for("t1", "anything")] == [sub.id]
    pending = await store.outbox.enqueue("t1", kind="webhook", url="u", subscription_id=sub.id)
    assert await store.webhooks.delete_subscription("t1", sub.id)
    assert await store.webhooks.get_subscription("t1", sub.id) is None
    message = await store.outbox.get_message("t1", pending.id)
    assert message is not None and (message.status, message.subscription_id) == ("disabled", None)
