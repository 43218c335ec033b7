"""Seed 002 "Click2Call": the session's agent is rung, then the number, through the virtual
carrier; at the end a form POST of the seed's fields reaches `hangup_url` (a real local HTTP
receiver), and the CRM's `transactionid` is on the call record."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qsl, quote

import pytest
from alotech_support import HANGUP_FIELDS, SEED_DATE, alo, alo_ok, login
from api_support import Api, connected, device, error_of, ok, poll, record_of
from webhook_helpers import Receiver

from helpline.core.ivr import call_date

pytestmark = pytest.mark.asyncio(loop_scope="module")

CUSTOMER = "05071303066"  # seed 002's called_num
GLOBAL_NUMBER = "+18005550100"  # the demo center's global number: what the customer sees


async def only_live_call(api: Api) -> str:
    async def one() -> str | None:
        items = ok(await api.client.get("/v1/calls"))["items"]
        return str(items[0]["call_id"]) if len(items) == 1 else None

    return await poll(one, what="the click2call's live call")


async def hangup_post(receiver: Receiver, path: str = "/hangup") -> list[tuple[str, str]]:
    await receiver.wait_for(1)
    [request] = receiver.on(path)
    assert request.method == "POST"
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    return parse_qsl(request.body.decode(), keep_blank_values=True)


async def test_click2call_rings_the_agent_then_the_number_and_posts_the_seeds_fields(
    api: Api, receiver: Receiver
) -> None:
    await device(api.client, "alice")
    session = await login(api, "alice@example.com")
    hangup_url = receiver.url("/hangup")
    # https://TENANTNAME/api/?function=click2call&session=[session]&transactionid=[crmuniqeueid]
    #   &hangup_url=[service]
    body = await alo_ok(
        api.anonymous,
        function="click2call",
        session=session,
        phonenumber=CUSTOMER,
        transactionid="d748197",
        hangup_url=hangup_url,
    )
    assert body == {"success": True}
    call_id = await only_live_call(api)
    call = await connected(api.client, call_id, "alice")
    assert (call["direction"], call["to_number"]) == ("callout", CUSTOMER)
    assert receiver.requests == []  # nothing before the end

    ok(await api.client.post("/v1/sandbox/devices/alice/hangup"))
    fields = await hangup_post(receiver)
    assert [name for name, _ in fields] == HANGUP_FIELDS
    posted = dict(fields)
    record = await record_of(api.client, call_id)
    assert posted == {
        "project": "alotech",
        "action": "webhook",
        "tenant": api.acme.tenant_id,
        "url": quote(hangup_url),  # as the seed shows it: https%3A//webhook.site/...
        "call_date": call_date(record["created_at"]),
        "agent_username": "alice@example.com",
        "transaction_id": "d748197",
        "disposition": "ANSWER",
        "duration": str(round(record["talk_s"])),
        "called_num": CUSTOMER,
        "caller_id": GLOBAL_NUMBER,
        "call_id": call_id,
    }
    assert re.fullmatch(SEED_DATE, posted["call_date"])
    assert posted["url"].startswith("http%3A//127.0.0.1%3A")
    # the transaction id lands on the record; the call_id is the CDR API's activecallkey
    assert record["data"]["transaction_id"] == "d748197"
    assert record["data"]["hangup_url"] == hangup_url
    assert record["result"] == "answered"
    assert record["agent_id"] == "alice"
    cdr = await alo_ok(
        api.anonymous,
        function="reportsCDRLogs",
        activecallkey=posted["call_id"],
        app_token=api.acme.app_token,
    )
    [found] = cdr["CallList"]
    assert (found["activecallkey"], found["transaction_id"]) == (call_id, "d748197")
    assert found["disposition"] == "ANSWER"


@pytest.mark.parametrize(
    ("failure", "disposition"),
    [("busy", "BUSY"), ("no_answer", "NOANSWER"), ("failed", "CHANUNAVAIL")],
)
async def test_a_number_that_does_not_answer_posts_its_disposition(
    api: Api, receiver: Receiver, failure: str, disposition: str
) -> None:
    number = "05550001122"
    ok(
        await api.client.put(
            f"/v1/sandbox/customers/{number}", json={"answer": False, "failure": failure}
        )
    )
    await device(api.client, "bob")
    session = await login(api, "bob@example.com")
    body = await alo_ok(
        api.anonymous,
        function="click2call",
        session=session,
        phonenumber=number,
        transactionid=f"tx-{failure}",
        hangup_url=receiver.url("/hangup"),
    )
    assert body == {"success": True}
    posted = dict(await hangup_post(receiver))
    assert posted["disposition"] == disposition
    assert (posted["duration"], posted["called_num"]) == ("0", number)
    assert (posted["agent_username"], posted["transaction_id"]) == (
        "bob@example.com",
        f"tx-{failure}",
    )
    record = await record_of(api.client, posted["call_id"])
    assert record["result"] == "failed"
    assert record["data"]["transaction_id"] == f"tx-{failure}"


async def test_without_transactionid_a_guid_is_made_and_without_hangup_url_nothing_is_posted(
    api: Api, receiver: Receiver
) -> None:
    await device(api.client, "alice")
    session = await login(api)
    assert await alo_ok(
        api.anonymous, function="click2call", session=session, phonenumber="0507 130-30 66"
    ) == {"success": True}
    call_id = await only_live_call(api)
    call = await connected(api.client, call_id, "alice")
    assert call["to_number"] == CUSTOMER  # the CRM's spacing and dashes dropped
    ok(await api.client.post("/v1/sandbox/devices/alice/hangup"))
    record = await record_of(api.client, call_id)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        record["data"]["transaction_id"],
    )
    assert "hangup_url" not in record["data"]
    await asyncio.sleep(0.2)  # several outbox polls: still nothing
    assert receiver.requests == []


async def test_an_agent_that_cannot_be_reached_is_refused_and_nothing_is_posted(
    api: Api, receiver: Receiver
) -> None:
    session = await login(api, "erin@example.com")  # no device: offline
    response = await alo(
        api.anonymous,
        function="click2call",
        session=session,
        phonenumber=CUSTOMER,
        hangup_url=receiver.url("/hangup"),
    )
    error = error_of(response, 409, "conflict")
    assert "erin" in error["message"]
    assert ok(await api.client.get("/v1/calls"))["items"] == []
    assert ok(await api.client.get("/v1/call-records"))["items"] == []
    await asyncio.sleep(0.2)  # several outbox polls: still nothing
    assert receiver.requests == []


async def test_a_bad_session_answers_login_false(api: Api) -> None:
    for params in ({"session": "ses_nope"}, {}):
        body = await alo_ok(api.anonymous, function="click2call", phonenumber=CUSTOMER, **params)
        assert body == {"login": False, "message": "Invalid Session"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "phonenumber"),
        ({"phonenumber": ""}, "phonenumber"),
        ({"phonenumber": "call me"}, "phonenumber"),
        ({"phonenumber": "1" * 41}, "phonenumber"),
        ({"phonenumber": CUSTOMER, "hangup_url": "ftp://crm.example/x"}, "hangup_url"),
        ({"phonenumber": CUSTOMER, "hangup_url": "not a url"}, "hangup_url"),
        ({"phonenumber": CUSTOMER, "transactionid": "x" * 201}, "transactionid"),
    ],
)
async def test_missing_or_bad_parameters_are_a_400_naming_them(
    api: Api, params: dict[str, str], field: str
) -> None:
    session = await login(api, "frank@example.com")
    response = await alo(api.anonymous, function="click2call", session=session, **params)
    error = error_of(response, 400, "invalid_parameter")
    assert error["details"]["field"] == field
    assert field in error["message"]
    assert ok(await api.client.get("/v1/calls"))["items"] == []


async def test_an_agent_who_declines_its_click2call_posts_cancel(
    api: Api, receiver: Receiver
) -> None:
    await device(api.client, "carol", reject=True)
    session = await login(api, "carol@example.com")
    body = await alo_ok(
        api.anonymous,
        function="click2call",
        session=session,
        phonenumber=CUSTOMER,
        transactionid="tx-declined",
        hangup_url=receiver.url("/hangup"),
    )
    assert body == {"success": True}
    posted = dict(await hangup_post(receiver))
    assert (posted["disposition"], posted["duration"]) == ("CANCEL", "0")
    assert (posted["agent_username"], posted["transaction_id"]) == (
        "carol@example.com",
        "tx-declined",
    )
    record = await record_of(api.client, posted["call_id"])
    assert (record["result"], record["end_reason"]) == ("failed", "agent_rejected")
