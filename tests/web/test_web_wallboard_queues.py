"""`GET /v1/wallboard`'s day figures per queue and overall, from the aggregate query, against a
hand count (the store's query itself is tested on both backends in tests/store), and the
`/wallboard` page showing each queue's figures in chromium."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser
from web_support import serve, watch

from helpline.core.records import CallRecord, Direction, Result
from helpline.store import Store

pytestmark = pytest.mark.asyncio(loop_scope="module")


def queued(
    call_id: str, ended_at: float, queue_id: str | None, result: Result, wait_s: float
) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        from_number="+15550001",
        to_number="+18005550111",
        result=result,
        disconnected_by="customer",
        end_reason="hangup",
        created_at=ended_at - 100,
        queued_at=ended_at - 100 if queue_id else None,
        offered_at=None,
        answered_at=None,
        ended_at=ended_at,
        wait_s=wait_s,
        talk_s=0.0,
        hold_s=0.0,
        wrap_up_s=None,
        queue_id=queue_id,
        agent_id=None,
        ivr_tree=None,
        ivr_path=(),
        keys="",
        priority=0,
        legs=(),
    )


def noon_zone(now: float) -> str:
    """A time zone where it is about noon now: the page's "today" (local midnight) then holds
    every record of the last hours, whenever the test runs."""
    utc_hour = time.gmtime(now).tm_hour
    offset = (12 - utc_hour + 12) % 24 - 12  # -12..11 hours east of UTC
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX signs are reversed


async def test_the_wallboard_gives_each_queue_its_day_and_the_sum_overall(
    tmp_path: Path, browser: Browser
) -> None:
    async with serve(tmp_path) as site:
        now = time.time()
        midnight = now - 3 * 3600  # the client's start of day
        ok, gone = Result.ANSWERED, Result.ABANDONED_IN_QUEUE
        records = [
            queued("s1", now - 60, "sales", ok, 10.0),
            queued("s2", now - 50, "sales", ok, 30.0),
            queued("s3", now - 40, "sales", gone, 45.0),
            queued("p1", now - 30, "support", ok, 2.0),
            queued("ivr", now - 20, None, Result.ABANDONED_IN_IVR, 0.0),
            queued("yesterday", now - 30 * 3600, "sales", ok, 1.0),  # before either midnight
        ]
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'helpline.db'}")
        try:
            async with store.transaction() as tx:
                for one in records:
                    await tx.records.write_record(site.tenant_id, one)
        finally:
            await store.close()

        response = await site.admin.get("/v1/wallboard", params={"since": midnight, "sl": 20})
        assert response.status_code == 200, response.text
        today: dict[str, Any] = response.json()["today"]

        sales = today["queues"]["sales"]
        assert (sales["offered"], sales["answered"], sales["abandoned"]) == (3, 2, 1)
        assert sales["service_level"] == pytest.approx(1 / 3)  # s1 within 20 s of 3 offered
        assert sales["asa_s"] == pytest.approx(20.0)
        assert sales["abandon_rate"] == pytest.approx(1 / 3)
        support = today["queues"]["support"]
        assert (support["offered"], support["service_level"], support["asa_s"]) == (1, 1.0, 2.0)
        assert support["abandon_rate"] == 0.0
        assert set(today["queues"]) == {"sales", "support"}  # the IVR call has no queue

        assert (today["offered"], today["answered"], today["abandoned"]) == (4, 3, 1)
        assert today["service_level"] == pytest.approx(2 / 4)
        assert today["asa_s"] == pytest.approx(42.0 / 3)
        assert today["abandon_rate"] == pytest.approx(1 / 4)
        assert today["service_level_threshold_s"] == 20.0

        # the page: each queue's row shows its own figures (the browser's day starts at its
        # local midnight, hours ago in the zone chosen)
        context = await browser.new_context(timezone_id=noon_zone(now))
        try:
            page = watch(await context.new_page())
            await page.goto(f"{site.url}/wallboard#key={site.key}")
            row = page.locator('tr[data-queue="sales"]')
            await row.locator("td.sl").filter(has_text="33%").wait_for()
            assert await row.locator("td.asa").text_content() == "20.0 s"
            assert await row.locator("td.abandoned").text_content() == "1 of 3"
            assert await page.locator("#sl").text_content() == "50%"
        finally:
            await context.close()
