"""The phone's media lines when things go wrong or the agent presses keys (review R1-R3):
aiortc peers on this machine stand in for the browsers; the adapter and the signalling are
the real ones, talking over an in-memory channel instead of a websocket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack
from web_support import poll

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.media.dtmf import DtmfDetector
from helpline.media.tones import Resampler
from helpline.telephony.virtual import VirtualCarrier
from helpline.telephony.webrtc import WebRtcTelephony, agent_session, allow_loopback, caller_session
from helpline.telephony.webrtc.audio import RATE, Samples, read_track
from page_support import Page

pytestmark = pytest.mark.asyncio


async def browser(page: Page, message: dict[str, Any]) -> RTCPeerConnection:
    """An aiortc peer that offers like the pages do and applies the answer it gets."""
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    before = len(page.sent)
    await page.outbox.put({**message, "sdp": pc.localDescription.sdp})
    answer = await page.reply("answer", before)
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await poll(_connected(pc), what="the media to connect")
    return pc


def _connected(pc: RTCPeerConnection) -> Any:
    async def check() -> bool | None:
        return pc.connectionState == "connected" or None

    return check


@pytest.fixture
def phone(tmp_path: Path) -> tuple[WebRtcTelephony, list[ev.Event]]:
    allow_loopback()
    posted: list[ev.Event] = []
    telephony = WebRtcTelephony(VirtualCarrier(), tmp_path, presence_grace_s=30)
    telephony.attach(lambda tenant, event: posted.append(event))
    return telephony, posted


async def start_caller(phone: WebRtcTelephony) -> tuple[Page, asyncio.Task[str | None]]:
    page = Page()
    session = caller_session(phone, "t", page, page.messages(), lambda: {"100"}, allow_private=True)
    return page, asyncio.create_task(session)


async def test_a_caller_whose_media_dies_is_hung_up_not_left_stuck(
    phone: tuple[WebRtcTelephony, list[ev.Event]],
) -> None:
    telephony, posted = phone
    page, session = await start_caller(telephony)
    pc = await browser(page, {"type": "dial", "to": "100", "dtmf": "message"})
    [call] = telephony.calls.values()
    await pc.close()  # the browser's media goes; its websocket stays open
    ended = await page.reply("ended")
    assert ended == {"type": "ended", "call_id": call.call_id, "reason": "media_failed"}
    assert (
        ev.CallHungUp(call_id=call.call_id, party=ev.Party.CUSTOMER, reason="media_failed")
        in posted
    )
    assert telephony.calls == {}
    await page.outbox.put(None)
    assert await session is None
    await telephony.close()


async def test_a_bad_reoffer_leaves_the_agents_line_working_and_a_dead_line_is_replaced(
    phone: tuple[WebRtcTelephony, list[ev.Event]],
) -> None:
    telephony, _ = phone
    page = Page()
    session = asyncio.create_task(agent_session(telephony, "t", "alice", page, page.messages()))
    first = await browser(page, {"type": "offer"})
    line = telephony.lines[("t", "alice")]
    working = line.leg
    assert working is not None

    before = len(page.sent)
    await page.outbox.put({"type": "offer", "sdp": "v=0\r\nnot sdp"})
    assert (await page.reply("error", before))["message"] == "sdp: not a usable offer"
    assert line.leg is working and not working.closed
    assert working.pc.connectionState == "connected"

    second = await browser(page, {"type": "offer"})  # a good one replaces it
    assert line.leg is not working and working.closed
    replaced = line.leg
    assert replaced is not None

    before = len(page.sent)
    await second.close()  # the media dies under the softphone
    await page.reply("media_failed", before)
    assert line.leg is None and replaced.closed
    third = await browser(page, {"type": "offer"})  # the page offers again, as softphone.js does
    assert line.leg is not None and line.leg.pc.connectionState == "connected"
    await page.outbox.put(None)
    await session
    for pc in (first, second, third):
        await pc.close()
    await telephony.close()


async def test_the_agents_keypad_is_heard_by_the_caller_as_dtmf(
    phone: tuple[WebRtcTelephony, list[ev.Event]],
) -> None:
    telephony, _ = phone
    heard: list[str] = []
    detector = DtmfDetector(8000)
    to_8k = Resampler(RATE, 8000)

    def listen(samples: Samples) -> None:
        heard.extend(detector.feed(to_8k.process(samples)))

    page, caller = await start_caller(telephony)
    readers: list[asyncio.Task[None]] = []
    caller_pc = RTCPeerConnection()

    @caller_pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        readers.append(asyncio.create_task(read_track(track, listen)))

    caller_pc.addTrack(AudioStreamTrack())
    await caller_pc.setLocalDescription(await caller_pc.createOffer())
    dial = {"type": "dial", "to": "100", "dtmf": "message", "sdp": caller_pc.localDescription.sdp}
    await page.outbox.put(dial)
    answer = await page.reply("answer")
    await caller_pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await poll(_connected(caller_pc), what="the caller's media")

    agent_page = Page()
    agent = asyncio.create_task(
        agent_session(telephony, "t", "alice", agent_page, agent_page.messages())
    )
    agent_pc = await browser(agent_page, {"type": "offer"})
    before = len(agent_page.sent)
    await agent_page.outbox.put({"type": "dtmf", "digits": "5"})  # on no call yet
    assert (await agent_page.reply("error", before))["message"].startswith("digits:")

    await telephony.execute("t", cmd.Bridge(call_id=answer["call_id"], agent_id="alice"))
    before = len(agent_page.sent)
    await agent_page.outbox.put({"type": "dtmf", "digits": "59#"})

    async def detected() -> bool | None:
        return heard == ["5", "9", "#"] or None

    await poll(detected, what="the agent's keys in the caller's audio")
    assert [m for m in agent_page.sent[before:] if m["type"] == "error"] == []
    for queue in (page.outbox, agent_page.outbox):
        await queue.put(None)
    await asyncio.gather(caller, agent)
    for reader in readers:
        reader.cancel()
    await caller_pc.close()
    await agent_pc.close()
    await telephony.close()


async def test_a_recording_cut_by_shutdown_is_still_handed_over(tmp_path: Path) -> None:
    allow_loopback()
    stored: list[tuple[str, str, Path, float]] = []

    async def keep(tenant_id: str, call_id: str, path: Path, duration: float) -> None:
        stored.append((tenant_id, call_id, path, duration))

    telephony = WebRtcTelephony(VirtualCarrier(), tmp_path, on_recording=keep)
    telephony.attach(lambda tenant, event: None)
    page, session = await start_caller(telephony)
    pc = await browser(page, {"type": "dial", "to": "100", "dtmf": "message"})
    [call] = telephony.calls.values()
    await telephony.execute("t", cmd.Bridge(call_id=call.call_id, agent_id="alice", record=True))
    await asyncio.sleep(0.3)
    await telephony.close()  # the server stops mid-call
    assert [(t, c) for t, c, _, _ in stored] == [("t", call.call_id)]
    assert stored[0][2] == tmp_path / "recordings" / "t" / f"{call.call_id}.wav"
    assert stored[0][2].is_file()
    assert telephony.recording_path("../x", "c").parent.parent == tmp_path / "recordings"
    await page.outbox.put(None)
    await session
    await pc.close()
