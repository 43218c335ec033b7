"""The 8 <-> 48 kHz conversion of the SIP <-> browser bridge (`telephony/bridge/pcm.py`):
frame sizes, a tone's frequency and level kept, frames joined without a seam, and what a
browser leg carries above the telephone band kept out of it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from helpline.telephony.bridge.pcm import NARROW, WIDE, Transcoder


def _sine(frequency: float, seconds: float, rate: int) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * frequency * t) * 8000).astype(np.int16)


def _level_at(samples: npt.NDArray[np.int16], frequency: float, rate: int) -> float:
    """The amplitude of one frequency (a single-bin DFT, i.e. Goertzel's quantity)."""
    t = np.arange(len(samples)) / rate
    x = samples.astype(np.float64)
    return float(2 * abs(np.dot(x, np.exp(-2j * np.pi * frequency * t))) / len(samples))


def test_a_packet_widens_to_a_browser_frame_and_a_frame_narrows_to_a_packet() -> None:
    codec = Transcoder()
    assert len(codec.widen(np.zeros(160, dtype=np.int16))) == 960  # 20 ms each way
    assert len(codec.narrow(np.zeros(960, dtype=np.int16))) == 160


def test_a_tone_keeps_its_frequency_and_level_through_frames_both_ways() -> None:
    codec = Transcoder()
    narrow = _sine(700, 1.0, NARROW)
    wide = np.concatenate([codec.widen(narrow[i : i + 160]) for i in range(0, 8000, 160)])
    steady = wide[WIDE // 10 :]  # past the filter's delay
    assert abs(_level_at(steady, 700, WIDE) - 8000) < 400
    back = np.concatenate([codec.narrow(wide[i : i + 960]) for i in range(0, WIDE, 960)])
    assert abs(_level_at(back[800:], 700, NARROW) - 8000) < 400


def test_frames_join_as_one_signal_as_if_converted_whole() -> None:
    narrow = _sine(1000, 0.5, NARROW)
    framed, whole = Transcoder(), Transcoder()
    by_frame = np.concatenate([framed.widen(narrow[i : i + 160]) for i in range(0, 4000, 160)])
    assert np.array_equal(by_frame, whole.widen(narrow))  # no seam at frame boundaries


def test_a_browser_s_audio_above_the_telephone_band_does_not_fold_into_it() -> None:
    codec = Transcoder()
    # 7 kHz would alias to 1 kHz at 8 kHz without the low-pass
    wide = _sine(7000, 1.0, WIDE)
    narrow = np.concatenate([codec.narrow(wide[i : i + 960]) for i in range(0, WIDE, 960)])
    assert _level_at(narrow[800:], 1000, NARROW) < 80  # under 1 % of the tone's level
