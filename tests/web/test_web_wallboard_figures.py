"""The wallboard's figures (review R4): "today" is at most 36 hours of records however early
the client says its day began, viewers share a figure for a second, and the websocket checks
its threshold as REST does."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from web_support import Site, poll, serve
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from helpline.core.records import CallRecord, Direction, Result
from helpline.store import Store

pytestmark = pytest.mark.asyncio


def answered(call_id: str, ended_at: float, wait_s: float) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        from_number="+15550001",
        to_number="+18005550111",
        result=Result.ANSWERED,
        disconnected_by="customer",
        end_reason="hangup",
        created_at=ended_at - 60,
        queued_at=ended_at - 60,
        offered_at=ended_at - 60 + wait_s,
        answered_at=ended_at - 60 + wait_s,
        ended_at=ended_at,
        wait_s=wait_s,
        talk_s=30.0,
        hold_s=0.0,
        wrap_up_s=0.0,
        queue_id="sales",
        agent_id="alice",
        ivr_tree=None,
        ivr_path=(),
        keys="",
        priority=0,
        legs=(),
    )


async def write(tmp_path: Path, tenant_id: str, *records: CallRecord) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'helpline.db'}")
    try:
        async with store.transaction() as tx:
            for record in records:
                await tx.records.write_record(tenant_id, record)
    finally:
        await store.close()


async def today(site: Site, **params: Any) -> dict[str, Any]:
    response = await site.admin.get("/v1/wallboard", params=params)
    assert response.status_code == 200, response.text
    figures: dict[str, Any] = response.json()["today"]
    return figures


async def test_today_is_bounded_and_shared_and_the_socket_checks_its_threshold(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path) as site:
        now = time.time()
        old = answered("old", now - 48 * 3600, wait_s=5)  # two days ago
        recent = answered("recent", now - 3600, wait_s=40)
        await write(tmp_path, site.tenant_id, old, recent)
        figures = await today(site, since=0)  # "since 1970": 36 hours at most
        assert (figures["answered"], figures["asa_s"]) == (1, 40.0)

        # a second viewer within the second gets the same figures, not a new pass
        await write(tmp_path, site.tenant_id, replace(recent, call_id="newer", wait_s=10))
        assert (await today(site, since=0))["answered"] == 1

        async def caught_up() -> dict[str, Any] | None:
            found = await today(site, since=0)
            return found if found["answered"] == 2 else None

        assert (await poll(caught_up, what="the figures a second later"))["asa_s"] == 25.0

        url = site.url.replace("http://", "ws://", 1) + "/web/wallboard/ws"
        auth = f"Basic {base64.b64encode(site.key.encode()).decode()}"
        for bad in (0, -5, 99999, "nan"):
            async with connect(url) as socket:
                await socket.send(json.dumps({"authorization": auth, "sl": bad}))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(socket.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, bad
