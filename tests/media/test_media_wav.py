"""Stereo recording: caller left, agent right, aligned by timestamps, gaps filled with silence."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from helpline.media.tones import tone
from helpline.media.wav import StereoRecorder, StereoWavRecorder

RATE = 8000


def frame(value: int, n: int = 160) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def read_wav(source: Path | io.BytesIO) -> tuple[int, np.ndarray]:
    with wave.open(str(source) if isinstance(source, Path) else source) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (2, 2)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        return w.getframerate(), data


def test_sides_are_aligned_by_time_with_gaps_silent() -> None:
    recorder = StereoRecorder(RATE, reorder_s=0.0)
    recorder.add("caller", 0.0, frame(1))
    recorder.add("agent", 0.04, frame(2))  # the agent starts 40 ms later
    recorder.add("caller", 0.06, frame(3))  # the caller skips 40 ms (a lost packet)
    out = np.concatenate([recorder.pop_ready(), recorder.finish()])
    assert out.shape == (640, 2)
    left, right = out[:, 0], out[:, 1]
    assert (left[:160] == 1).all() and (left[160:480] == 0).all() and (left[480:] == 3).all()
    assert (right[:320] == 0).all() and (right[320:480] == 2).all() and (right[480:] == 0).all()


def test_nothing_is_handed_out_before_both_sides_reach_it() -> None:
    recorder = StereoRecorder(RATE, max_lag_s=1.0, reorder_s=0.0)
    recorder.add("caller", 0.0, frame(5, 800))
    assert len(recorder.pop_ready()) == 0  # the agent may still send this stretch
    recorder.add("agent", 0.0, frame(6, 400))
    ready = recorder.pop_ready()
    assert ready.shape == (400, 2) and (ready == [5, 6]).all()
    # A silent side does not hold the other back beyond max_lag_s.
    recorder.add("caller", 0.1, frame(7, 2 * RATE))
    ready = recorder.pop_ready()
    assert len(ready) == 0.1 * RATE + 2 * RATE - RATE - 400
    assert (ready[400:, 1] == 0).all()
    # A frame too late for what was written keeps only its still-open part.
    recorder.add("agent", 0.0, frame(9, 2 * RATE))
    rest = recorder.finish()
    assert (rest[:, 1] == 9).any() and (rest[:, 0] == 7).all()


def test_bad_input_names_the_field() -> None:
    recorder = StereoRecorder(RATE)
    with pytest.raises(ValueError, match="side"):
        recorder.add("customer", 0.0, frame(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="samples"):
        recorder.add("caller", 0.0, np.zeros(4))
    with pytest.raises(ValueError, match="at_s"):
        recorder.add("caller", -1.0, frame(1))


def test_wav_file_of_a_call(tmp_path: Path) -> None:
    """Two sides in 20 ms frames, the agent's out of order and with a hold gap: the file has
    the caller's tone on the left and the agent's on the right, in step."""
    path = tmp_path / "call.wav"
    caller = tone([440.0], 2.0, RATE, 8000)
    agent = tone([1000.0], 2.0, RATE, 8000)
    with StereoWavRecorder(path, RATE, max_lag_s=0.2) as recorder:
        for i in range(0, 2 * RATE, 160):
            recorder.add("caller", i / RATE, caller[i : i + 160])
            j = i - 160 if (i // 160) % 2 else i + 160  # swapped pairs of frames
            if 0.5 * RATE <= j < 1.0 * RATE:
                continue  # agent on hold for half a second
            if 0 <= j < 2 * RATE:
                recorder.add("agent", j / RATE, agent[j : j + 160])
    rate, data = read_wav(path)
    assert rate == RATE and data.shape == (2 * RATE, 2)
    assert np.array_equal(data[:, 0], caller)
    assert np.array_equal(data[: RATE // 2, 1], agent[: RATE // 2])
    assert not data[RATE // 2 : RATE, 1].any()
    assert np.array_equal(data[RATE:, 1], agent[RATE:])


def test_wav_to_a_file_object() -> None:
    buffer = io.BytesIO()
    recorder = StereoWavRecorder(buffer, 48000)
    recorder.add("agent", 0.5, frame(4, 960))
    assert recorder.close() == pytest.approx(0.52)
    buffer.seek(0)
    rate, data = read_wav(buffer)
    assert rate == 48000 and len(data) == 0.52 * 48000
