"""Regressions from the review of issue 5 (CCAI): concurrent callbacks for one end user and
menu share one open ticket (S4: a partial unique index and insert-on-conflict, on SQLite and
PostgreSQL), and `wait_times` answers per the seed (S7)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_support import Api, ok
from ccai_support import (
    V1,
    assert_call_shape,
    ccai_center,
    line_up,
    make_call,
    post_call,
    use_center,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def open_tickets(api: Api, number: str, menu_id: int) -> list[str]:
    store = api.app.state.helpline.store.ccai
    found = await store.open_ticket_for(api.acme.tenant_id, number, menu_id)
    return [] if found is None else [found.ticket_id]


async def test_concurrent_callbacks_for_one_end_user_and_menu_share_one_ticket(api: Api) -> None:
    await use_center(api.client)
    number = "+14155550000"
    answers = await asyncio.gather(
        *(post_call(api.client, menu_id=13, end_user_number=number) for _ in range(6))
    )
    for answer in answers:
        assert_call_shape(ok(answer, 201))
    tickets = {ok(answer, 201)["out_ticket_id"] for answer in answers}
    assert len(tickets) == 1
    assert await open_tickets(api, number, 13) == sorted(tickets)
    # another menu, another end user: their own tickets, still one each under concurrency
    others = await asyncio.gather(
        *(post_call(api.client, menu_id=12, end_user_number=number) for _ in range(3)),
        *(post_call(api.client, menu_id=13, end_user_number="+14155550001") for _ in range(3)),
    )
    found = [ok(answer, 201)["out_ticket_id"] for answer in others]
    assert len(set(found[:3])) == len(set(found[3:])) == 1
    assert len({*tickets, *found}) == 3


async def test_a_new_ticket_given_by_the_client_supersedes_the_open_one(api: Api) -> None:
    await use_center(api.client)
    number = "+14155550002"
    made = await make_call(api.client, menu_id=13, end_user_number=number)
    given = await make_call(api.client, menu_id=13, end_user_number=number, ticket_id="ZD-77")
    assert given["out_ticket_id"] == "ZD-77"
    assert await open_tickets(api, number, 13) == ["ZD-77"]
    again = await make_call(api.client, menu_id=13, end_user_number=number)
    assert again["out_ticket_id"] == "ZD-77" != made["out_ticket_id"]


async def test_wait_is_always_an_int_and_filters_are_positive(api: Api) -> None:
    await use_center(api.client)
    await line_up(api.client, "billing", ["ann", "amy", "abe"], waiting=0)
    found = ok(await api.client.get(f"{V1}/wait_times", params={"lang": "en"}))
    assert found  # billing has agents; the queues nobody is logged in to are left out
    assert all(type(entry["wait"]) is int for entry in found)
    assert 13 not in [entry["menu_id"] for entry in found]
    for name in ("wait[from]", "wait[to]"):
        response = await api.client.get(f"{V1}/wait_times", params={"lang": "en", name: 0})
        assert response.status_code == 422
        assert [f["path"] for f in response.json()["error"]["details"]["fields"]] == [
            f"query.{name}"
        ]


@pytest.mark.parametrize(("lang", "status"), [("fr", 200), ("pt-BR", 200), ("xx", 422)])
async def test_lang_is_one_of_the_seeds_languages(api: Api, lang: str, status: int) -> None:
    await use_center(api.client)
    response = await api.client.get(f"{V1}/wait_times", params={"lang": lang})
    assert response.status_code == status, response.text
    if status == 422:
        assert "lang" in response.json()["error"]["message"]
        assert response.json()["error"]["details"]["fields"][0]["path"] == "query.lang"
    else:
        assert response.json() == []


async def test_a_language_a_menu_serves_is_taken_though_not_in_the_seeds_list(api: Api) -> None:
    document: dict[str, Any] = ccai_center()
    for menu in document["menus"]:
        if menu["id"] == 1:
            menu["languages"] = ["en", "es", "vi"]
    await use_center(api.client, document)
    response = await api.client.get(f"{V1}/wait_times", params={"lang": "vi"})
    assert response.status_code == 200, response.text
