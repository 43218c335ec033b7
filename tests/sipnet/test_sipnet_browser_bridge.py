"""SIP legs bridged to browser legs through the media layer (issues 6 and 7), end to end.

The server is the real app with SIP on (as `helpline serve --sip-port` runs it). Browsers are
aiortc peers on this machine talking the real signalling (`agent_session`, `caller_session`)
over an in-memory channel instead of a websocket; SIP peers are a Python trunk caller with a
real RTP socket (sipnet_rtp) and sipp as the carrier behind the outbound trunk.

- A trunk's caller reaches a queue whose agent is on the browser softphone: a tone each side
  sends is heard at its frequency on the other side, the caller's RFC 4733 key reaches the
  engine, and the recording has the caller on the left and the agent on the right.
- A browser caller whose IVR sends it to an outside number: the number is dialled through
  the trunk (sipp), and tones cross both ways between the browser and the far end's RTP.
"""

from __future__ import annotations

import asyncio
import fractions
import random
import time
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from sipnet_rtp import MEDIA_CENTER, RtpCaller, RtpSocket, dominant, observe, tone
from sipnet_support import (
    TENANT,
    TRUNK_HOST,
    SipServer,
    free_port,
    poll,
    sip_server,
    with_external_line,
)
from test_sipnet_outbound_calls import ALICE_PHONE, _carrier, _sipp_done, _trunk
from test_sipnet_outbound_trunk_calls import RT2_CENTER

from helpline.core import events as ev
from helpline.core.states import CallState
from helpline.media.g711 import ulaw_encode
from helpline.media.rfc4733 import DigitSender, digit_packets
from helpline.media.rtp import RtpPacket, RtpSender
from helpline.telephony.webrtc import WebRtcTelephony, agent_session, caller_session
from helpline.telephony.webrtc.audio import read_track
from page_support import Page

WIDE = 48000
CALLER_HZ, AGENT_HZ = 700.0, 1400.0  # the SIP side's tone, the browser side's
EXTERNAL = "5550042"
EXTERNAL_CENTER = with_external_line(MEDIA_CENTER, "400", EXTERNAL)


class ToneTrack(MediaStreamTrack):
    """A browser's microphone: a sine at 48 kHz in 20 ms frames, paced in real time, with
    continuous timestamps."""

    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self.pts = 0
        self.start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.start is None:
            self.start = time.monotonic()
        else:
            self.pts += 960
            await asyncio.sleep(max(0.0, self.start + self.pts / WIDE - time.monotonic()))
        t = (self.pts + np.arange(960)) / WIDE
        samples = (np.sin(2 * np.pi * self.frequency * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = WIDE, self.pts
        frame.time_base = fractions.Fraction(1, WIDE)
        return frame


class Browser:
    """An aiortc peer that offers like the pages do, sends a tone and keeps what it hears."""

    def __init__(self, frequency: float) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTrack(ToneTrack(frequency))
        self.heard: list[tuple[float, npt.NDArray[np.int16]]] = []
        self.pc.on("track", self._on_track)
        self._reader: asyncio.Task[None] | None = None

    def _on_track(self, track: MediaStreamTrack) -> None:
        def keep(samples: npt.NDArray[np.int16]) -> None:
            self.heard.append((time.monotonic(), samples))

        self._reader = asyncio.ensure_future(read_track(track, keep))

    async def connect(self, page: Page, message: dict[str, Any]) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await page.outbox.put({**message, "sdp": self.pc.localDescription.sdp})
        answer = await page.reply("answer")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await poll(lambda: self.pc.connectionState == "connected", "the browser's media")

    def audio(self, since: float) -> npt.NDArray[np.int16]:
        chunks = [samples for at, samples in self.heard if at >= since]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()


def _loud(samples: npt.NDArray[np.int16]) -> bool:
    return len(samples) > 0 and float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > 500


async def _hears(listen: Any, frequency: float, rate: int, what: str) -> None:
    """Within a generous wait, half a second of what `listen(since)` gives is loud and its
    strongest frequency is `frequency` (within 3 %)."""
    since = time.monotonic()

    def check() -> bool:
        samples = listen(since)
        if len(samples) < rate // 2:
            return False
        tail = samples[-rate // 2 :]
        return _loud(tail) and abs(dominant(tail, rate) - frequency) < 0.03 * frequency

    await poll(check, what, timeout=15)


def _engine_call(server: SipServer, call_id: str) -> Any:
    return server.app.state.helpline.hub.runtime(TENANT).engine.calls.get(call_id)


def _send_digit(caller: RtpCaller, digit: str) -> None:
    """The caller's key as RFC 4733 events (payload type 101, as its SDP offered)."""
    assert caller.rtp.transport is not None and caller.remote is not None
    stream = RtpSender.random(random.Random(3), payload_type=0)
    sender = DigitSender(stream, payload_type=101, interval=160)
    for _, packet in digit_packets(sender, digit, 800):
        caller.rtp.transport.sendto(packet.serialize(), caller.remote)


async def test_a_trunk_caller_and_a_browser_agent_hear_each_other_and_are_recorded(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER, media_dir=str(tmp_path / "media")) as server:
        web = server.app.state.webrtc
        assert isinstance(web, WebRtcTelephony)
        softphone = Page()
        session = asyncio.create_task(
            agent_session(web, TENANT, "alice", softphone, softphone.messages())
        )
        agent = Browser(AGENT_HZ)
        caller = await RtpCaller.open(server.port, "300")  # the recorded queue
        seen = observe(server.sip)
        try:
            await agent.connect(softphone, {"type": "offer"})
            await poll(lambda: server.engine_agent("alice").online, "alice online")
            await caller.call()
            [call] = server.sip.b2bua.calls.values()
            call_id = call.call_id

            def offered() -> bool:
                found = _engine_call(server, call_id)
                return found is not None and found.state is CallState.OFFERING

            await poll(offered, "the call offered to alice")
            runtime = server.app.state.helpline.hub.runtime(TENANT)
            runtime.post(ev.OfferAnswered(call_id=call_id, agent_id="alice"))  # her click
            caller.send_audio(tone(CALLER_HZ, 1.0))

            await _hears(agent.audio, CALLER_HZ, WIDE, "the caller's tone at the browser")
            await _hears(caller.audio, AGENT_HZ, 8000, "the agent's tone at the caller")

            _send_digit(caller, "5")
            digits = ev.DigitsPressed(call_id=call_id, digits="5")
            await poll(lambda: any(e == digits for _, e in seen), "the caller's key")

            recording = server.sip._recording_path(TENANT, call_id)
            await caller.hang_up()
            await poll(lambda: not server.sip.b2bua.calls, "the call to end")
        finally:
            caller.close()
            await agent.close()
            await softphone.outbox.put(None)
            await session
    with wave.open(str(recording)) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 8000
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    left, right = frames[0::2], frames[1::2]
    # the last second of the call, when both were talking
    left, right = left[-8000:], right[-8000:]
    assert _loud(left) and _loud(right)
    assert abs(dominant(left) - CALLER_HZ) < 0.03 * CALLER_HZ  # the caller on the left
    assert abs(dominant(right) - AGENT_HZ) < 0.03 * AGENT_HZ  # the agent on the right


def _quiet(samples: npt.NDArray[np.int16]) -> bool:
    return len(samples) > 0 and float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) < 50


async def _goes_quiet(listen: Any, rate: int, what: str) -> None:
    since = time.monotonic()
    await poll(lambda: _quiet(listen(since)[-rate // 2 :]), what, timeout=15)


async def _softphone(web: WebRtcTelephony, agent_id: str, frequency: float) -> Any:
    page = Page()
    session = asyncio.create_task(agent_session(web, TENANT, agent_id, page, page.messages()))
    browser = Browser(frequency)
    await browser.connect(page, {"type": "offer"})
    return page, session, browser


async def test_hold_resume_and_a_transfer_move_a_trunk_caller_between_browser_agents(
    tmp_path: Path,
) -> None:
    bob_hz = 1000.0
    async with sip_server(tmp_path, MEDIA_CENTER, media_dir=str(tmp_path / "media")) as server:
        web = server.app.state.webrtc
        runtime = server.app.state.helpline.hub.runtime(TENANT)
        alice_page, alice_session, alice = await _softphone(web, "alice", AGENT_HZ)
        caller = await RtpCaller.open(server.port, "100")
        bob_page = bob_session = bob = None
        try:
            await poll(lambda: server.engine_agent("alice").online, "alice online")
            await caller.call()
            [call] = server.sip.b2bua.calls.values()
            call_id = call.call_id

            def state_is(state: CallState) -> bool:
                found = _engine_call(server, call_id)
                return found is not None and found.state is state

            await poll(lambda: state_is(CallState.OFFERING), "the call offered to alice")
            runtime.post(ev.OfferAnswered(call_id=call_id, agent_id="alice"))
            caller.send_audio(tone(CALLER_HZ, 1.0))
            await _hears(alice.audio, CALLER_HZ, WIDE, "the caller at alice's browser")
            await _hears(caller.audio, AGENT_HZ, 8000, "alice at the caller")

            runtime.post(ev.HoldRequested(call_id=call_id))  # music to the caller
            await _goes_quiet(alice.audio, WIDE, "alice hearing nothing on hold")
            since = time.monotonic()

            def music() -> bool:
                samples = caller.audio(since)[-4000:]
                return len(samples) == 4000 and _loud(samples)

            await poll(music, "hold music at the caller")
            assert abs(dominant(caller.audio(since)[-4000:]) - AGENT_HZ) > 50  # not alice

            runtime.post(ev.ResumeRequested(call_id=call_id))
            await _hears(alice.audio, CALLER_HZ, WIDE, "the caller at alice's again")
            await _hears(caller.audio, AGENT_HZ, 8000, "alice at the caller again")

            bob_page, bob_session, bob = await _softphone(web, "bob", bob_hz)
            await poll(lambda: server.engine_agent("bob").online, "bob online")
            runtime.post(ev.TransferRequested(call_id=call_id, to_agent="bob"))
            await poll(lambda: state_is(CallState.OFFERING), "the call offered to bob")
            runtime.post(ev.OfferAnswered(call_id=call_id, agent_id="bob"))
            await _hears(bob.audio, CALLER_HZ, WIDE, "the caller at bob's browser")
            await _hears(caller.audio, bob_hz, 8000, "bob at the caller")
            await _goes_quiet(alice.audio, WIDE, "alice's line silent after the transfer")
            await caller.hang_up()
            await poll(lambda: not server.sip.b2bua.calls, "the call to end")
        finally:
            caller.close()
            for page, session, browser in (
                (alice_page, alice_session, alice),
                (bob_page, bob_session, bob),
            ):
                if browser is not None:
                    await browser.close()
                if page is not None:
                    await page.outbox.put(None)
                    await session


class FarEnd(RtpSocket):
    """The outside number's phone behind the carrier: sends a tone back to where our RTP
    comes from (symmetric RTP), once it has heard us."""

    def __init__(self) -> None:
        super().__init__()
        self.sender: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls) -> FarEnd:
        loop = asyncio.get_running_loop()
        _, far_end = await loop.create_datagram_endpoint(cls, local_addr=(TRUNK_HOST, 0))
        return far_end

    def close(self) -> None:
        if self.sender is not None:
            self.sender.cancel()
        assert self.transport is not None
        self.transport.close()

    def talk(self, samples: npt.NDArray[np.int16]) -> None:
        self.sender = asyncio.ensure_future(self._talk(samples))

    async def _talk(self, samples: npt.NDArray[np.int16]) -> None:
        await poll(lambda: bool(self.sources), "our RTP at the far end")
        assert self.transport is not None
        target = next(iter(self.sources))
        start, n = time.monotonic(), 0
        while True:
            chunk = samples[(n * 160) % len(samples) :][:160]
            packet = RtpPacket(
                payload_type=0,
                sequence=n % 65536,
                timestamp=n * 160,
                ssrc=0x5150,
                payload=ulaw_encode(chunk),
            )
            self.transport.sendto(packet.serialize(), target)
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))


async def _browser_dials(
    server: SipServer, browser: Browser, number: str
) -> tuple[Page, asyncio.Task[str | None]]:
    """A browser caller's conversation (`caller_session`) dialling `number`, its media up."""
    page = Page()
    session = asyncio.create_task(
        caller_session(
            server.app.state.webrtc,
            TENANT,
            page,
            page.messages(),
            lambda: {number},
            allow_private=True,
        )
    )
    await browser.connect(page, {"type": "dial", "to": number, "dtmf": "message"})
    return page, session


async def test_a_browser_caller_sent_to_an_outside_number_talks_through_the_trunk(
    tmp_path: Path,
) -> None:
    far_end = await FarEnd.open()
    carrier_port = free_port()
    browser = Browser(AGENT_HZ)
    try:
        async with (
            _carrier(tmp_path, carrier_port, [far_end.port]) as carrier,
            sip_server(tmp_path, EXTERNAL_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        ):
            page, session = await _browser_dials(server, browser, "400")
            far_end.talk(tone(CALLER_HZ, 1.0))
            await _hears(far_end.audio, AGENT_HZ, 8000, "the browser's tone at the far end")
            await _hears(browser.audio, CALLER_HZ, WIDE, "the far end's tone at the browser")
            joined = server.sip.browser.joined
            [(tenant_id, call_id)] = joined
            leg = joined[(tenant_id, call_id)].external
            assert leg is not None and leg.invite.uri.startswith(f"sip:9{EXTERNAL}@")
            await page.outbox.put({"type": "hangup"})
            assert await session is None
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # the number's leg got our BYE when the caller left
            assert not server.sip.browser.joined
    finally:
        far_end.close()
        await browser.close()


async def test_a_browser_caller_talks_with_an_agent_reached_on_a_number_through_the_trunk(
    tmp_path: Path,
) -> None:
    """Routing type 2: the queue rings alice's number through the trunk (sipp answers with
    the far end's socket); once she answers, the browser and her phone hear each other."""
    far_end = await FarEnd.open()
    carrier_port = free_port()
    browser = Browser(AGENT_HZ)
    try:
        async with (
            _carrier(tmp_path, carrier_port, [far_end.port]) as carrier,
            sip_server(tmp_path, RT2_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        ):
            page, session = await _browser_dials(server, browser, "100")
            far_end.talk(tone(CALLER_HZ, 1.0))
            await _hears(far_end.audio, AGENT_HZ, 8000, "the caller's tone at alice's phone")
            await _hears(browser.audio, CALLER_HZ, WIDE, "alice's tone at the browser")
            [(tenant_id, call_id)] = server.sip.browser.joined
            out = server.sip.outbound.calls[(tenant_id, call_id)]
            assert out.agent is not None and out.agent.invite.uri.startswith(f"sip:9{ALICE_PHONE}@")
            found = _engine_call(server, call_id)
            assert found is not None and found.state is CallState.CONNECTED
            await page.outbox.put({"type": "hangup"})
            assert await session is None
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # alice's leg got our BYE when the caller left
            assert not server.sip.browser.joined
    finally:
        far_end.close()
        await browser.close()
