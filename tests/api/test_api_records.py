"""Call records (issue 4, point 7): stable cursor pagination with a capped limit, time filters,
CSV, by id."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx
import pytest
from api_support import HOTLINE, Api, error_of, field_paths, ok

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLS = 120


async def _short_calls(client: httpx.AsyncClient, count: int, prefix: str) -> list[str]:
    """`count` sandbox calls, each hung up in the IVR as soon as it is placed."""
    ids = [f"{prefix}-{i:03d}" for i in range(count)]

    async def worker(mine: list[str]) -> None:
        for call_id in mine:
            body = {"to": HOTLINE, "call_id": call_id}
            ok(await client.post("/v1/sandbox/calls", json=body), 201)
            ok(await client.post(f"/v1/sandbox/calls/{call_id}/hangup"))

    await asyncio.gather(*(worker(ids[i::4]) for i in range(4)))
    return ids


async def _pages(
    client: httpx.AsyncClient, limit: int, **params: Any
) -> list[list[dict[str, Any]]]:
    pages = []
    query: dict[str, Any] = {"limit": limit, **params}
    while True:
        page = ok(await client.get("/v1/call-records", params=query))
        pages.append(page["items"])
        if page["next_cursor"] is None:
            return pages
        query["cursor"] = page["next_cursor"]


def _order(record: dict[str, Any]) -> tuple[float, str]:
    return (record["ended_at"], record["call_id"])


async def test_records_page_with_a_stable_cursor(api: Api) -> None:
    client = api.client
    placed = await _short_calls(client, CALLS, "r")

    pages = await _pages(client, 50)
    assert [len(page) for page in pages] == [50, 50, 20]
    records = [r for page in pages for r in page]
    ids = [r["call_id"] for r in records]
    assert sorted(ids) == placed  # every record exactly once
    assert records == sorted(records, key=_order)  # oldest first, ties by id
    assert all(r["result"] == "abandoned_in_ivr" for r in records)
    assert [r for page in await _pages(client, 50) for r in page] == records  # stable

    # records that end while a client pages come on later pages, never twice
    first = ok(await client.get("/v1/call-records", params={"limit": 50}))
    later = await _short_calls(client, 3, "late")
    rest = await _pages(client, 50, cursor=first["next_cursor"])
    paged = [r["call_id"] for r in first["items"]] + [r["call_id"] for p in rest for r in p]
    assert paged[:CALLS] == ids
    assert sorted(paged[CALLS:]) == later

    everything = ok(await client.get("/v1/call-records", params={"limit": 1000}))
    assert (len(everything["items"]), everything["next_cursor"]) == (CALLS + 3, None)
    over = await client.get("/v1/call-records", params={"limit": 1001})
    assert field_paths(error_of(over, 422, "validation_error")) == ["query.limit"]
    forged = await client.get("/v1/call-records", params={"cursor": "bm90IGEgY3Vyc29y"})
    error_of(forged, 400, "invalid_cursor")


async def test_start_and_end_filter_by_end_time(api: Api) -> None:
    client = api.client
    await _short_calls(client, 24, "f")
    records = ok(await client.get("/v1/call-records", params={"limit": 1000}))["items"]
    assert len(records) == 24
    start, end = records[6]["ended_at"], records[17]["ended_at"]
    expected = [r["call_id"] for r in records if start <= r["ended_at"] < end]
    assert len(expected) >= 11

    window = {"start": start, "end": end}
    pages = await _pages(client, 3, **window)
    assert [r["call_id"] for page in pages for r in page] == expected
    assert all(len(page) == 3 for page in pages[:-1])
    from_start = ok(await client.get("/v1/call-records", params={"start": start, "limit": 1000}))
    assert [r["call_id"] for r in from_start["items"]] == [r["call_id"] for r in records[6:]]
    before_end = ok(await client.get("/v1/call-records", params={"end": end, "limit": 1000}))
    assert [r["call_id"] for r in before_end["items"]] == [r["call_id"] for r in records[:17]]
    empty = ok(await client.get("/v1/call-records", params={"start": end, "end": start}))
    assert empty == {"items": [], "next_cursor": None}

    response = await client.get("/v1/call-records.csv", params=window)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["call_id"] for row in rows] == expected
    assert all(row["result"] == "abandoned_in_ivr" for row in rows)

    whole = list(csv.DictReader(io.StringIO((await client.get("/v1/call-records.csv")).text)))
    assert [row["call_id"] for row in whole] == [r["call_id"] for r in records]
    one = ok(await client.get(f"/v1/call-records/{records[0]['call_id']}"))
    assert one == records[0]
