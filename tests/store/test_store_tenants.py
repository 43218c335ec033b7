"""Tenants, API keys, application tokens and agent sessions (seed 002 "Login", seed 004)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from store_support import FakeClock

from helpline.core.errors import Conflict, NotFound
from helpline.store import Store
from helpline.store.base import hash_secret
from helpline.store.models import ApiKey


async def test_tenants(store: Store) -> None:
    made = await store.tenants.create_tenant("Acme")
    assert made.id.startswith("ten_") and made.name == "Acme"
    await store.tenants.create_tenant("Other", tenant_id="t9")
    with pytest.raises(Conflict):
        await store.tenants.create_tenant("Again", tenant_id="t9")
    assert [t.id for t in await store.tenants.list_tenants()] == sorted([made.id, "t9"])
    found = await store.tenants.get_tenant("t9")
    assert found is not None and found.name == "Other"
    assert await store.tenants.get_tenant("nope") is None
    assert await store.tenants.delete_tenant("t9")
    assert not await store.tenants.delete_tenant("t9")


async def test_api_keys(store: Store, tenants: tuple[str, str], clock: FakeClock) -> None:
    new = await store.tenants.create_api_key("t1", "ci")
    assert new.key_id.startswith("key_") and new.secret.startswith("sk_")
    assert len(new.secret) > 40  # 256 bits
    # only the hash is stored
    async with store.transaction() as tx:
        stored = (await tx.session.scalars(select(ApiKey))).one()
    assert stored.secret_hash == hash_secret(new.secret) and new.secret not in stored.secret_hash

    key = await store.tenants.verify_api_key(new.key_id, new.secret)
    assert key is not None and (key.tenant_id, key.label) == ("t1", "ci")
    assert await store.tenants.verify_api_key(new.key_id, new.secret + "x") is None
    assert await store.tenants.verify_api_key("key_unknown", new.secret) is None
    assert await store.tenants.get_api_key("t2", new.key_id) is None
    assert [k.id for k in await store.tenants.list_api_keys("t1")] == [new.key_id]
    assert await store.tenants.list_api_keys("t2") == []

    assert not await store.tenants.revoke_api_key("t2", new.key_id)  # not theirs
    assert await store.tenants.verify_api_key(new.key_id, new.secret) is not None
    clock.advance(5)
    assert await store.tenants.revoke_api_key("t1", new.key_id)
    assert not await store.tenants.revoke_api_key("t1", new.key_id)
    assert await store.tenants.verify_api_key(new.key_id, new.secret) is None
    revoked = await store.tenants.get_api_key("t1", new.key_id)
    assert revoked is not None and revoked.revoked_at == clock.now

    with pytest.raises(NotFound):
        await store.tenants.create_api_key("no-such-tenant")


async def test_app_tokens(store: Store, tenants: tuple[str, str]) -> None:
    new = await store.tenants.create_app_token("t1", "softphone")
    assert new.token.startswith("apt_") and new.app_token.token_hash == hash_secret(new.token)
    found = await store.tenants.verify_app_token(new.token)
    assert found is not None and found.tenant_id == "t1"
    assert await store.tenants.verify_app_token("apt_wrong") is None
    assert [t.id for t in await store.tenants.list_app_tokens("t1")] == [new.app_token.id]
    assert await store.tenants.list_app_tokens("t2") == []
    assert not await store.tenants.revoke_app_token("t2", new.app_token.id)
    assert await store.tenants.revoke_app_token("t1", new.app_token.id)
    assert await store.tenants.verify_app_token(new.token) is None


async def test_the_session_cap_revokes_the_oldest(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    made = []
    for _ in range(3):
        made.append(await store.sessions.create_session("t1", "a1", ttl_s=3600, max_live=3))
        clock.advance(1)
    assert [m.revoked for m in made] == [0, 0, 0]
    other_agent = await store.sessions.create_session("t1", "a2", ttl_s=3600, max_live=3)
    # a fourth login of a1: its oldest session stops working, the others and a2's do not
    fourth = await store.sessions.create_session("t1", "a1", ttl_s=3600, max_live=3)
    assert fourth.revoked == 1
    assert await store.sessions.verify_session(made[0].token) is None
    for live in (made[1], made[2], fourth, other_agent):
        found = await store.sessions.verify_session(live.token)
        assert found is not None and found.tenant_id == "t1"
    listed = await store.sessions.list_sessions("t1", "a1")
    assert [s.token_hash for s in listed] == [
        hash_secret(fourth.token), hash_secret(made[2].token), hash_secret(made[1].token)
    ]  # fmt: skip
    # a cap of one keeps only the newest, even within the same instant
    only = await store.sessions.create_session("t1", "a1", ttl_s=3600, max_live=1)
    assert only.revoked == 3
    assert [s.token_hash for s in await store.sessions.list_sessions("t1", "a1")] == [
        hash_secret(only.token)
    ]
    with pytest.raises(ValueError):
        await store.sessions.create_session("t1", "a1", ttl_s=3600, max_live=0)


async def test_sessions_expire_and_log_out(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    short = await store.sessions.create_session("t1", "a1", ttl_s=60, max_live=5)
    long = await store.sessions.create_session("t1", "a1", ttl_s=600, max_live=5)
    assert short.session.expires_at == clock.now + 60
    clock.advance(60)
    assert await store.sessions.verify_session(short.token) is None  # expired
    assert await store.sessions.verify_session(long.token) is not None
    assert not await store.sessions.revoke_session("t2", long.token)  # not theirs
    assert await store.sessions.revoke_session("t1", long.token)
    assert await store.sessions.verify_session(long.token) is None
    again = await store.sessions.create_session("t1", "a1", ttl_s=600, max_live=5)
    assert await store.sessions.revoke_agent("t2", "a1") == 0
    assert await store.sessions.revoke_agent("t1", "a1") == 1
    assert await store.sessions.verify_session(again.token) is None
    clock.advance(1)
    assert await store.sessions.purge(clock.now) == 3
    with pytest.raises(NotFound):
        await store.sessions.create_session("nope", "a1", ttl_s=1, max_live=1)


async def test_deleting_a_tenant_deletes_what_it_owns(
    store: Store, tenants: tuple[str, str]
) -> None:
    key = await store.tenants.create_api_key("t1")
    session = await store.sessions.create_session("t1", "a1", ttl_s=60, max_live=1)
    await store.records.call_started("t1", "c1", 1.0)
    await store.outbox.enqueue("t1", kind="notify", url="https://n.test/", method="GET")
    await store.events.append("t1", "call.started", {"call_id": "c1"})
    assert await store.tenants.delete_tenant("t1")
    assert await store.tenants.verify_api_key(key.key_id, key.secret) is None
    assert await store.sessions.verify_session(session.token) is None
    assert await store.records.list_live_calls("t1") == []
    assert await store.outbox.claim_due(1e12) == []
    assert await store.events.last_seq("t1") == 0
