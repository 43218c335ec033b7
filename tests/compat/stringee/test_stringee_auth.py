"""Stringee access tokens (REST API authentication; seed 000 Step 3a's `icc_api` token)."""

from __future__ import annotations

import base64
import json

import pytest
from api_support import JWT_SECRET, Api, device, ok
from stringee_support import PREFIX, StringeeKey, bad, good, new_key, token

from helpline.api.app import create_app
from helpline.api.compat.stringee.events import EventForwarder
from helpline.api.compat.stringee.replies import R_FORBIDDEN, R_UNAUTHORIZED
from helpline.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _unsigned(signed: str) -> str:
    """The same claims with `alg: none` and no signature (RFC 7519 section 6)."""
    header = {"typ": "JWT", "alg": "none", "cty": "stringee-api;v=1"}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{signed.split('.')[1]}."


async def test_a_key_is_made_with_native_credentials_and_its_token_works(api: Api) -> None:
    bad(await api.anonymous.post(f"{PREFIX}/v1/keys", json={}), 401, R_UNAUTHORIZED, "Basic")
    key = await new_key(api, label="crm")
    assert key.sid.startswith("SK") and key.project_id >= 1
    client = api.client_for({"X-STRINGEE-AUTH": token(key)})
    body = good(await client.get(f"{PREFIX}/v1/queue"))
    assert body["project"] == key.project_id
    # the access_token query parameter works as the header does
    body = good(await api.anonymous.get(f"{PREFIX}/v1/queue", params={"access_token": token(key)}))
    assert body["project"] == key.project_id
    again = await new_key(api)  # a second key of the same tenant: the same project
    assert again.project_id == key.project_id and again.sid != key.sid


@pytest.mark.parametrize(
    ("problem", "named"),
    [
        ("missing", "missing"),
        ("garbage", "JWT"),
        ("expired", "expired"),
        ("wrong_secret", "invalid"),
        ("unknown_sid", "iss"),
        ("no_cty", "cty"),
        ("no_rest_api", "rest_api"),
        ("alg_none", "HS256"),
    ],
)
async def test_a_wrong_token_is_refused_in_stringees_shape(
    api: Api, problem: str, named: str
) -> None:
    key = await new_key(api)
    tokens = {
        "missing": None,
        "garbage": "not-a-token",
        "expired": token(key, ttl_s=-10),
        "wrong_secret": token(key, secret="another-secret-of-enough-length-000"),
        "unknown_sid": token(key, iss="SKUNKNOWN"),
        "no_cty": token(key, header={"cty": None}),
        "no_rest_api": token(key, rest_api=False),
        "alg_none": _unsigned(token(key)),
    }
    value = tokens[problem]
    headers = {} if value is None else {"X-STRINGEE-AUTH": value}
    client = api.client_for(headers)
    bad(await client.get(f"{PREFIX}/v1/agent"), 401, R_UNAUTHORIZED, named)


async def test_an_agents_icc_api_token_places_its_own_callouts_only(api: Api) -> None:
    """Seed 000 Step 3a: `{"jti", "iss", "exp", "userId", "icc_api": true}`."""
    key = await new_key(api)
    agent_token = token(key, rest_api=None, userId="agent_1", icc_api=True)
    client = api.client_for({"X-STRINGEE-AUTH": agent_token})
    bad(await client.get(f"{PREFIX}/v1/agent"), 403, R_FORBIDDEN, "userId")
    other = {"agentUserId": "agent_2", "customerNumber": "84909982888"}
    bad(await client.post(f"{PREFIX}/v1/call/callout", json=other), 403, R_FORBIDDEN)
    # its own callout goes ahead
    project = api.client_for({"X-STRINGEE-AUTH": token(key)})
    agent = {"name": "Agent 1", "stringee_user_id": "agent_1"}
    good(await project.post(f"{PREFIX}/v1/agent", json=agent))
    await device(api.client, "agent_1", auto_answer=False)
    mine = {"agentUserId": "agent_1", "customerNumber": "84909982888"}
    placed = good(await client.post(f"{PREFIX}/v1/call/callout", json=mine))
    ringing = ok(await api.client.get(f"/v1/calls/{placed['callId']}"))
    assert (ringing["direction"], ringing["state"]) == ("callout", "ringing_agent")
    assert ringing["offered_to"] == ["agent_1"]


async def test_another_tenants_key_sees_only_its_own_project(api: Api) -> None:
    mine = await new_key(api)
    client = api.client_for({"X-STRINGEE-AUTH": token(mine)})
    created = good(await client.post(f"{PREFIX}/v1/group", json={"name": "Support group"}))
    theirs = ok(await api.other.post(f"{PREFIX}/v1/keys", json={}), 201)
    other_key = StringeeKey(theirs["sid"], theirs["secret"], theirs["project"])
    assert other_key.project_id != mine.project_id
    other_client = api.client_for({"X-STRINGEE-AUTH": token(other_key)})
    groups = good(await other_client.get(f"{PREFIX}/v1/group"))["data"]["groups"]
    assert created["groupID"] not in [g["id"] for g in groups]
    bad(
        await other_client.put(f"{PREFIX}/v1/group/{created['groupID']}", json={"name": "x"}),
        404,
        3,
        "groupID",
    )


async def test_after_a_restart_the_engine_still_knows_its_project(api: Api) -> None:
    """The project id reaches the runtime at start, not only once a token is seen: the
    `get_list_agents_url` body carries it from the first call after a restart."""
    key = await new_key(api, event_url="http://127.0.0.1:9/events")
    app = create_app(Settings(database_url=api.server.database_url, jwt_secret=JWT_SECRET))
    async with app.router.lifespan_context(app):
        runtime = app.state.helpline.hub.tenants[api.acme.tenant_id]
        assert runtime.project_id == key.project_id
        [forwarder] = [h for h in runtime.event_hooks if isinstance(h, EventForwarder)]
        assert forwarder.event_url == "http://127.0.0.1:9/events"
