"""Seed 002 "Login": `function=login` with an agent's e-mail and an app token gives a session
of 8-12 hours; the seed's failure bodies; the session is Helpline's own login session."""

from __future__ import annotations

import time

import pytest
from alotech_support import alo, alo_ok, login
from api_support import Api, bearer, error_of, ok

from helpline.api.deps import app_state_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_login_answers_the_seeds_success_body(api: Api) -> None:
    # https://TENANTNAME./api/?function=login&email=[Your Email Here]&app_token=[...]
    body = await alo_ok(
        api.anonymous, function="login", email="alice@example.com", app_token=api.acme.app_token
    )
    assert set(body) == {"login", "session", "message", "language"}
    assert body["login"] is True
    assert body["message"] == "Login Successful!"
    assert body["language"] == "en"
    assert isinstance(body["session"], str) and len(body["session"]) >= 32


async def test_the_session_is_a_helpline_agent_session_of_8_to_12_hours(api: Api) -> None:
    before = time.time()
    session = await login(api, "Carol@Example.com")  # e-mail compared without case
    state = app_state_of(api.app)
    found = await state.store.sessions.verify_session(session)
    assert found is not None
    assert (found.tenant_id, found.agent_id) == (api.acme.tenant_id, "carol")
    assert 8 * 3600 <= found.expires_at - before <= 12 * 3600 + 60
    # the same session signs in to the native API (seed 002: "used ... using other Public API")
    me = api.client_for(bearer(session))
    assert ok(await me.get("/v1/agents/carol/state"))["agent_id"] == "carol"


async def test_unknown_email_answers_user_not_found(api: Api) -> None:
    response = await alo(
        api.anonymous, function="login", email="nobody@example.com", app_token=api.acme.app_token
    )
    assert response.status_code == 200
    assert response.json() == {"login": False, "message": "User not found"}


async def test_wrong_token_answers_invalid_application_token(api: Api) -> None:
    response = await alo(
        api.anonymous, function="login", email="alice@example.com", app_token="not-a-token"
    )
    assert response.status_code == 200
    assert response.json() == {"login": False, "message": "Invalid Application Token"}


async def test_another_tenants_agent_is_not_found_with_this_tenants_token(api: Api) -> None:
    # the second tenant has no center: its token knows no alice
    response = await alo(
        api.anonymous, function="login", email="alice@example.com", app_token=api.second.app_token
    )
    assert response.json() == {"login": False, "message": "User not found"}


async def test_a_revoked_token_no_longer_logs_in(api: Api) -> None:
    created = ok(await api.client.post("/v1/app-tokens", json={"label": "crm"}), 201)
    assert (await login_with(api, created["token"]))["login"] is True
    ok(await api.client.delete(f"/v1/app-tokens/{created['id']}"), 204)
    assert await login_with(api, created["token"]) == {
        "login": False,
        "message": "Invalid Application Token",
    }


async def login_with(api: Api, token: str) -> dict[str, object]:
    return await alo_ok(api.anonymous, function="login", email="bob@example.com", app_token=token)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"email": "alice@example.com"}, "Invalid Application Token"),
        ({"email": "alice@example.com", "app_token": "  "}, "Invalid Application Token"),
        ({}, "Invalid Application Token"),
    ],
)
async def test_missing_token_answers_invalid_application_token(
    api: Api, params: dict[str, str], message: str
) -> None:
    assert await alo_ok(api.anonymous, function="login", **params) == {
        "login": False,
        "message": message,
    }


async def test_missing_email_answers_user_not_found(api: Api) -> None:
    body = await alo_ok(api.anonymous, function="login", app_token=api.acme.app_token)
    assert body == {"login": False, "message": "User not found"}


async def test_old_sessions_stop_working_above_the_limit(api: Api) -> None:
    # seed 002: "Old sessions will not work above a certain limit" (the tests' cap is 2)
    first = await login(api, "dave@example.com")
    await login(api, "dave@example.com")
    await login(api, "dave@example.com")
    body = await alo_ok(api.anonymous, function="softphone", session=first)
    assert body == {"login": False, "message": "Invalid Session"}


async def test_missing_or_unknown_function_is_a_400_naming_it(api: Api) -> None:
    error = error_of(await api.anonymous.get("/compat/alotech/api/"), 400, "invalid_parameter")
    assert error["details"]["field"] == "function"
    error = error_of(await alo(api.anonymous, function="makeCoffee"), 400, "invalid_parameter")
    assert error["details"]["field"] == "function"
    assert "makeCoffee" in error["message"]


async def test_the_api_answers_without_the_trailing_slash_too(api: Api) -> None:
    response = await api.anonymous.get(
        "/compat/alotech/api",
        params={"function": "login", "email": "alice@example.com", "app_token": "x"},
    )
    assert response.json() == {"login": False, "message": "Invalid Application Token"}
