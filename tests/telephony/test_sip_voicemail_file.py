"""The SIP caller's voicemail recorder without a network (helpline.telephony.sip.voicemail):
the caller's 8 kHz audio, as its RTP endpoint decodes it, becomes a 16 kHz mono message; a
message is cut at its length limit, the call is hung up then and not before, and the sink
hears of it once; a caller who leaves during the beep leaves no file and no message."""

from __future__ import annotations

import asyncio
import random
import wave
from pathlib import Path

import numpy as np
import pytest

from helpline.sip.sdp import AudioSession
from helpline.telephony.rtp.endpoint import RtpEndpoint
from helpline.telephony.sip.voicemail import BEEP, RATE, SipVoicemail
from helpline.telephony.webrtc.voicemail import (
    MAX_LENGTH_REASON,
    MESSAGE_RATE,
    Voicemail,
    voicemail_path,
)

FRAME = RATE // 50  # 20 ms


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, Path, float]] = []
        self.told = asyncio.Event()

    async def __call__(self, tenant_id: str, call_id: str, path: Path, duration: float) -> None:
        self.messages.append((tenant_id, call_id, path, duration))
        self.told.set()


def endpoint() -> RtpEndpoint:
    return RtpEndpoint(
        AudioSession("127.0.0.1", 40000, "PCMU", 0, 101, 20, "sendrecv"), rng=random.Random(1)
    )


def tone(hz: float) -> np.ndarray:
    return (np.sin(2 * np.pi * hz * np.arange(FRAME) / RATE) * 8000).astype(np.int16)


def hear(caller: RtpEndpoint, frames: int, hz: float = 600.0) -> None:
    """What the endpoint hands on as it decodes the caller's packets."""
    for _ in range(frames):
        assert caller.on_audio is not None
        caller.on_audio(tone(hz))


def test_the_beep_is_the_browser_callers_at_8_khz() -> None:
    assert len(BEEP) == round(0.4 * RATE)
    spectrum = np.abs(np.fft.rfft(BEEP.astype(np.float64)))
    assert np.fft.rfftfreq(len(BEEP), 1 / RATE)[int(np.argmax(spectrum))] == pytest.approx(1000)


async def test_a_message_is_widened_to_16_khz_and_ends_with_the_call(tmp_path: Path) -> None:
    sink = Sink()
    box = SipVoicemail(lambda: tmp_path, lambda: Voicemail(max_s=5.0, on_message=sink))
    hung_up: list[str] = []
    caller = endpoint()
    message = box.record("t1", "c1", caller, hung_up.append)
    assert message.path == voicemail_path(tmp_path, "t1", "c1")
    hear(caller, 50)  # one second
    box.end("t1", "c1")  # the call's media close (the caller's BYE)
    assert caller.on_audio is None and hung_up == []
    await asyncio.wait_for(sink.told.wait(), 5)
    assert sink.messages == [("t1", "c1", message.path, 1.0)]
    with wave.open(str(message.path)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, MESSAGE_RATE)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert len(samples) == MESSAGE_RATE
    spectrum = np.abs(np.fft.rfft(samples[MESSAGE_RATE // 10 :].astype(np.float64)))
    freqs = np.fft.rfftfreq(len(samples) - MESSAGE_RATE // 10, 1 / MESSAGE_RATE)
    assert freqs[int(np.argmax(spectrum))] == pytest.approx(600, abs=5)
    box.end("t1", "c1")  # again (the media close twice): told once
    await asyncio.sleep(0.05)
    assert len(sink.messages) == 1


async def test_a_full_message_is_cut_to_the_sample_and_the_call_hung_up(tmp_path: Path) -> None:
    sink = Sink()
    box = SipVoicemail(lambda: tmp_path, lambda: Voicemail(max_s=0.5, on_message=sink))
    hung_up: list[str] = []
    caller = endpoint()
    message = box.record("t1", "c1", caller, hung_up.append)
    hear(caller, 24)  # 480 ms: not full yet
    assert hung_up == [] and not message.closed
    hear(caller, 1)  # 500 ms: full
    assert hung_up == [MAX_LENGTH_REASON] and caller.on_audio is None
    await asyncio.wait_for(sink.told.wait(), 5)
    assert sink.messages == [("t1", "c1", message.path, 0.5)]
    with wave.open(str(message.path)) as wav:
        assert wav.getnframes() == MESSAGE_RATE // 2
    box.end("t1", "c1")  # the hang-up closes the media afterwards: told once, not twice
    await asyncio.sleep(0.05)
    assert len(sink.messages) == 1 and hung_up == [MAX_LENGTH_REASON]


async def test_a_caller_whose_audio_stopped_is_cut_by_the_clock(tmp_path: Path) -> None:
    sink = Sink()
    box = SipVoicemail(lambda: tmp_path, lambda: Voicemail(max_s=0.3, on_message=sink))
    hung_up: list[str] = []
    caller = endpoint()
    box.record("t1", "c1", caller, hung_up.append)
    hear(caller, 5)  # 100 ms, then nothing (a phone that suppresses silence, or died)
    await asyncio.wait_for(sink.told.wait(), 5)
    assert hung_up == [MAX_LENGTH_REASON]
    assert sink.messages[0][3] == pytest.approx(0.1, abs=0.01)


async def test_a_caller_who_leaves_during_the_beep_leaves_nothing(tmp_path: Path) -> None:
    sink = Sink()
    box = SipVoicemail(lambda: tmp_path, lambda: Voicemail(max_s=5.0, on_message=sink))
    message = box.record("t1", "c1", endpoint(), lambda reason: None)
    box.end("t1", "c1")
    await asyncio.sleep(0.05)
    assert not message.path.exists() and sink.messages == []


async def test_without_a_browser_adapter_the_message_is_kept_untold(tmp_path: Path) -> None:
    box = SipVoicemail(lambda: tmp_path, lambda: None)
    caller = endpoint()
    message = box.record("t1", "c1", caller, lambda reason: None)
    hear(caller, 10)
    box.end("t1", "c1")
    await asyncio.sleep(0.05)
    assert message.closed and message.path.is_file()
