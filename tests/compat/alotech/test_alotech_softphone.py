"""Seed 002 "Generic Softphone SSO": the iframe address `?tenant=...&session=...` checks the
session and leads to Helpline's softphone page; `function=softphone` answers the address."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from alotech_support import alo_ok, login
from api_support import Api, error_of

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
