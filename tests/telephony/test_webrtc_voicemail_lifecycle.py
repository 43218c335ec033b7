"""One message per call at a time (helpline.telephony.webrtc.voicemail): a second mailbox, or
the adapter moving the caller's audio on (`Voicemail.end`), ends the message under way (one
writer per file, one delivery per message); an unwritable mailbox leaves the call going
unrecorded; shutdown (`drain`) waits for deliveries under way and cancels what is too slow."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from helpline.telephony.webrtc.audio import RATE
from helpline.telephony.webrtc.legs import Leg
from helpline.telephony.webrtc.voicemail import MESSAGE_RATE, Voicemail

pytestmark = pytest.mark.asyncio

TONE = (np.sin(2 * np.pi * 440 * np.arange(RATE // 50) / RATE) * 8000).astype(np.int16)


class Sink:
    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.messages: list[tuple[str, str, Path, float]] = []
        self.hold = hold

    async def __call__(self, tenant_id: str, call_id: str, path: Path, duration: float) -> None:
        if self.hold is not None:
            await self.hold.wait()
        self.messages.append((tenant_id, call_id, path, duration))


def speak(leg: Leg, frames: int) -> None:
    for _ in range(frames):
        for listener in list(leg.listeners):
            listener(TONE)


async def test_a_second_mailbox_ends_the_first_message(tmp_path: Path) -> None:
    sink = Sink()
    box = Voicemail(max_s=60, on_message=sink)
    leg = Leg("c1")
    first = box.record(tmp_path, "t1", "c1", leg, lambda reason: None)
    assert first is not None
    speak(leg, 10)  # 200 ms
    second = box.record(tmp_path, "t1", "c1", leg, lambda reason: None)
    assert second is not None and first.closed and not second.closed
    assert len(leg.listeners) == 1  # one writer on the path
    speak(leg, 5)  # 100 ms, into the second message only
    box.end("t1", "c1")  # the adapter moved the caller's audio on
    assert second.closed and leg.listeners == []
    await box.drain()
    assert [round(m[3], 2) for m in sink.messages] == [0.2, 0.1]
    with wave.open(str(second.path)) as wav:
        assert wav.getnframes() == MESSAGE_RATE // 10
    await leg.close()  # the leg closing later tells nobody again
    await box.drain()
    assert len(sink.messages) == 2


async def test_an_unwritable_mailbox_leaves_the_call_unrecorded(tmp_path: Path) -> None:
    blocked = tmp_path / "media"
    blocked.write_text("a file where the media folder should be")
    box = Voicemail(max_s=60, on_message=Sink())
    leg = Leg("c2")
    assert box.record(blocked, "t1", "c2", leg, lambda reason: None) is None
    assert leg.listeners == []
    box.end("t1", "c2")  # nothing under way: nothing to end
    await leg.close()


async def test_drain_waits_for_deliveries_and_cancels_the_stuck(tmp_path: Path) -> None:
    release = asyncio.Event()
    sink = Sink(hold=release)
    box = Voicemail(max_s=60, on_message=sink)
    leg = Leg("c3")
    assert box.record(tmp_path, "t1", "c3", leg, lambda reason: None) is not None
    speak(leg, 5)
    await leg.close()  # the message ends; its delivery waits on `release`
    asyncio.get_running_loop().call_soon(release.set)
    await box.drain(timeout_s=30)
    assert len(sink.messages) == 1

    stuck = Voicemail(max_s=60, on_message=Sink(hold=asyncio.Event()))  # never released
    leg = Leg("c4")
    assert stuck.record(tmp_path, "t1", "c4", leg, lambda reason: None) is not None
    speak(leg, 5)
    await leg.close()
    await stuck.drain(timeout_s=0.2)  # returns: the stuck delivery is cancelled
    assert stuck._tasks == set()
