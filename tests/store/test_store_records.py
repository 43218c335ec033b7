"""Call records: round trip, idempotent writes, amendments, stable cursor pagination."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable

import pytest
from sqlalchemy import insert

from helpline.core.plain import plain
from helpline.core.records import CallRecord
from helpline.store import (
    MAX_LIMIT,
    InvalidCursor,
    InvalidText,
    Store,
    record_to_dict,
    row_to_call_record,
)
from helpline.store.models import CallRecordRow
from helpline.store.serialize import record_values

Make = Callable[..., CallRecord]


async def test_a_record_round_trips(store: Store, tenants: tuple[str, str], record: Make) -> None:
    original = record("c1", 1_000.123456789)
    await store.records.write_record("t1", original)
    row = await store.records.get_record("t1", "c1")
    assert row is not None
    assert row_to_call_record(row) == original  # legs, decisions and floats come back exact
    as_dict = record_to_dict(row)
    assert as_dict == {**plain(original), "disposition": None, "notes": None,
                       "recording_url": None, "voicemail_url": None}  # fmt: skip
    json.dumps(as_dict)  # JSON-ready
    assert "tenant_id" not in as_dict


async def test_writing_a_record_twice_keeps_one(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    first = record("c1", 1_000.0)
    await store.records.write_record("t1", first)
    await store.records.amend_record("t1", "c1", 12.5, "sale", "called back")
    # a replay after a restart, even with other values, neither fails nor duplicates
    await store.records.write_record("t1", record("c1", 1_000.0, talk_s=1.0))
    await asyncio.gather(*(store.records.write_record("t1", first) for _ in range(3)))
    assert await store.records.count_records("t1") == 1
    row = await store.records.get_record("t1", "c1")
    assert row is not None
    assert (row.talk_s, row.wrap_up_s, row.disposition) == (first.talk_s, 12.5, "sale")


async def test_the_same_call_id_in_two_tenants_is_two_records(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    await store.records.write_record("t1", record("c1", 1_000.0, from_number="+1"))
    await store.records.write_record("t2", record("c1", 2_000.0, from_number="+2"))
    one, two = (
        await store.records.get_record("t1", "c1"),
        await store.records.get_record("t2", "c1"),
    )
    assert one is not None and two is not None
    assert (one.from_number, two.from_number) == ("+1", "+2")


async def test_amend_adds_wrap_up_and_none_keeps_a_field(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    await store.records.write_record("t1", record("c1", 1_000.0))
    await store.records.amend_record("t1", "c1", 30.0, "sale", "note one")
    await store.records.amend_record("t1", "c1", 31.0, None, None)
    row = await store.records.get_record("t1", "c1")
    assert row is not None
    assert (row.wrap_up_s, row.disposition, row.notes) == (31.0, "sale", "note one")
    # unknown call, or another tenant's: nothing happens, nothing fails
    await store.records.amend_record("t1", "nope", 1.0, "x", "y")
    await store.records.amend_record("t2", "c1", 1.0, "x", "y")
    row = await store.records.get_record("t1", "c1")
    assert row is not None and row.disposition == "sale"


async def test_list_filters_by_end_time_and_tenant(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    for i in range(10):
        await store.records.write_record("t1", record(f"c{i}", 100.0 + i))
    await store.records.write_record("t2", record("other", 105.0))
    page = await store.records.list_records("t1", start=103.0, end=107.0)
    assert [r.call_id for r in page.items] == ["c3", "c4", "c5", "c6"]
    assert page.next_cursor is None
    assert (await store.records.list_records("t2")).items[0].call_id == "other"
    assert (await store.records.list_records("t3")).items == []


async def _bulk_write(store: Store, tenant_id: str, records: list[CallRecord]) -> None:
    async with store.transaction() as tx:
        await tx.session.execute(
            insert(CallRecordRow), [record_values(tenant_id, r) for r in records]
        )


async def test_pagination_is_stable_while_records_arrive(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    # 250 records; some share an end time, so the call id must break ties
    originals = [record(f"c{i:04d}", 1_000.0 + i // 3) for i in range(250)]
    await _bulk_write(store, "t1", originals[::2])
    await _bulk_write(store, "t1", originals[1::2])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.records.list_records("t1", cursor=cursor, limit=100)
        seen += [r.call_id for r in page.items]
        pages += 1
        # records keep ending while a client pages: they end later than every original
        for k in range(7):
            await store.records.write_record("t1", record(f"new{pages}-{k}", 5_000.0 + pages))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "a record came twice"
    assert [s for s in seen if s.startswith("c")] == [r.call_id for r in originals]
    ends = [
        (r.ended_at, r.call_id)
        for r in (await store.records.list_records("t1", limit=MAX_LIMIT)).items
    ]
    assert ends == sorted(ends)


async def test_limit_is_capped(store: Store, tenants: tuple[str, str], record: Make) -> None:
    await _bulk_write(store, "t1", [record(f"c{i:05d}", float(i)) for i in range(MAX_LIMIT + 5)])
    page = await store.records.list_records("t1", limit=10 * MAX_LIMIT)
    assert len(page.items) == MAX_LIMIT
    assert page.next_cursor is not None
    rest = await store.records.list_records("t1", cursor=page.next_cursor, limit=10 * MAX_LIMIT)
    assert [r.call_id for r in rest.items] == [f"c{i:05d}" for i in range(MAX_LIMIT, MAX_LIMIT + 5)]
    assert rest.next_cursor is None
    assert len((await store.records.list_records("t1", limit=0)).items) == 1
    assert len((await store.records.list_records("t1")).items) == 100  # the default


def _forge(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 !",
        "",
        _forge({"a": 1}),
        _forge(["rec", "x", "c1"]),  # a string where the end time goes
        _forge(["rec", 1.0]),
        _forge(["att", 5]),  # another list's cursor
        _forge(["rec", True, "c1"]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_a_forged_cursor_is_a_client_error(
    store: Store, tenants: tuple[str, str], cursor: str
) -> None:
    with pytest.raises(InvalidCursor) as caught:
        await store.records.list_records("t1", cursor=cursor)
    assert caught.value.details == {"path": "cursor"}


@pytest.mark.parametrize("bad", ["c\x00", "\ud800"])
async def test_text_no_backend_can_store_is_a_client_error(
    store: Store, tenants: tuple[str, str], record: Make, bad: str
) -> None:
    with pytest.raises(InvalidText):
        await store.records.get_record("t1", bad)
    with pytest.raises(InvalidText):
        await store.records.write_record("t1", record(bad, 1.0))
    with pytest.raises(InvalidText):
        await store.tenants.create_tenant(bad)
    async with store.transaction() as tx:
        with pytest.raises(InvalidText):
            await tx.records.amend_record("t1", "c1", 1.0, bad, None)
        await tx.records.write_record("t1", record("é-ok", 1.0))  # the transaction goes on
    assert await store.records.get_record("t1", "é-ok") is not None
