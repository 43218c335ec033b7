"""The voicemail recorder without a network (helpline.telephony.webrtc.voicemail): a message
is cut at its length limit to the sample, the call is hung up then and not before, the sink
hears of it once; a caller who leaves during the beep leaves no file and no message."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from helpline.telephony.webrtc.audio import RATE
from helpline.telephony.webrtc.legs import Leg
from helpline.telephony.webrtc.voicemail import (
    MAX_LENGTH_REASON,
    MESSAGE_RATE,
    Voicemail,
    voicemail_path,
)

pytestmark = pytest.mark.asyncio


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, Path, float]] = []
        self.told = asyncio.Event()

    async def __call__(self, tenant_id: str, call_id: str, path: Path, duration: float) -> None:
        self.messages.append((tenant_id, call_id, path, duration))
        self.told.set()


async def test_a_full_message_is_cut_to_the_sample_and_the_call_hung_up(tmp_path: Path) -> None:
    sink = Sink()
    box = Voicemail(max_s=0.5, on_message=sink)
    hung_up: list[str] = []
    leg = Leg("c1")
    message = box.record(tmp_path, "t1", "c1", leg, hung_up.append)
    assert message is not None and message.path == voicemail_path(tmp_path, "t1", "c1")
    tone = (np.sin(2 * np.pi * 440 * np.arange(RATE // 50) / RATE) * 8000).astype(np.int16)
    for _ in range(24):  # 480 ms of 20 ms frames: not full yet
        for listener in list(leg.listeners):
            listener(tone)
    assert hung_up == [] and not message.closed
    for _ in range(5):  # 100 ms more: full at 500 ms, the rest dropped
        for listener in list(leg.listeners):
            listener(tone)
    assert hung_up == [MAX_LENGTH_REASON]
    await asyncio.wait_for(sink.told.wait(), 5)
    assert sink.messages == [("t1", "c1", message.path, 0.5)]
    with wave.open(str(message.path)) as wav:
        shape = (wav.getnchannels(), wav.getframerate(), wav.getnframes())
    assert shape == (1, MESSAGE_RATE, MESSAGE_RATE // 2)
    await leg.close()  # the hang-up closes the leg afterwards: told once, not twice
    await asyncio.sleep(0.05)
    assert len(sink.messages) == 1 and hung_up == [MAX_LENGTH_REASON]


async def test_a_caller_gone_during_the_beep_leaves_no_message(tmp_path: Path) -> None:
    sink = Sink()
    box = Voicemail(max_s=60, on_message=sink)
    hung_up: list[str] = []
    leg = Leg("c2")
    message = box.record(tmp_path, "t1", "c2", leg, hung_up.append)
    assert message is not None
    await leg.close()  # the caller's page closed: their leg's connection ends
    assert message.closed
    for _ in range(50):  # the file is removed by a task of its own
        if not message.path.exists():
            break
        await asyncio.sleep(0.02)
    assert not message.path.exists()
    assert sink.messages == [] and hung_up == []
    assert box.record(tmp_path, "t1", "c3", leg, hung_up.append) is None  # a closed leg
