"""Inbound calls through a trunk to a queue, answered by an agent's SIP phone, through the
B2BUA of the running app (issue 7 point 3): real sipp as the carrier and as the phone."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipnet_support import (
    CENTER,
    SCENARIOS,
    TENANT,
    TRUNK_HOST,
    poll,
    run_sipp,
    sip_server,
    sipp_agent_phone,
)


async def _record(server, call_count: int = 1):  # type: ignore[no-untyped-def]
    async def written() -> bool:
        return await server.store.records.count_records(TENANT) >= call_count

    await poll(written, "the call record")
    page = await server.store.records.list_records(TENANT)
    return page.items


async def test_a_trunk_call_is_queued_offered_to_the_sip_phone_bridged_and_recorded(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path) as server:
        phone = await sipp_agent_phone(server, tmp_path, "alice")
        assert server.engine_agent("alice").online
        (tmp_path / "caller").mkdir()
        status, log = await run_sipp(
            SCENARIOS / "caller.xml",
            server.port,
            "-s",
            "100",
            "-m",
            "1",
            "-d",
            "500",
            "-timeout",
            "20s",
            local_host=TRUNK_HOST,
            cwd=tmp_path / "caller",
        )
        assert status == 0, log
        status, log = await asyncio.wait_for(phone, 25)
        assert status == 0, log  # the phone rang, answered, and got the BYE
        (record,) = await _record(server)
        assert record.result == "answered"
        assert record.agent_id == "alice"
        assert record.queue_id == "support"
        assert record.to_number == "100"
        assert record.from_number == "+15550001111"
        assert record.disconnected_by == "customer"
        assert record.talk_s > 0.3
        assert not server.sip.b2bua.calls  # every leg is gone


IVR_CENTER = {
    **CENTER,
    "numbers": [{"number": "200", "enable_ivr": True, "ivr_tree": "main"}],
    "ivr_trees": [
        {
            "id": "main",
            "root": "menu",
            "nodes": [
                {
                    "id": "menu",
                    "prompt": "For support, press 1.",
                    "timeout": "5s",
                    "keys": {"1": {"queue": "support"}},
                    "default": {"kind": "hangup"},
                }
            ],
        }
    ],
}


async def test_a_key_pressed_as_sip_info_takes_the_ivr_to_the_queue(tmp_path: Path) -> None:
    async with sip_server(tmp_path, IVR_CENTER) as server:
        status, log = await run_sipp(
            SCENARIOS / "caller_info_dtmf.xml",
            server.port,
            "-s", "200", "-m", "1", "-d", "500", "-key", "digit", "1", "-timeout", "20s",
            local_host=TRUNK_HOST,
            cwd=tmp_path,
        )  # fmt: skip
        assert status == 0, log
        (record,) = await _record(server)
        assert record.keys == "1"
        assert record.ivr_tree == "main"
        assert record.queue_id == "support"  # nobody online: abandoned there
        assert record.result == "abandoned_in_queue"
