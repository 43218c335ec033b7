"""The webrtc adapter's media pieces, without a browser: sources, the outgoing track's frame
format and timestamps, the stereo recording, the prompt cache, loopback candidates."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import aioice.ice
import aiortc.rtp
import av
import numpy as np
import pytest

from helpline.media.tones import tone
from helpline.telephony.webrtc.audio import (
    FRAME,
    MAX_FEED,
    RATE,
    Clip,
    Feed,
    OutgoingTrack,
    mono_48k,
)
from helpline.telephony.webrtc.legs import AIORTC_AUDIO_LEVEL, allow_loopback, fast_audio_level
from helpline.telephony.webrtc.prompts import PromptLibrary
from helpline.telephony.webrtc.recording import FILE_RATE, CallRecording


def test_a_clip_plays_once_reports_its_end_once_then_hands_over() -> None:
    ended: list[int] = []
    after = Clip(np.full(10, 7, dtype=np.int16), loop=True)
    clip = Clip(np.arange(1, 6, dtype=np.int16), then=after, on_end=lambda: ended.append(1))
    first = clip.pull(8)
    assert first.tolist() == [1, 2, 3, 4, 5, 7, 7, 7]
    assert ended == [1]
    assert clip.pull(4).tolist() == [7, 7, 7, 7]
    assert ended == [1]


def test_a_looping_clip_wraps_around() -> None:
    clip = Clip(np.array([1, 2, 3], dtype=np.int16), loop=True)
    assert clip.pull(7).tolist() == [1, 2, 3, 1, 2, 3, 1]


def test_a_feed_keeps_order_pads_with_silence_and_bounds_its_latency() -> None:
    feed = Feed()
    feed.push(np.array([1, 2, 3], dtype=np.int16))
    feed.push(np.array([4, 5], dtype=np.int16))
    assert feed.pull(4).tolist() == [1, 2, 3, 4]
    assert feed.pull(3).tolist() == [5, 0, 0]
    for _ in range(100):  # a second of audio that nobody pulled
        feed.push(np.ones(FRAME, dtype=np.int16))
    assert feed.size <= MAX_FEED


async def test_the_outgoing_track_sends_one_format_with_continuous_timestamps() -> None:
    track = OutgoingTrack()
    track.source = Clip(np.ones(FRAME * 2, dtype=np.int16))
    frames = [await track.recv() for _ in range(4)]
    assert [f.pts for f in frames] == [0, FRAME, 2 * FRAME, 3 * FRAME]
    for frame in frames:
        assert (frame.format.name, frame.layout.name, frame.sample_rate) == ("s16", "mono", RATE)
        assert frame.samples == FRAME
    assert frames[1].to_ndarray().max() == 1
    assert frames[2].to_ndarray().max() == 0  # the clip ended: silence, same format
    track.stop()


def _dominant(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def test_the_recording_puts_the_caller_left_and_the_agent_right(tmp_path: Path) -> None:
    now = [100.0]
    recording = CallRecording(tmp_path / "r" / "call.wav", clock=lambda: now[0])
    caller = tone([700.0], 1.0, RATE, 8000)
    agent = tone([1400.0], 1.0, RATE, 8000)
    for start in range(0, RATE, FRAME):
        recording.caller(caller[start : start + FRAME])
        recording.agent(agent[start : start + FRAME])
        now[0] += FRAME / RATE
    duration = recording.close()
    assert duration == pytest.approx(1.0, abs=0.01)
    with wave.open(str(tmp_path / "r" / "call.wav")) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, FILE_RATE)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    middle = frames[FILE_RATE // 4 : 3 * FILE_RATE // 4]
    assert _dominant(middle[:, 0], FILE_RATE) == pytest.approx(700, abs=3)
    assert _dominant(middle[:, 1], FILE_RATE) == pytest.approx(1400, abs=3)


def test_a_side_that_starts_late_is_placed_at_its_time(tmp_path: Path) -> None:
    now = [0.0]
    recording = CallRecording(tmp_path / "late.wav", clock=lambda: now[0])
    recording.caller(np.full(FRAME, 1000, dtype=np.int16))
    now[0] = 0.5  # the agent's first frame arrives half a second in
    recording.agent(np.full(FRAME, 1000, dtype=np.int16))
    recording.close()
    with wave.open(str(tmp_path / "late.wav")) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    agent_start = int(np.argmax(np.abs(frames[:, 1]) > 500))
    assert agent_start / FILE_RATE == pytest.approx(0.5, abs=0.01)


async def test_prompts_are_spoken_once_and_cached_by_text_and_voice(tmp_path: Path) -> None:
    library = PromptLibrary(tmp_path)
    first = await library.speak("Press one for sales.", "en")
    assert len(first) > RATE // 2  # over half a second of speech
    assert np.abs(first).max() > 1000
    cached = list((tmp_path / "prompts").glob("*.wav"))
    assert len(cached) == 1
    again = PromptLibrary(tmp_path)  # a new process: the disk cache answers, no new render
    mtime = cached[0].stat().st_mtime_ns
    assert np.array_equal(await again.speak("Press one for sales.", "en"), first)
    assert cached[0].stat().st_mtime_ns == mtime
    await again.speak("Press one for sales.", "es")  # another voice, another file
    assert len(list((tmp_path / "prompts").glob("*.wav"))) == 2


async def test_uploaded_audio_is_found_by_tenant_and_name_and_bad_names_are_refused(
    tmp_path: Path,
) -> None:
    library = PromptLibrary(tmp_path)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(tone([440.0], 0.5, 8000, 8000).astype("<i2").tobytes())
    assert library.store_upload("t1", "welcome", buffer.getvalue()) == 0.5
    found = await library.uploaded("t1", "welcome")
    assert found is not None
    assert len(found) == RATE // 2  # converted to 48 kHz once, at upload
    assert await library.uploaded("t2", "welcome") is None  # another tenant's
    assert await library.uploaded("t1", "../../etc/passwd") is None
    assert await library.uploaded("t1", "missing") is None
    assert len(await library.hold_music("t1", "default")) > RATE


def test_loopback_is_offered_as_a_host_candidate() -> None:
    allow_loopback()
    assert "127.0.0.1" in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


@pytest.mark.parametrize("amplitude", [0, 1, 300, 8000, 32767])
def test_the_numpy_audio_level_matches_aiortc_s_own(amplitude: int) -> None:
    original = aiortc.rtp.compute_audio_level_dbov
    fast_audio_level()
    samples = tone([440.0], FRAME / RATE, RATE, amplitude) if amplitude else np.zeros(FRAME)
    frame = av.AudioFrame.from_ndarray(
        samples.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    assert aiortc.rtp.compute_audio_level_dbov(frame) == AIORTC_AUDIO_LEVEL(frame)
    assert aiortc.rtp.compute_audio_level_dbov is not AIORTC_AUDIO_LEVEL
    aiortc.rtp.compute_audio_level_dbov = original


def test_decoded_stereo_becomes_the_mean_of_its_channels() -> None:
    left = np.array([100, -200, 32767, -32768], dtype=np.int16)
    right = np.array([300, -200, 32767, -32768], dtype=np.int16)
    packed = np.stack([left, right], axis=1).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(packed, format="s16", layout="stereo")
    frame.sample_rate = RATE
    mono = mono_48k(frame)
    assert mono is not None
    assert mono.tolist() == [200, -200, 32767, -32768]
    other = av.AudioFrame.from_ndarray(packed, format="s16", layout="stereo")
    other.sample_rate = 8000  # G.711 would come at 8 kHz: the resampler's job
    assert mono_48k(other) is None
