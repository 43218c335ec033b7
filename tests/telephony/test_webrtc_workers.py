"""Browser calls whose media run in worker processes (setting `media_workers`, issue 6).

Real parts throughout: the adapter with two real worker processes, the real signalling over
an in-memory channel (as tests/web/test_web_phone_media.py), aiortc peers standing in for
the browsers, each sending a tone and listening to what it is sent.
"""

from __future__ import annotations

import asyncio
import fractions
import os
import signal
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.media.tones import dtmf_tone
from helpline.telephony.virtual import VirtualCarrier
from helpline.telephony.webrtc import agent_session, allow_loopback, caller_session
from helpline.telephony.webrtc.audio import FRAME, RATE, Samples, read_track
from helpline.telephony.webrtc.worker_adapter import WorkerTelephony
from helpline.telephony.webrtc.worker_legs import RemoteLeg
from page_support import Page, poll

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLER_HZ, AGENT_HZ = 700.0, 1400.0


class Tone(MediaStreamTrack):
    """A sine (or a key's tone pairs, once) in 20 ms frames, paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float = 0.0, keys: str = "") -> None:
        super().__init__()
        self.frequency = frequency
        self.sent = 0
        self.started: float | None = None
        gap = np.zeros(int(0.1 * RATE), dtype=np.int16)
        pieces = [np.concatenate([dtmf_tone(k, 0.12, RATE), gap]) for k in keys]
        self.keys = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)

    async def recv(self) -> av.AudioFrame:
        if self.started is None:
            self.started = time.monotonic()
        else:
            wait = self.started + self.sent / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        t = np.arange(self.sent, self.sent + FRAME)
        samples = (np.sin(2 * np.pi * self.frequency * t / RATE) * 8000).astype(np.int16)
        start = self.sent - RATE  # the keys start after a second (the call is up by then)
        if self.keys.size and 0 <= start < self.keys.size:
            chunk = self.keys[start : start + FRAME]
            samples[: len(chunk)] = chunk
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += FRAME
        return frame


class Ear:
    """What a browser hears: the last second of its audio."""

    def __init__(self) -> None:
        self.samples: list[Samples] = []

    def hear(self, samples: Samples) -> None:
        self.samples.append(samples)
        del self.samples[: -RATE // FRAME]

    def loudest_hz(self) -> float:
        if not self.samples:
            return 0.0
        audio = np.concatenate(self.samples).astype(np.float64)
        if float(np.sqrt(np.mean(audio * audio))) < 300:
            return 0.0  # silence
        spectrum = np.abs(np.fft.rfft(audio))
        return float(np.fft.rfftfreq(len(audio), 1 / RATE)[int(np.argmax(spectrum))])


async def browser(
    page: Page, message: dict[str, Any], track: MediaStreamTrack, ear: Ear
) -> tuple[RTCPeerConnection, list[asyncio.Task[None]]]:
    pc = RTCPeerConnection()
    readers: list[asyncio.Task[None]] = []
    pc.on("track", lambda remote: readers.append(asyncio.create_task(read_track(remote, ear.hear))))
    pc.addTrack(track)
    await pc.setLocalDescription(await pc.createOffer())
    before = len(page.sent)
    await page.outbox.put({**message, "sdp": pc.localDescription.sdp})
    answer = await page.reply("answer", before)
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def connected() -> bool | None:
        return pc.connectionState == "connected" or None

    await poll(connected, what="the media to connect")
    return pc, readers


def hears(ear: Ear, hz: float) -> Any:
    async def check() -> bool | None:
        return abs(ear.loudest_hz() - hz) < 30 or None

    return check


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("workers")


Stored = list[tuple[str, str, Path, float]]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def phone(module_tmp: Path) -> AsyncIterator[tuple[WorkerTelephony, list[ev.Event], Stored]]:
    allow_loopback()
    posted: list[ev.Event] = []
    stored: Stored = []

    async def keep(tenant_id: str, call_id: str, path: Path, duration: float) -> None:
        stored.append((tenant_id, call_id, path, duration))

    telephony = WorkerTelephony(
        VirtualCarrier(), module_tmp, workers=2, on_recording=keep, presence_grace_s=60
    )
    telephony.attach(lambda tenant, event: posted.append(event))
    await telephony.start()
    try:
        yield telephony, posted, stored
    finally:
        await telephony.close()


class Call:
    """An agent's softphone and a browser caller, bridged by the engine's `Bridge`."""

    def __init__(self, telephony: WorkerTelephony, agent: str) -> None:
        self.telephony = telephony
        self.agent = agent
        self.agent_page, self.caller_page = Page(), Page()
        self.agent_ear, self.caller_ear = Ear(), Ear()
        self.pcs: list[RTCPeerConnection] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.call_id = ""

    async def start(self, *, keys: str = "", dtmf: str = "message", record: bool = True) -> None:
        telephony = self.telephony
        session = agent_session(
            telephony, "t", self.agent, self.agent_page, self.agent_page.messages()
        )
        self.tasks.append(asyncio.create_task(session))
        pc, readers = await browser(
            self.agent_page, {"type": "offer"}, Tone(AGENT_HZ), self.agent_ear
        )
        self.pcs.append(pc)
        self.tasks += readers
        page = self.caller_page
        caller = caller_session(
            telephony, "t", page, page.messages(), lambda: {"100"}, allow_private=True
        )
        self.tasks.append(asyncio.create_task(caller))
        dial = {"type": "dial", "to": "100", "dtmf": dtmf}
        pc, readers = await browser(page, dial, Tone(CALLER_HZ, keys), self.caller_ear)
        self.pcs.append(pc)
        self.tasks += readers
        self.call_id = (await page.reply("answer"))["call_id"]
        bridge = cmd.Bridge(call_id=self.call_id, agent_id=self.agent, record=record)
        await telephony.execute("t", bridge)

    def legs(self) -> tuple[RemoteLeg, RemoteLeg]:
        call = self.telephony.calls[("t", self.call_id)]
        line = self.telephony.lines[("t", self.agent)]
        assert isinstance(call.leg, RemoteLeg) and isinstance(line.leg, RemoteLeg)
        return call.leg, line.leg

    async def end(self) -> None:
        await self.caller_page.outbox.put(None)
        await self.agent_page.outbox.put(None)
        for pc in self.pcs:
            await pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_a_call_bridged_across_two_workers_is_heard_both_ways_and_recorded(
    phone: tuple[WorkerTelephony, list[ev.Event], Stored],
) -> None:
    telephony, _, stored = phone
    call = Call(telephony, "alice")
    await call.start()
    caller_leg, agent_leg = call.legs()
    assert caller_leg.worker is not None and agent_leg.worker is not None
    assert caller_leg.worker is not agent_leg.worker  # each on its own worker: the relay
    await poll(hears(call.caller_ear, AGENT_HZ), what="the caller to hear the agent's tone")
    await poll(hears(call.agent_ear, CALLER_HZ), what="the agent to hear the caller's tone")

    await telephony.execute("t", cmd.SetHold(call_id=call.call_id, on=True))
    await poll(hears(call.agent_ear, 0.0), what="the agent to hear silence on hold")
    await telephony.execute("t", cmd.SetHold(call_id=call.call_id, on=False))
    await poll(hears(call.agent_ear, CALLER_HZ), what="the agent to hear the caller again")

    before = len(call.caller_page.sent)
    await call.caller_page.outbox.put({"type": "hangup"})
    await call.caller_page.reply("ended", before)

    async def recorded() -> bool | None:
        return any(c == call.call_id for _, c, _, _ in stored) or None

    await poll(recorded, what="the recording to be handed over")
    [(_, _, path, duration)] = [s for s in stored if s[1] == call.call_id]
    assert duration > 0.5
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(audio[:, 0]).max() > 1000 and np.abs(audio[:, 1]).max() > 1000
    await call.end()


async def test_keys_heard_in_a_worker_reach_the_engine(
    phone: tuple[WorkerTelephony, list[ev.Event], Stored],
) -> None:
    telephony, posted, _ = phone
    call = Call(telephony, "bob")
    await call.start(keys="42#", dtmf="inband", record=False)

    async def pressed() -> list[str] | None:
        digits = [
            e.digits
            for e in posted
            if isinstance(e, ev.DigitsPressed) and e.call_id == call.call_id
        ]
        return digits if len(digits) >= 3 else None

    assert await poll(pressed, what="the caller's keys") == ["4", "2", "#"]
    await call.end()


async def test_a_worker_killed_mid_call_ends_the_call_and_keeps_the_recording(
    phone: tuple[WorkerTelephony, list[ev.Event], Stored],
) -> None:
    telephony, posted, stored = phone
    call = Call(telephony, "carol")
    await call.start()
    caller_leg, _ = call.legs()
    await poll(hears(call.agent_ear, CALLER_HZ), what="the agent to hear the caller")
    await asyncio.sleep(1.0)  # a second of call in the recording
    worker = caller_leg.worker
    assert worker is not None
    slot, pid = worker.slot, worker.pid
    before = len(call.caller_page.sent)
    os.kill(pid, signal.SIGKILL)

    ended = await call.caller_page.reply("ended", before)
    assert ended["reason"] == "media_failed"
    hung_up = ev.CallHungUp(call_id=call.call_id, party=ev.Party.CUSTOMER, reason="media_failed")
    assert hung_up in posted
    assert ("t", call.call_id) not in telephony.calls

    async def recorded() -> bool | None:
        return any(c == call.call_id for _, c, _, _ in stored) or None

    await poll(recorded, what="what was recorded to be handed over")
    [(_, _, path, duration)] = [s for s in stored if s[1] == call.call_id]
    assert duration > 0.5
    with wave.open(str(path)) as wav:  # the header was repaired: it reads as a WAV
        assert wav.getnframes() / wav.getframerate() == pytest.approx(duration, abs=0.01)

    async def restarted() -> bool | None:
        fresh = telephony.pool.workers[slot]
        return (fresh.alive and fresh.pid != pid) or None

    await poll(restarted, what="the worker to be started again")
    await call.end()

    after = Call(telephony, "dave")  # the pool serves new calls with the fresh worker
    await after.start(record=False)
    await poll(hears(after.caller_ear, AGENT_HZ), what="a new call to carry audio")
    await after.end()
