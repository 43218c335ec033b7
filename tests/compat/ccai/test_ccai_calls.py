"""Seed 004 "Callback Call API": `POST /apps/api/v1/calls` (and the sample's
`/manager/api/v1/calls/instantcall`), answering the call object; the outbound number table,
the ticket logic, recording permissions; the call by id as it goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_support import Api, device, error_of, field_paths, ok, poll, record_of
from ccai_support import (
    BILLING_NUMBERS,
    GLOBAL_NUMBER,
    MANAGER,
    SAMPLE,
    SAMPLE_OUTBOUND,
    V1,
    WEB_NUMBER,
    assert_call_shape,
    make_call,
    post_call,
    use_center,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_seeds_curl_sample_answers_the_seeds_call_object(api: Api) -> None:
    await use_center(api.client)
    # curl -X POST https://ujetzdco.ujet.co/manager/api/v1/calls/instantcall \
    #   -H 'Authorization: Basic ...' -H 'Content-Type: application/json' -d '{...}'
    response = await api.anonymous.post(
        f"{MANAGER}/calls/instantcall",
        headers={**api.acme.headers, "Content-Type": "application/json"},
        content=b"""{
            "call_type": "IncomingCall",
            "outbound_number": "+18888888888",
            "end_user_number": "+19999999999",
            "menu_id":12,
            "ticket_id": 177821
        }""",
    )
    body = ok(response, 201)
    assert_call_shape(body)
    # the seed's request table: `ticket_id` is a String, so the ticket the call is assigned
    # to comes back as one, though the sample sends the number 177821 (the sample answer's
    # null is a call on no ticket)
    assert type(body["out_ticket_id"]) is str
    # nobody serves menu 12's queue yet: the call waits, as in the sample
    expected = {
        **SAMPLE,
        "out_ticket_id": "177821",
        "menu_path": "Support / Technical / Internet",
    }
    for key in ("id", "created_at", "queued_at"):  # ours: a new id, the time it is now
        expected.pop(key)
    assert {key: body[key] for key in expected} == expected
    assert body["created_at"] == body["queued_at"]

    # it is Helpline's callback call, waiting in the menu's queue with the number to dial
    live = ok(await api.client.get("/v1/calls"))["items"]
    assert [(c["direction"], c["state"], c["queue_id"]) for c in live] == [
        ("callback", "queued", "internet")
    ]
    assert (live[0]["from_number"], live[0]["to_number"]) == (SAMPLE_OUTBOUND, "+19999999999")


async def test_the_apps_uri_takes_the_same_call_and_it_goes_on_to_the_end(api: Api) -> None:
    await use_center(api.client)
    call = await make_call(api.client, menu_id=2, end_user_number="+15557770001")
    assert_call_shape(call)
    assert (call["status"], call["selected_menu"], call["lang"]) == ("queued", 2, "en")
    assert call["outbound_number"] == GLOBAL_NUMBER  # menu 2's queue has no numbers
    call_id = call["id"]

    await device(api.client, "cat")  # the agent takes it; the end user answers; they talk

    async def talking() -> dict[str, Any] | None:
        found: dict[str, Any] = ok(await api.client.get(f"{V1}/calls/{call_id}"))
        return found if found["status"] == "connected" else None

    now = await poll(talking, what="the callback call to connect")
    assert_call_shape(now)
    assert now["agent_info"] == {"id": "cat", "name": "Cat"}
    assert now["assigned_at"] is not None and now["connected_at"] is not None
    assert now["created_at"] <= now["assigned_at"] <= now["connected_at"]
    sandbox = ok(await api.client.get("/v1/sandbox/devices/cat"))
    helpline_id = sandbox["on_call"]
    placed = ok(await api.client.get(f"/v1/sandbox/calls/{helpline_id}"))
    assert (placed["from_number"], placed["to_number"]) == (GLOBAL_NUMBER, "+15557770001")

    ok(await api.client.post("/v1/sandbox/devices/cat/hangup"))
    await record_of(api.client, helpline_id)
    done = ok(await api.client.get(f"{MANAGER}/calls/{call_id}"))
    assert_call_shape(done)
    assert (done["status"], done["fail_reason"]) == ("finished", "nothing")
    assert done["disconnected_by"] == "disconnected_by_agent"
    assert done["ends_at"] >= done["connected_at"]
    assert done["agent_info"] == {"id": "cat", "name": "Cat"}


async def test_an_end_user_who_does_not_answer_fails_the_call(api: Api) -> None:
    await use_center(api.client)
    number = "+15557770002"
    ok(await api.client.put(f"/v1/sandbox/customers/{number}", json={"answer": False}))
    await device(api.client, "cat")
    call = await make_call(api.client, menu_id=2, end_user_number=number)

    async def ended() -> dict[str, Any] | None:
        found: dict[str, Any] = ok(await api.client.get(f"{V1}/calls/{call['id']}"))
        return found if found["status"] == "failed" else None

    failed = await poll(ended, what="the callback call to fail")
    assert_call_shape(failed)
    assert (failed["fail_reason"], failed["fail_details"]) == ("no_answer", "failed")
    assert failed["disconnected_by"] == "disconnected_by_end_user"
    assert failed["connected_at"] is None


async def test_the_outbound_number_table(api: Api) -> None:
    """Seed 004 "Outbound number logic", every cell."""
    await use_center(api.client)
    first, second = BILLING_NUMBERS
    cases = [
        # queue with many outbound numbers (menu 10 -> billing)
        (10, second, second),  # specified, well formed: that number
        (10, "not a number", first),  # not well formed: the first available
        (10, None, first),  # not specified: the queue's outbound number
        (10, GLOBAL_NUMBER, GLOBAL_NUMBER),  # the global number is the tenant's too
        # queue with one number (menu 12 -> internet)
        (12, SAMPLE_OUTBOUND, SAMPLE_OUTBOUND),
        (12, "12", SAMPLE_OUTBOUND),
        (12, None, SAMPLE_OUTBOUND),
        # queue with no number (menu 2 -> sales): the global number, whatever is given
        (2, "+18885550999", GLOBAL_NUMBER),
        (2, "junk", GLOBAL_NUMBER),
        (2, None, GLOBAL_NUMBER),
        # a menu's own numbers come before its queue's (menu 30 -> sales)
        (30, None, WEB_NUMBER),
        (30, WEB_NUMBER, WEB_NUMBER),
    ]
    for index, (menu_id, requested, used) in enumerate(cases):
        fields: dict[str, Any] = {"menu_id": menu_id, "end_user_number": f"+1555888{index:04d}"}
        if requested is not None:
            fields["outbound_number"] = requested
        call = await make_call(api.client, **fields)
        assert (call["outbound_number"], call["support_number"]) == (used, used), (index, call)
    # the engine dials from those numbers: each live callback call carries its caller id
    live = ok(await api.client.get("/v1/calls?limit=500"))["items"]
    seen = sorted((c["to_number"], c["from_number"]) for c in live)
    assert seen == sorted((f"+1555888{i:04d}", used) for i, (_, _, used) in enumerate(cases))

    # a well-formed number that is not the tenant's (for this menu) is refused
    response = await post_call(api.client, menu_id=10, outbound_number="+19995550123")
    assert field_paths(error_of(response, 422, "validation_error")) == ["body.outbound_number"]


async def test_tickets_find_or_create_and_a_given_ticket_takes_precedence(api: Api) -> None:
    await use_center(api.client)
    client = api.client
    one = await make_call(client, menu_id=10, end_user_number="+15551230001")
    again = await make_call(client, menu_id=10, end_user_number="+15551230001")
    other_menu = await make_call(client, menu_id=12, end_user_number="+15551230001")
    other_user = await make_call(client, menu_id=10, end_user_number="+15551230002")
    ticket = one["out_ticket_id"]
    assert ticket is not None
    assert again["out_ticket_id"] == ticket  # the end user's open ticket for the menu
    assert other_menu["out_ticket_id"] not in (None, ticket)
    assert other_user["out_ticket_id"] not in (None, ticket, other_menu["out_ticket_id"])

    # a given ticket: the call is assigned to it, and it dials the ticket's end user
    popped = await make_call(client, menu_id=12, ticket_id=ticket, end_user_number="+15551239999")
    assert popped["out_ticket_id"] == ticket
    crm = await make_call(client, menu_id=12, ticket_id="ZD-4242", end_user_number="+15551230003")
    assert crm["out_ticket_id"] == "ZD-4242"
    dialled = sorted(c["to_number"] for c in ok(await client.get("/v1/calls"))["items"])
    assert dialled == sorted(
        [
            "+15551230001",
            "+15551230001",
            "+15551230001",
            "+15551230002",
            "+15551230001",
            "+15551230003",
        ]
    )
    # the ticket goes on the call's record (with the menu and the language)
    helpline_ids = {
        c["to_number"]: c["call_id"] for c in ok(await client.get("/v1/calls"))["items"]
    }
    hung = helpline_ids["+15551230003"]
    ok(await client.post(f"/v1/calls/{hung}/hangup"), 204)
    record = await record_of(client, hung)
    assert record["data"]["ticket_id"] == "ZD-4242"
    assert (record["data"]["menu_id"], record["data"]["lang"]) == ("12", "en")


async def test_two_requests_naming_one_new_ticket_at_once_share_it(api: Api) -> None:
    await use_center(api.client)
    body = {"menu_id": 12, "ticket_id": 5150}
    first, second = await asyncio.gather(
        post_call(api.client, **body, end_user_number="+15551250001"),
        post_call(api.client, **body, end_user_number="+15551250002"),
    )
    assert ok(first, 201)["out_ticket_id"] == ok(second, 201)["out_ticket_id"] == "5150"
    assert ok(first, 201)["id"] != ok(second, 201)["id"]


async def test_a_served_ticket_closes_and_the_next_request_opens_another(api: Api) -> None:
    await use_center(api.client)
    await device(api.client, "cat")
    number = "+15551240001"
    first = await make_call(api.client, menu_id=2, end_user_number=number)

    async def finished() -> bool:
        found = ok(await api.client.get(f"{V1}/calls/{first['id']}"))
        if found["status"] == "connected":
            ok(await api.client.post("/v1/sandbox/devices/cat/hangup"))
        return bool(found["status"] == "finished")

    await poll(finished, what="the first callback call to be served")
    second = await make_call(api.client, menu_id=2, end_user_number=number)
    assert second["out_ticket_id"] != first["out_ticket_id"]


@pytest.mark.parametrize(
    ("menu_id", "permission", "recorded"),
    [
        (10, "recording_permission_granted", True),  # billing: ask the user
        (10, "recording_permission_denied", False),
        (10, "recording_permission_not_asked", False),
        (12, "recording_permission_denied", True),  # internet: record
        (2, "recording_permission_granted", False),  # sales: do not record
    ],
)
async def test_recording_permission_follows_the_queues_option(
    api: Api, menu_id: int, permission: str, recorded: bool
) -> None:
    await use_center(api.client)
    agent = {10: "ann", 12: "ben", 2: "cat"}[menu_id]
    await device(api.client, agent)
    call = await make_call(
        api.client, menu_id=menu_id, recording_permission=permission, end_user_number="+15559990000"
    )

    async def connected() -> str | None:
        found = ok(await api.client.get(f"/v1/sandbox/devices/{agent}"))
        return found["on_call"] if found["on_call"] else None

    helpline_id = await poll(connected, what="the callback call to connect")
    ok(await api.client.post(f"/v1/sandbox/devices/{agent}/hangup"))
    assert (await record_of(api.client, helpline_id))["recorded"] is recorded
    assert ok(await api.client.get(f"{V1}/calls/{call['id']}"))["status"] == "finished"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"call_type": None}, "body.call_type"),
        ({"call_type": "OutgoingCall"}, "body.call_type"),
        ({"end_user_number": None}, "body.end_user_number"),
        ({"end_user_number": "call me"}, "body.end_user_number"),
        ({"menu_id": None}, "body.menu_id"),
        ({"menu_id": "twelve"}, "body.menu_id"),
        ({"menu_id": 99}, "body.menu_id"),  # no such menu
        ({"menu_id": 29}, "body.menu_id"),  # a mobile menu: only IVR and web
        ({"menu_id": 11}, "body.menu_id"),  # has sub-menus: no queue of its own
        ({"menu_id": 12, "lang": "es"}, "body.lang"),  # menu 12 serves English only
        ({"lang": "english please"}, "body.lang"),
        ({"recording_permission": "yes"}, "body.recording_permission"),
        ({"ticket_id": ""}, "body.ticket_id"),
        ({"ticket_id": True}, "body.ticket_id"),  # not read as ticket 1
        ({"ticket_id": -4}, "body.ticket_id"),
        ({"tickt_id": "1"}, "body.tickt_id"),  # a misspelt field is not silently dropped
    ],
)
async def test_bad_requests_name_the_field(api: Api, fields: dict[str, Any], field: str) -> None:
    await use_center(api.client)
    body: dict[str, Any] = {"call_type": "IncomingCall", "end_user_number": "+19999999999"}
    body["menu_id"] = 12
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    error = error_of(await api.client.post(f"{V1}/calls", json=body), 422, "validation_error")
    assert any(path.startswith(field) for path in field_paths(error)), error
    assert ok(await api.client.get("/v1/calls"))["items"] == []  # nothing was started


async def test_calls_are_the_tenants_own(api: Api) -> None:
    await use_center(api.client)
    call = await make_call(api.client, menu_id=12)
    error_of(await api.other.get(f"{V1}/calls/{call['id']}"), 404, "not_found")
    error_of(await api.client.get(f"{V1}/calls/{call['id'] + 10**6}"), 404)
    error_of(await api.client.get(f"{V1}/calls/abc"), 422)
    error_of(await api.anonymous.post(f"{V1}/calls", json={}), 401)
    # the second tenant has no menus at all
    response = await post_call(api.other, menu_id=12)
    assert field_paths(error_of(response, 422)) == ["body.menu_id"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


async def test_garbage_bodies_never_answer_500(api: Api) -> None:
    await use_center(api.client)
    keys = st.sampled_from(
        [
            "call_type",
            "end_user_number",
            "outbound_number",
            "menu_id",
            "ticket_id",
            "lang",
            "recording_permission",
        ]
    )
    bodies: list[Any] = []

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        derandomize=True,
    )
    @given(st.dictionaries(keys, _json, max_size=7) | _json)
    def collect(body: Any) -> None:
        bodies.append(body)

    collect()
    for body in bodies:
        response = await api.client.post(f"{V1}/calls", json=body)
        assert response.status_code in (201, 404, 422), (body, response.text)
