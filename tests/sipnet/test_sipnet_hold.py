"""Hold of a trunk's call bridged to an agent's SIP phone (issue 7): the engine's hold (as
the API and the softphone ask for it) gives the caller hold music from our endpoint and
tells the phone with a re-INVITE a=sendonly; resuming gives the socket back to the relay
(and the phone a re-INVITE a=sendrecv); the phone's own hold key, a re-INVITE with
a=sendonly, a=inactive or c=0.0.0.0 (RFC 3264 8.4), puts the call on hold in the engine and
is answered recvonly / inactive, and a re-INVITE with a=sendrecv resumes it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
from sipnet_phone import RtpPhone
from sipnet_rtp import MEDIA_CENTER, RtpCaller, dominant, tone
from sipnet_support import TENANT, SipServer, poll, reply, sip_server

from helpline.core import events as ev
from helpline.core.states import CallState
from helpline.sip.message import Request
from helpline.sip.sdp import parse_sdp

CALLER_HZ, ALICE_HZ = 440.0, 1000.0
SECOND = 8000


def _runtime(server: SipServer) -> Any:
    return server.app.state.helpline.hub.runtime(TENANT)


def _call_id(server: SipServer) -> str:
    return next(iter(server.sip.b2bua.calls.values())).call_id


async def _hears_tone(samples_of: Any, frequency: float, since: float, what: str) -> None:
    def heard() -> bool:
        audio = samples_of(since)
        return len(audio) >= SECOND // 2 and abs(dominant(audio[-SECOND // 2 :]) - frequency) < 30

    await poll(heard, what, timeout=10)


async def _hears_music(caller: RtpCaller, since: float) -> None:
    """A second of sound that is not alice's tone: the hold music from our endpoint."""

    def heard() -> bool:
        audio = caller.audio(since + 0.2)
        if len(audio) < SECOND:
            return False
        last = audio[-SECOND:].astype(np.float64)
        return bool(np.sqrt(np.mean(last**2)) > 100) and abs(dominant(audio) - ALICE_HZ) > 30

    await poll(heard, "hold music at the caller", timeout=10)


async def _state(server: SipServer, state: CallState) -> None:
    engine = _runtime(server).engine
    call_id = _call_id(server)

    def reached() -> bool:
        call = engine.calls.get(call_id)
        return call is not None and call.state is state

    await poll(reached, f"the call {state.value}")


async def _bridged(server: SipServer) -> tuple[RtpCaller, RtpPhone]:
    alice = await RtpPhone.register(server.port, "alice")
    await server.settle()
    caller = await RtpCaller.open(server.port, "100")
    await caller.call()
    await alice.answer()
    caller.send_audio(tone(CALLER_HZ, 1.0))
    alice.send_audio(tone(ALICE_HZ, 1.0))
    await _hears_tone(caller.audio, ALICE_HZ, 0.0, "alice's tone at the caller")
    await _hears_tone(alice.audio, CALLER_HZ, 0.0, "the caller's tone at alice's phone")
    return caller, alice


def _direction(ok_body: bytes) -> str:
    answer = parse_sdp(ok_body)
    return answer.direction(answer.media[0])


async def test_the_engine_s_hold_plays_music_and_resume_restores_the_relay(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        caller, alice = await _bridged(server)
        try:
            (call,) = server.sip.b2bua.calls.values()
            assert call.media is not None and call.media.mode == "relay"
            held = time.monotonic()
            await _runtime(server).submit(ev.HoldRequested(call_id=_call_id(server)))
            assert await alice.accept_reinvite() == "sendonly"  # the phone is told
            await _hears_music(caller, held)
            assert call.media.mode == "caller"
            await asyncio.sleep(0.3)
            quiet = time.monotonic()
            await asyncio.sleep(0.5)
            assert len(alice.audio(quiet)) == 0  # the agent hears nothing of the caller
            resumed = time.monotonic()
            await _runtime(server).submit(ev.ResumeRequested(call_id=_call_id(server)))
            assert await alice.accept_reinvite() == "sendrecv"
            await _hears_tone(caller.audio, ALICE_HZ, resumed, "alice again after resume")
            await _hears_tone(alice.audio, CALLER_HZ, resumed, "the caller again at alice")
            assert call.media.mode == "relay"
            await caller.hang_up()
            await alice.expect_bye()
        finally:
            caller.close()
            alice.close()


async def test_the_phone_s_reinvites_hold_and_resume_the_call(tmp_path: Path) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        caller, alice = await _bridged(server)
        try:
            (call,) = server.sip.b2bua.calls.values()
            assert call.media is not None
            for direction, host, answered in (
                ("sendonly", "127.0.0.1", "recvonly"),
                ("inactive", "127.0.0.1", "inactive"),
                ("sendrecv", "0.0.0.0", "recvonly"),  # RFC 2543's hold
            ):
                held = time.monotonic()
                ok = await alice.reinvite(direction, host=host)
                assert _direction(ok.body) == answered, direction
                # our o= line is the same session, a newer version (RFC 3264 8)
                assert parse_sdp(ok.body).origin.version > 1
                await _state(server, CallState.HELD)
                await _hears_music(caller, held)
                resumed = time.monotonic()
                ok = await alice.reinvite("sendrecv")
                assert _direction(ok.body) == "sendrecv"
                await _state(server, CallState.CONNECTED)
                await _hears_tone(caller.audio, ALICE_HZ, resumed, "alice after her resume")
                await _hears_tone(alice.audio, CALLER_HZ, resumed, "the caller after resume")
                assert call.media.mode == "relay"
            await caller.hang_up()
            bye = await alice.sip.expect("BYE")
            assert isinstance(bye, Request)
            alice.sip.send(reply(bye, 200, tag=alice.to_tag))
            # what the phone asked for was not re-INVITEd back to it
            assert alice.sip.methods.count("INVITE") == 1  # the call's own, no re-INVITE

            async def written() -> bool:
                return await server.store.records.count_records(TENANT) == 1

            await poll(written, "the call record")
            (record,) = (await server.store.records.list_records(TENANT)).items
            assert record.hold_s > 0
        finally:
            caller.close()
            alice.close()
