"""Seed 002 "Generic Softphone SSO": the iframe address `?tenant=...&session=...` checks the
session and leads to Helpline's softphone page; `function=softphone` answers the address."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from alotech_support import API, alo_ok, login
from api_support import Api, error_of, ok

from helpline.api.compat.alotech.softphone import verify_sso
from helpline.api.errors import VendorError

pytestmark = pytest.mark.asyncio(loop_scope="module")

SSO = "/compat/alotech/generic/sso/"


async def test_function_softphone_answers_the_sessions_sso_address(api: Api) -> None:
    session = await login(api)
    body = await alo_ok(api.anonymous, function="softphone", session=session)
    assert set(body) == {"success", "url"} and body["success"] is True
    parts = urlsplit(body["url"])
    assert parts.scheme in ("http", "https") and parts.netloc
    assert parts.path == SSO
    assert parse_qs(parts.query) == {"tenant": [api.acme.tenant_id], "session": [session]}


async def test_the_sso_address_leads_to_the_softphone_page(api: Api) -> None:
    session = await login(api)
    # <iframe src="https://softphone.alo-tech.com/generic/sso/?tenant=TENANTNAME&session=SESSION">
    response = await api.anonymous.get(
        SSO, params={"tenant": api.acme.tenant_id, "session": session}
    )
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert target.path == "/softphone"
    assert parse_qs(target.query) == {"tenant": [api.acme.tenant_id], "session": [session]}


async def test_an_unknown_session_or_another_tenant_answers_login_false(api: Api) -> None:
    session = await login(api)
    for params in (
        {"tenant": api.acme.tenant_id, "session": "ses_unknown"},
        {"tenant": api.second.tenant_id, "session": session},
    ):
        response = await api.anonymous.get(SSO, params=params)
        assert response.status_code == 200
        assert response.json() == {"login": False, "message": "Invalid Session"}
    body = await alo_ok(api.anonymous, function="softphone", session="ses_unknown")
    assert body == {"login": False, "message": "Invalid Session"}


@pytest.mark.parametrize("missing", ["tenant", "session"])
async def test_a_missing_parameter_is_a_400_naming_it(api: Api, missing: str) -> None:
    params = {"tenant": api.acme.tenant_id, "session": await login(api)}
    del params[missing]
    error = error_of(await api.anonymous.get(SSO, params=params), 400, "invalid_parameter")
    assert error["details"]["field"] == missing


async def test_the_sso_address_opens_the_softphone_page_signed_in_by_the_session(
    api: Api,
) -> None:
    """Followed to the end, the iframe address is the softphone page (200, HTML); the page
    signs in with the session through `GET /v1/web/me`, which accepts exactly the sessions
    `verify_sso` accepts, as the same agent."""
    session = await login(api)
    query = {"tenant": api.acme.tenant_id, "session": session}
    page = await api.anonymous.get(SSO, params=query, follow_redirects=True)
    assert page.status_code == 200
    assert page.url.path == "/softphone"
    assert page.headers["content-type"].startswith("text/html")
    assert parse_qs(page.url.query.decode()) == {k: [v] for k, v in query.items()}
    me = ok(await api.anonymous.get("/v1/web/me", headers={"authorization": f"Bearer {session}"}))
    checked = await verify_sso(api.app.state.helpline, query)
    assert (me["tenant_id"], me["agent_id"]) == (checked.tenant_id, checked.agent_id)
    assert me["tenant_id"] == api.acme.tenant_id
    # a session neither accepts
    refused = await api.anonymous.get("/v1/web/me", headers={"authorization": "Bearer ses_x"})
    assert refused.status_code == 401
    with pytest.raises(VendorError):
        await verify_sso(api.app.state.helpline, {**query, "session": "ses_x"})


async def test_the_sso_address_is_not_steered_by_the_host_header(api: Api) -> None:
    session = await login(api)
    response = await api.anonymous.get(
        API, params={"function": "softphone", "session": session}, headers={"host": "evil.example"}
    )
    body = ok(response)
    assert "evil.example" not in body["url"]
    settings = api.app.state.helpline.settings
    assert body["url"].startswith(settings.base_url().rstrip("/") + SSO)


async def test_without_a_configured_address_the_sso_address_is_relative(api: Api) -> None:
    settings = api.app.state.helpline.settings
    before = (settings.public_url, settings.host)
    settings.public_url, settings.host = None, "0.0.0.0"
    try:
        session = await login(api)
        body = await alo_ok(api.anonymous, function="softphone", session=session)
    finally:
        settings.public_url, settings.host = before
    assert body["url"].startswith(f"{SSO}?")
