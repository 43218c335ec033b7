"""Credentials (issue 4, point 3): API keys over HTTP Basic, agent login sessions with a cap,
agent JWTs and what they may see, key management, and the CLI that creates tenants and keys."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from api_support import (
    HOTLINE,
    JWT_SECRET,
    SESSIONS_PER_AGENT,
    Api,
    basic,
    bearer,
    connected,
    device,
    error_of,
    hang_up,
    ok,
    place,
    put_document,
    record_of,
    run_server,
    set_status,
)

from helpline import cli

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_missing_or_wrong_credentials_are_401_and_alike(api: Api) -> None:
    acme = api.acme
    attempts = {
        "none": {},
        "unknown key": basic("key_000000000000000000000000", acme.secret),
        "wrong secret": basic(acme.key_id, acme.secret + "x"),
        "no colon": {"authorization": "Basic " + base64.b64encode(b"justakey").decode()},
        "not base64": {"authorization": "Basic %%%"},
        "unknown session": bearer("ses_nothing"),
        "other scheme": {"authorization": f"Token {acme.secret}"},
    }
    bodies = []
    for name, headers in attempts.items():
        response = await api.client_for(headers).get("/v1/calls")
        error = error_of(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Basic"), name
        bodies.append(error)
    assert all(body == bodies[0] for body in bodies)  # nothing tells which part was wrong
    ok(await api.client.get("/v1/calls"))


async def _login(api: Api, email: str = "alice@example.com") -> dict[str, Any]:
    body = {"email": email, "app_token": api.acme.app_token}
    found: dict[str, Any] = ok(await api.anonymous.post("/v1/auth/login", json=body))
    return found


async def test_agent_login_by_email_and_app_token(api: Api) -> None:
    session = await _login(api, "  Alice@Example.COM ")
    assert (session["agent_id"], session["tenant_id"]) == ("alice", api.acme.tenant_id)
    assert session["expires_at"] > time.time() + 3600
    agent = api.client_for(bearer(session["session"]))
    assert ok(await agent.get("/v1/agents/alice/state"))["agent_id"] == "alice"

    wrong_token = {"email": "alice@example.com", "app_token": api.second.app_token}
    unknown = {"email": "nobody@example.com", "app_token": api.acme.app_token}
    first = error_of(await api.anonymous.post("/v1/auth/login", json=wrong_token), 401)
    second = error_of(await api.anonymous.post("/v1/auth/login", json=unknown), 401)
    assert first == second

    logout = await agent.post("/v1/auth/logout", json={"session": session["session"]})
    assert logout.status_code == 204
    error_of(await agent.get("/v1/agents/alice/state"), 401, "unauthorized")


async def test_sessions_beyond_the_cap_revoke_the_oldest(api: Api) -> None:
    assert SESSIONS_PER_AGENT == 2
    sessions = [await _login(api) for _ in range(3)]
    assert [s["revoked_older"] for s in sessions] == [0, 0, 1]
    oldest, *kept = (api.client_for(bearer(s["session"])) for s in sessions)
    error_of(await oldest.get("/v1/agents/alice/state"), 401, "unauthorized")
    for client in kept:
        ok(await client.get("/v1/agents/alice/state"))
    bob = await _login(api, "bob@example.com")  # the cap is per agent
    assert bob["revoked_older"] == 0
    for client in kept:
        ok(await client.get("/v1/agents/alice/state"))


async def _token(client: httpx.AsyncClient, **body: Any) -> str:
    token: str = ok(await client.post("/v1/auth/token", json=body))["access_token"]
    return token


async def test_a_session_gives_a_short_lived_jwt(api: Api) -> None:
    session = api.client_for(bearer((await _login(api))["session"]))
    response = ok(await session.post("/v1/auth/token", json={}))
    claims = jwt.decode(response["access_token"], JWT_SECRET, algorithms=["HS256"])
    assert claims["icc_api"] is True
    assert (claims["sub"], claims["userId"]) == ("alice", "alice")
    assert claims["tenant"] == api.acme.tenant_id
    assert time.time() < claims["exp"] <= time.time() + 3600 + 1
    assert response["expires_at"] == claims["exp"]
    error_of(await session.post("/v1/auth/token", json={"agent_id": "bob"}), 404, "not_found")

    by_key = await _token(api.client, agent_id="bob", ttl_s=60)
    bob = jwt.decode(by_key, JWT_SECRET, algorithms=["HS256"])
    assert bob["sub"] == "bob"
    assert bob["exp"] <= time.time() + 61
    error_of(await api.client.post("/v1/auth/token", json={}), 404)
    error_of(await api.client.post("/v1/auth/token", json={"agent_id": "nobody"}), 404)


async def test_an_agent_token_sees_only_its_own_calls_and_state(api: Api) -> None:
    client = api.client
    await device(client, "alice")
    await device(client, "bob")
    await set_status(client, "bob", "NOT_AVAILABLE")
    alices = await place(client, HOTLINE, "11")
    await connected(client, alices, "alice")
    await set_status(client, "bob", "AVAILABLE")
    bobs = await place(client, HOTLINE, "11", from_number="+15552220000")
    await connected(client, bobs, "bob")

    alice = api.client_for(bearer(await _token(client, agent_id="alice")))
    assert [c["call_id"] for c in ok(await alice.get("/v1/calls"))["items"]] == [alices]
    assert ok(await alice.get(f"/v1/calls/{alices}"))["agent_id"] == "alice"
    error_of(await alice.get(f"/v1/calls/{bobs}"), 404, "not_found")
    error_of(await alice.post(f"/v1/calls/{bobs}/hangup"), 404, "not_found")
    error_of(await alice.post(f"/v1/calls/{bobs}/hold"), 404, "not_found")
    assert ok(await alice.get("/v1/agents/alice/state"))["call_id"] == alices
    error_of(await alice.get("/v1/agents/bob/state"), 404, "not_found")
    status = {"manual_status": "NOT_AVAILABLE"}
    error_of(await alice.put("/v1/agents/bob/status", json=status), 404, "not_found")
    callout = {"agent_id": "bob", "customer_number": "+15551230000"}
    error_of(await alice.post("/v1/calls/callout", json=callout), 403, "forbidden")

    admin_only = [
        ("GET", "/v1/config", None),
        ("PUT", "/v1/config", {}),
        ("GET", "/v1/queues", None),
        ("POST", "/v1/agents", {"id": "mallory"}),
        ("PUT", "/v1/sandbox/devices/alice", {}),
        ("POST", "/v1/sandbox/calls", {"to": HOTLINE}),
        ("GET", f"/v1/sandbox/calls/{alices}", None),
        ("POST", "/v1/calls/callback", {"queue_id": "support", "customer_number": "+1555"}),
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/api-keys", {}),
        ("GET", "/v1/webhooks", None),
    ]
    for method, path, body in admin_only:
        response = await alice.request(method, path, json=body)
        error_of(response, 403, "forbidden")

    ok(await alice.post(f"/v1/calls/{alices}/hold"))  # its own call: allowed
    ok(await alice.post(f"/v1/calls/{alices}/resume"))
    assert (await alice.post(f"/v1/calls/{alices}/hangup")).status_code == 204
    await hang_up(client, bobs)
    mine = await record_of(alice, alices)
    assert mine["disconnected_by"] == "agent"
    assert [r["call_id"] for r in ok(await alice.get("/v1/call-records"))["items"]] == [alices]
    error_of(await alice.get(f"/v1/call-records/{bobs}"), 404, "not_found")
    assert len(ok(await client.get("/v1/call-records"))["items"]) == 2


async def test_expired_or_forged_tokens_are_401(api: Api) -> None:
    now = int(time.time())
    base = {"sub": "alice", "tenant": api.acme.tenant_id, "icc_api": True, "iat": now - 100}
    tokens = {
        "expired": jwt.encode({**base, "exp": now - 10}, JWT_SECRET, algorithm="HS256"),
        "other key": jwt.encode({**base, "exp": now + 60}, "x" * 40, algorithm="HS256"),
        "no tenant": jwt.encode({"sub": "alice", "exp": now + 60}, JWT_SECRET, algorithm="HS256"),
        "not a jwt": "a.b.c",
    }
    for token in tokens.values():
        error_of(await api.client_for(bearer(token)).get("/v1/calls"), 401, "unauthorized")
    valid = jwt.encode({**base, "exp": now + 60}, JWT_SECRET, algorithm="HS256")
    ok(await api.client_for(bearer(valid)).get("/v1/calls"))


async def test_api_keys_create_list_revoke(api: Api) -> None:
    created = ok(await api.client.post("/v1/api-keys", json={"label": "ci"}), 201)
    assert created["key_id"].startswith("key_")
    assert created["label"] == "ci"
    new = api.client_for(basic(created["key_id"], created["secret"]))
    ok(await new.get("/v1/calls"))

    listed = ok(await api.client.get("/v1/api-keys"))
    assert {k["key_id"] for k in listed} == {api.acme.key_id, created["key_id"]}
    assert all("secret" not in k for k in listed)
    assert all(k["revoked_at"] is None for k in listed)

    error_of(await api.other.delete(f"/v1/api-keys/{created['key_id']}"), 404, "not_found")
    ok(await new.get("/v1/calls"))
    assert (await api.client.delete(f"/v1/api-keys/{created['key_id']}")).status_code == 204
    error_of(await new.get("/v1/calls"), 401, "unauthorized")
    revoked = [k for k in ok(await api.client.get("/v1/api-keys")) if k["revoked_at"]]
    assert [k["key_id"] for k in revoked] == [created["key_id"]]
    ok(await api.client.get("/v1/calls"))


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, str]:
    assert cli.main(list(argv)) == 0
    found: dict[str, str] = json.loads(capsys.readouterr().out)
    return found


async def test_cli_creates_tenants_and_keys_that_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    def create() -> tuple[dict[str, str], dict[str, str]]:
        tenant = _cli_json(capsys, "tenant", "create", "Acme", "--json", "--database", url)
        argv = ("key", "create", tenant["tenant_id"], "--label", "x", "--json")
        key = _cli_json(capsys, *argv, "--database", url)
        return tenant, key

    tenant, key = await asyncio.to_thread(create)  # the CLI runs its own event loop
    assert set(tenant) == {"tenant_id", "name", "key_id", "secret"}
    assert tenant["name"] == "Acme"
    assert (key["tenant_id"], set(key)) == (tenant["tenant_id"], {"tenant_id", "key_id", "secret"})
    assert key["key_id"] != tenant["key_id"]

    missing = await asyncio.to_thread(
        cli.main, ["key", "create", "ten_nope", "--json", "--database", url]
    )
    assert missing == 2
    assert capsys.readouterr().out == ""

    async with run_server(url, pairs=0) as server:
        for creds in (tenant, key):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=server.app),
                base_url="http://test",
                headers=basic(creds["key_id"], creds["secret"]),
            )
            async with client:
                assert ok(await client.get("/v1/config"))["version"] == 0
                assert ok(await client.get("/v1/calls"))["items"] == []

        # a tenant created while the server runs works at once, center and calls included
        late = await asyncio.to_thread(
            _cli_json, capsys, "tenant", "create", "Late", "--json", "--database", url
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=server.app),
            base_url="http://test",
            headers=basic(late["key_id"], late["secret"]),
        )
        async with client:
            assert ok(await client.get("/v1/calls"))["items"] == []
            await put_document(client, {"numbers": [], "queues": []})
            assert ok(await client.get("/v1/config"))["version"] == 1
