"""A blind transfer of a trunk's call between two agents' SIP phones (issue 7): the first
phone gets its BYE, the relay's agent side forgets the first phone's latched address (its
packets still in flight, or a phone that ignores the BYE, must not win it back) and learns
the second phone's, and each party hears the other's tone after the transfer, straight to
the agent or through a queue (with its music first), relayed or recorded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sipnet_phone import RtpPhone
from sipnet_rtp import MEDIA_CENTER, RtpCaller, dominant, tone
from sipnet_support import TENANT, SipServer, poll, sip_server

from helpline.core import events as ev

CALLER_HZ, ALICE_HZ, BOB_HZ = 440.0, 1000.0, 1700.0
SECOND = 8000

CENTER: dict[str, Any] = {
    **MEDIA_CENTER,
    "queues": [
        *MEDIA_CENTER["queues"],
        {"id": "onward", "groups": ["team"], "hold_music": "default", "recording": "record"},
    ],
}


async def _hears(samples_of: Any, frequency: float, since: float, what: str) -> None:
    """Half a second of audio received after `since` whose dominant tone is `frequency`."""

    def heard() -> bool:
        audio = samples_of(since)
        return len(audio) >= SECOND // 2 and abs(dominant(audio[-SECOND // 2 :]) - frequency) < 30

    await poll(heard, what, timeout=10)


async def _bridged(server: SipServer, caller: RtpCaller, alice: RtpPhone) -> None:
    """Caller on number 100 answered by alice's phone, the tones flowing both ways."""
    await caller.call()
    await alice.answer()
    caller.send_audio(tone(CALLER_HZ, 1.0))
    alice.send_audio(tone(ALICE_HZ, 1.0))
    await _hears(caller.audio, ALICE_HZ, 0.0, "alice's tone at the caller")
    await _hears(alice.audio, CALLER_HZ, 0.0, "the caller's tone at alice's phone")


async def _record(server: SipServer) -> Any:
    async def written() -> bool:
        return await server.store.records.count_records(TENANT) == 1

    await poll(written, "the call record")
    (record,) = (await server.store.records.list_records(TENANT)).items
    return record


async def _transfer(server: SipServer, **target: str) -> None:
    runtime = server.app.state.helpline.hub.runtime(TENANT)
    call_id = next(iter(server.sip.b2bua.calls.values())).call_id
    await runtime.submit(ev.TransferRequested(call_id=call_id, **target))


async def test_a_transfer_to_another_agent_s_phone_moves_the_relay_to_it(tmp_path: Path) -> None:
    async with sip_server(tmp_path, CENTER) as server:
        alice = await RtpPhone.register(server.port, "alice")
        await server.settle()
        caller = await RtpCaller.open(server.port, "100")
        bob: RtpPhone | None = None
        try:
            await _bridged(server, caller, alice)
            bob = await RtpPhone.register(server.port, "bob")
            await server.settle()
            await _transfer(server, to_agent="bob")
            await alice.expect_bye()  # alice's leg is released; her phone sends on regardless
            await bob.answer()
            moved = time.monotonic()
            bob.send_audio(tone(BOB_HZ, 1.0))
            await _hears(caller.audio, BOB_HZ, moved, "bob's tone at the caller")
            await _hears(bob.audio, CALLER_HZ, moved, "the caller's tone at bob's phone")
            # from bob's first packet on nothing of alice's reaches the caller, nor the
            # caller's audio her phone
            await asyncio.sleep(0.5)
            settled = time.monotonic()
            await asyncio.sleep(1.0)
            late = caller.audio(settled)
            assert abs(dominant(late) - BOB_HZ) < 30
            assert len(alice.audio(settled + 0.1)) == 0
            stats = server.sip.b2bua.calls
            (call,) = stats.values()
            assert call.media is not None and call.media.mode == "relay"
            assert call.media.relay.stats("b").peer == ("127.0.0.1", bob.rtp_port)
            await caller.hang_up()
            await bob.expect_bye()
            record = await _record(server)
            assert record.agent_id == "bob"
            assert [leg["agent_id"] for leg in record.legs] == ["alice", "bob"]
        finally:
            caller.close()
            alice.close()
            if bob is not None:
                bob.close()


async def test_a_transfer_through_a_recorded_queue_reaches_the_next_phone(tmp_path: Path) -> None:
    async with sip_server(tmp_path, CENTER) as server:
        alice = await RtpPhone.register(server.port, "alice")
        await server.settle()
        caller = await RtpCaller.open(server.port, "100")
        bob: RtpPhone | None = None
        runtime = server.app.state.helpline.hub.runtime(TENANT)
        try:
            await _bridged(server, caller, alice)
            # alice steps away first, so the queue offers the call to bob, not back to her
            await runtime.submit(ev.AgentStatusSet(agent_id="alice", manual_status="BREAK"))
            await _transfer(server, to_queue="onward")
            await alice.expect_bye()
            queued = time.monotonic()
            await asyncio.sleep(1.5)  # the queue's music, not alice, in the meantime
            waiting = caller.audio(queued + 0.3)
            assert len(waiting) >= SECOND
            assert abs(dominant(waiting) - ALICE_HZ) > 30
            bob = await RtpPhone.register(server.port, "bob")
            await bob.answer()
            moved = time.monotonic()
            bob.send_audio(tone(BOB_HZ, 1.0))
            await _hears(caller.audio, BOB_HZ, moved, "bob's tone at the caller")
            await _hears(bob.audio, CALLER_HZ, moved, "the caller's tone at bob's phone")
            (call,) = server.sip.b2bua.calls.values()
            assert call.media is not None and call.media.mode == "record"
            await caller.hang_up()
            await bob.expect_bye()
            record = await _record(server)
            assert record.agent_id == "bob" and record.queue_id == "onward"

            async def has_recording() -> bool:
                return await server.store.records.count_records(TENANT) == 1 and bool(
                    (await server.store.records.list_records(TENANT)).items[0].recording_url
                )

            await poll(has_recording, "the recording's URL")
            path = server.sip.media_dir() / "recordings" / TENANT / f"{record.call_id}.wav"
            assert path.exists() and path.stat().st_size > SECOND
        finally:
            caller.close()
            alice.close()
            if bob is not None:
                bob.close()
