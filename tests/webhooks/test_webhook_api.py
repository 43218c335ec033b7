"""`/v1/webhooks`: subscriptions over REST, with real API-key auth, on both store backends."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from webhook_helpers import Receiver, Reply

from helpline.api import errors
from helpline.api import webhooks as webhooks_api
from helpline.settings import Settings
from helpline.store import Store
from helpline.store.models import OutboxMessage
from helpline.webhooks.deliverer import Deliverer
from helpline.webhooks.publisher import WebhookOutbox

JWT_SECRET = "test-jwt-secret-of-at-least-32-bytes"
T0 = 1_700_000_000.0


def basic(key_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    return {"authorization": f"Basic {token}"}


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    errors.install(app)
    app.include_router(webhooks_api.router)
    app.state.helpline = SimpleNamespace(store=store, jwt_secret=JWT_SECRET)
    key = await store.tenants.create_api_key("t1")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=basic(key.key_id, key.secret)
    ) as client:
        yield client


@pytest.fixture
async def other_tenant(store: Store) -> dict[str, str]:
    key = await store.tenants.create_api_key("t2")
    return basic(key.key_id, key.secret)


async def create(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("url", "https://example.com/hook")
    response = await api.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_create_shows_the_secret_once_more_on_get(api: httpx.AsyncClient) -> None:
    created = await create(api, event_types=["call.*", "agent.state_changed", "call.*"])
    assert created["id"].startswith("wh_")
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["call.*", "agent.state_changed"]
    assert (created["enabled"], created["disabled_reason"]) == (True, None)

    got = (await api.get(f"/v1/webhooks/{created['id']}")).json()
    assert got == created
    listed = (await api.get("/v1/webhooks")).json()
    assert "secret" not in listed["items"][0]
    assert listed["items"][0]["id"] == created["id"]


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"url": "ftp://example.com/x"}, "body.url"),
    ({"url": "example.com/hook"}, "body.url"),
    ({"url": "https://"}, "body.url"),
    ({"url": "https://exa mple.com/"}, "body.url"),
    ({"url": "https://example.com:99999/"}, "body.url"),
    ({"url": "http://[::1/"}, "body.url"),
    ({"url": "https://example.com/\x00"}, "body.url"),
    ({"url": ""}, "body.url"),
    ({}, "body.url"),
    ({"url": "https://example.com", "event_types": ["Call Ended"]}, "body.event_types[0]"),
    ({"url": "https://example.com", "event_types": ["call.*.x"]}, "body.event_types[0]"),
    ({"url": "https://example.com", "event_types": "call.ended"}, "body.event_types"),
    ({"url": "https://example.com", "secret": "whsec_x"}, "body.secret"),
    ({"url": "https://example.com", "description": "d"}, "body.description"),
]


async def test_bad_input_is_422_with_the_path(api: httpx.AsyncClient) -> None:
    for body, path in BAD_BODIES:
        response = await api.post("/v1/webhooks", json=body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert path in [f["path"] for f in error["details"]["fields"]], (body, error)
    assert (await api.get("/v1/webhooks")).json()["items"] == []


async def test_list_pages_with_a_cursor(api: httpx.AsyncClient, clock: Any) -> None:
    ids = []
    for i in range(5):
        clock.advance(1.0 if i != 3 else 0.0)  # two share a created_at
        ids.append((await create(api, url=f"https://example.com/{i}"))["id"])
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/webhooks", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5

    bad = await api.get("/v1/webhooks", params={"cursor": "nonsense"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_cursor"
    assert (await api.get("/v1/webhooks", params={"limit": 0})).status_code == 422


async def test_another_tenants_subscription_is_not_found(
    api: httpx.AsyncClient, other_tenant: dict[str, str]
) -> None:
    sub_id = (await create(api))["id"]
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"enabled": False}),
        ("DELETE", "", None),
        ("GET", "/attempts", None),
        ("POST", "/rotate-secret", None),
    ]:
        response = await api.request(
            method, f"/v1/webhooks/{sub_id}{suffix}", json=body, headers=other_tenant
        )
        assert response.status_code == 404, (method, suffix)
        assert response.json()["error"]["code"] == "not_found"
    listed = (await api.get("/v1/webhooks", headers=other_tenant)).json()
    assert listed == {"items": [], "next_cursor": None}
    assert (await api.get(f"/v1/webhooks/{sub_id}")).status_code == 200  # still there
    for weird in ("nope", "wh_%00", "a" * 150):
        assert (await api.get(f"/v1/webhooks/{weird}")).status_code == 404


async def test_patch_changes_and_reenabling_clears_the_reason(
    api: httpx.AsyncClient, store: Store
) -> None:
    sub_id = (await create(api))["id"]
    response = await api.patch(
        f"/v1/webhooks/{sub_id}",
        json={"url": "http://example.org/new", "event_types": ["call.ended"]},
    )
    assert response.status_code == 200
    changed = response.json()
    assert (changed["url"], changed["event_types"]) == ("http://example.org/new", ["call.ended"])
    assert "secret" not in changed

    await store.outbox.disable_subscription("t1", sub_id, "endpoint answered 410 Gone")
    got = (await api.get(f"/v1/webhooks/{sub_id}")).json()
    assert (got["enabled"], got["disabled_reason"]) == (False, "endpoint answered 410 Gone")
    enabled = (await api.patch(f"/v1/webhooks/{sub_id}", json={"enabled": True})).json()
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)

    unchanged = (await api.patch(f"/v1/webhooks/{sub_id}", json={})).json()
    assert unchanged == enabled
    assert (await api.patch(f"/v1/webhooks/{sub_id}", json={"url": "x"})).status_code == 422
    assert (await api.patch(f"/v1/webhooks/{sub_id}", json={"id": "x"})).status_code == 422


async def test_delete(api: httpx.AsyncClient) -> None:
    sub_id = (await create(api))["id"]
    response = await api.delete(f"/v1/webhooks/{sub_id}")
    assert (response.status_code, response.content) == (204, b"")
    assert (await api.get(f"/v1/webhooks/{sub_id}")).status_code == 404
    assert (await api.delete(f"/v1/webhooks/{sub_id}")).status_code == 404


async def test_rotate_secret(api: httpx.AsyncClient) -> None:
    created = await create(api)
    rotated = (await api.post(f"/v1/webhooks/{created['id']}/rotate-secret")).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert (await api.get(f"/v1/webhooks/{created['id']}")).json()["secret"] == rotated["secret"]


async def test_subscriptions_made_over_the_api_take_effect_at_once(
    api: httpx.AsyncClient, store: Store, clock: Any, receiver: Receiver
) -> None:
    outbox = WebhookOutbox(store, clock=clock, wake=lambda: None)
    await outbox.publish_event("t1", "call.ended", {})  # caches "no subscriptions"
    sub_id = (await create(api, url=receiver.url(), event_types=["call.*"]))["id"]
    await outbox.publish_event("t1", "call.ended", {"n": 1})
    await api.patch(f"/v1/webhooks/{sub_id}", json={"event_types": ["agent.*"]})
    await outbox.publish_event("t1", "call.ended", {"n": 2})
    await outbox.publish_event("t1", "agent.state_changed", {"n": 3})
    await api.delete(f"/v1/webhooks/{sub_id}")
    await outbox.publish_event("t1", "agent.state_changed", {"n": 4})
    async with store.transaction() as tx:
        rows = (await tx.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert [('"n":1' in r.body, '"n":3' in r.body) for r in rows] == [(True, False), (False, True)]


async def test_delivery_attempts_are_listed(
    api: httpx.AsyncClient, store: Store, clock: Any, receiver: Receiver
) -> None:
    created = await create(api, url=receiver.url())
    receiver.script("/hook", Reply(500), Reply(200))
    outbox = WebhookOutbox(store, clock=clock, wake=lambda: None)
    await outbox.publish_event("t1", "call.ended", {"call_id": "c1"})
    settings = Settings(webhook_retry_schedule=(0.0, 0.05))
    deliverer = Deliverer(store, settings)
    try:
        assert await deliverer.run_once(T0) == 1
        assert await deliverer.run_once(T0 + 1) == 1
    finally:
        await deliverer.stop()

    url = f"/v1/webhooks/{created['id']}/attempts"
    page = (await api.get(url)).json()
    items = page["items"]
    assert [(a["status_code"], a["success"]) for a in items] == [(200, True), (500, False)]
    assert items[1]["error"] == "HTTP 500 Internal Server Error"
    assert items[0]["message_id"] == receiver.requests[0].headers["webhook-id"]
    assert items[0]["message_id"] == items[1]["message_id"]
    first = (await api.get(url, params={"limit": 1})).json()
    assert [a["id"] for a in first["items"]] == [items[0]["id"]]
    second = (await api.get(url, params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert [a["id"] for a in second["items"]] == [items[1]["id"]]
    assert second["next_cursor"] is None


async def test_credentials_are_required_and_agents_are_refused(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/v1/webhooks", headers={"authorization": ""})
    assert response.status_code == 401
    token = jwt.encode(
        {"sub": "a1", "tenant": "t1", "exp": int(time.time()) + 60}, JWT_SECRET, "HS256"
    )
    response = await api.get("/v1/webhooks", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
