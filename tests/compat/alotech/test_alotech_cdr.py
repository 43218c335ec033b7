"""Seed 002 "ReportsCDRLogs": records by `startdate`/`finishdate`, at most 100 a page with a
cursor until a page comes back short; or one record by `activecallkey`. Records are written
through the store (as the runtime writes them) and read back in the CDR shape."""

from __future__ import annotations

import dataclasses
import re
from calendar import timegm
from time import strptime

import pytest
from alotech_support import SEED_DATE, alo, alo_ok
from api_support import Api, error_of

from helpline.api.deps import app_state_of
from helpline.core.records import CallRecord, Direction, Leg, Result

pytestmark = pytest.mark.asyncio(loop_scope="module")

# the seed's example window: startdate= 2019-12-18%2001:00:00&finishdate=2019-12-18%2009:00:00
START, FINISH = "2019-12-18 01:00:00", "2019-12-18 09:00:00"
T0 = float(timegm(strptime(START, "%Y-%m-%d %H:%M:%S")))


def record(call_id: str, ended_at: float, **changes: object) -> CallRecord:
    """An answered inbound call of 30 s that ended at `ended_at`."""
    base = CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        from_number="05071303066",
        to_number="+18005550100",
        result=Result.ANSWERED,
        disconnected_by="customer",
        end_reason="customer_hangup",
        created_at=ended_at - 60.0,
        queued_at=ended_at - 50.0,
        offered_at=ended_at - 35.0,
        answered_at=ended_at - 30.0,
        ended_at=ended_at,
        wait_s=20.0,
        talk_s=30.0,
        hold_s=0.0,
        wrap_up_s=0.0,
        queue_id="sales_en",
        agent_id="alice",
        ivr_tree="main",
        ivr_path=("language", "menu_en"),
        keys="11",
        priority=0,
        legs=(
            Leg(
                agent_id="alice",
                queue_id="sales_en",
                offered_at=ended_at - 35.0,
                answered_at=ended_at - 30.0,
                ended_at=ended_at,
                talk_s=30.0,
                hold_s=0.0,
            ),
        ),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def write(api: Api, *records: CallRecord) -> None:
    async with app_state_of(api.app).store.transaction() as tx:  # one commit: quick
        for one in records:
            await tx.records.write_record(api.acme.tenant_id, one)


async def page(api: Api, cursor: str | None = None, **extra: str) -> dict[str, object]:
    params = {"startdate": START, "finishdate": FINISH, "app_token": api.acme.app_token, **extra}
    if cursor is not None:
        params["cursor"] = cursor
    return await alo_ok(api.anonymous, function="reportsCDRLogs", **params)


async def test_paging_250_records_100_at_a_time_loses_and_repeats_none(api: Api) -> None:
    # 250 in the window, some ending at the same instant (the cursor must split ties), and
    # records just outside it on both sides
    inside = [record(f"c{i:03d}", T0 + 60.0 * (i // 3) + 1.0) for i in range(250)]
    outside = [record("early", T0 - 1.0), record("late", T0 + 8 * 3600 + 1.0)]
    await write(api, *reversed(inside), *outside)

    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:  # as the seed says: repeat with the cursor until CallList.length < 100
        body = await page(api, cursor)
        assert set(body) == {"cursor", "CallList"}
        assert isinstance(body["cursor"], str) and body["cursor"]
        calls = body["CallList"]
        assert isinstance(calls, list)
        sizes.append(len(calls))
        seen += [c["activecallkey"] for c in calls]
        cursor = body["cursor"]
        if len(calls) < 100:
            break
    assert sizes == [100, 100, 50]
    assert seen == [r.call_id for r in inside]  # oldest first, every one once
    # the last cursor, kept, gives only what ended since
    await write(api, record("c999", T0 + 7 * 3600.0))
    later = await page(api, cursor)
    assert [c["activecallkey"] for c in later["CallList"]] == ["c999"]  # type: ignore[union-attr]


async def test_exactly_100_records_then_an_empty_page(api: Api) -> None:
    await write(api, *(record(f"e{i:03d}", T0 + 10.0 * i) for i in range(100)))
    first = await page(api)
    assert len(first["CallList"]) == 100  # type: ignore[arg-type]
    second = await page(api, str(first["cursor"]))
    assert second["CallList"] == []
    assert second["cursor"] == first["cursor"]  # the same position: nothing more yet


async def test_no_match_is_an_empty_list_with_a_cursor(api: Api) -> None:
    body = await page(api)
    assert body == {"cursor": "", "CallList": []}


async def test_a_record_in_the_cdr_shape(api: Api) -> None:
    await write(api, record("shape1", T0 + 600.0, hold_s=4.4))
    store = app_state_of(api.app).store  # the agent's wrap-up, added after the call
    await store.records.amend_record(api.acme.tenant_id, "shape1", 5.0, "sale", "call back")
    [cdr] = (await page(api))["CallList"]  # type: ignore[misc]
    assert cdr == {
        "activecallkey": "shape1",
        "callid": "shape1",
        "direction": "inbound",
        "calldate": "2019-12-18 01:09:00",
        "queuedate": "2019-12-18 01:09:10",
        "talkdate": "2019-12-18 01:09:30",
        "hangupdate": "2019-12-18 01:10:00",
        "callerid": "05071303066",
        "called_num": "+18005550100",
        "queue": "Queue 1 - English sales",  # the queue's name in the center
        "queuekey": "sales_en",
        "agent": "alice@example.com",
        "agentid": "alice",
        "answeredby": "alice@example.com",
        "queued": True,
        "assigned": True,
        "answered": True,
        "abandon": False,
        "transferred": False,
        "voicemail": False,
        "localrelease": False,
        "hold": True,
        "holdduration": 4,
        "waitduration": 20,
        "duration": 30,
        "disposition": "ANSWER",
        "recordingurl": None,
        "transaction_id": None,
        "agent_disposition": "sale",
        "agent_notes": "call back",
        "ivr_path": ["language", "menu_en"],
        "keys": "11",
    }
    for name in ("calldate", "queuedate", "talkdate", "hangupdate"):
        assert re.fullmatch(SEED_DATE, cdr[name])


async def test_an_abandoned_call_in_the_cdr_shape(api: Api) -> None:
    gone = record(
        "gone1",
        T0 + 900.0,
        result=Result.ABANDONED_IN_QUEUE,
        answered_at=None,
        talk_s=0.0,
        agent_id=None,
        legs=(),
    )
    await write(api, gone)
    [cdr] = (await page(api))["CallList"]  # type: ignore[misc]
    assert (cdr["answered"], cdr["abandon"], cdr["disposition"]) == (False, True, "CANCEL")
    assert (cdr["talkdate"], cdr["agent"], cdr["answeredby"], cdr["duration"]) == (
        None,
        None,
        None,
        0,
    )


async def test_one_call_by_activecallkey(api: Api) -> None:
    await write(api, record("key1", T0 + 60.0), record("key2", T0 + 120.0))
    # https://[TENANTNAME].callcenterstudio.com/api/?function=reportsCDRLogs
    #   &activecallkey=[activecallkey]&app_token=[APPTOKEN]
    body = await alo_ok(
        api.anonymous, function="reportsCDRLogs", activecallkey="key2", app_token=api.acme.app_token
    )
    assert set(body) == {"cursor", "CallList"}
    assert [c["activecallkey"] for c in body["CallList"]] == ["key2"]
    # the dates are ignored when a key is given; no match is an empty list
    body = await alo_ok(
        api.anonymous,
        function="reportsCDRLogs",
        activecallkey="nope",
        startdate=START,
        finishdate=FINISH,
        app_token=api.acme.app_token,
    )
    assert body["CallList"] == []


async def test_another_tenants_records_are_not_seen(api: Api) -> None:
    await write(api, record("mine", T0 + 60.0))
    body = await alo_ok(
        api.anonymous,
        function="reportsCDRLogs",
        activecallkey="mine",
        app_token=api.second.app_token,
    )
    assert body["CallList"] == []
    body = await alo_ok(
        api.anonymous,
        function="reportsCDRLogs",
        startdate=START,
        finishdate=FINISH,
        app_token=api.second.app_token,
    )
    assert body["CallList"] == []


async def test_finishdate_is_taken_whole_to_the_second(api: Api) -> None:
    end = T0 + 8 * 3600.0  # 09:00:00
    await write(api, record("at-end", end + 0.5), record("after-end", end + 1.0))
    body = await page(api)
    assert [c["activecallkey"] for c in body["CallList"]] == ["at-end"]  # type: ignore[union-attr]


async def test_the_seeds_leading_space_and_a_session_instead_of_the_token(api: Api) -> None:
    await write(api, record("sp1", T0 + 60.0))
    session = (
        await alo_ok(
            api.anonymous,
            function="login",
            email="alice@example.com",
            app_token=api.acme.app_token,
        )
    )["session"]
    body = await alo_ok(
        api.anonymous,
        function="reportsCDRLogs",
        startdate=" " + START,
        finishdate=FINISH,
        session=session,
    )
    assert [c["activecallkey"] for c in body["CallList"]] == ["sp1"]


async def test_a_bad_token_answers_invalid_application_token(api: Api) -> None:
    for token in ({"app_token": "wrong"}, {}):
        body = await alo_ok(
            api.anonymous, function="reportsCDRLogs", startdate=START, finishdate=FINISH, **token
        )
        assert body == {"login": False, "message": "Invalid Application Token"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"finishdate": FINISH}, "startdate"),
        ({"startdate": START}, "finishdate"),
        ({"startdate": "18.12.2019", "finishdate": FINISH}, "startdate"),
        ({"startdate": START, "finishdate": "2019-13-40 00:00:00"}, "finishdate"),
        ({"startdate": FINISH, "finishdate": START}, "finishdate"),
    ],
)
async def test_missing_or_bad_dates_are_a_400_naming_them(
    api: Api, params: dict[str, str], field: str
) -> None:
    response = await alo(
        api.anonymous, function="reportsCDRLogs", app_token=api.acme.app_token, **params
    )
    error = error_of(response, 400, "invalid_parameter")
    assert error["details"]["field"] == field


async def test_a_forged_cursor_is_a_400_naming_it(api: Api) -> None:
    response = await alo(
        api.anonymous,
        function="reportsCDRLogs",
        startdate=START,
        finishdate=FINISH,
        cursor="forged",
        app_token=api.acme.app_token,
    )
    error = error_of(response, 400, "invalid_parameter")
    assert error["details"] == {"field": "cursor"}  # like every other parameter
