"""Tones, levels, mixing, clipping and 8k <-> 48k resampling."""

from __future__ import annotations

import numpy as np
import pytest

from helpline.media.tones import (
    Resampler,
    clip16,
    comfort_noise,
    dbm0_amplitude,
    dtmf_tone,
    mix,
    resample,
    silence,
    tone,
)


def level_at(signal: np.ndarray, freq: float, rate: int) -> float:
    """Peak amplitude of the component at `freq` (a DFT term over whole periods)."""
    n = np.arange(len(signal))
    term = np.abs(np.sum(signal * np.exp(-2j * np.pi * freq * n / rate)))
    return float(2 * term / len(signal))


def test_tone_and_dtmf_levels() -> None:
    x = tone([1000.0], 1.0, 8000, 1000.0)
    assert x.dtype == np.int16 and len(x) == 8000
    assert level_at(x, 1000, 8000) == pytest.approx(1000, rel=1e-3)
    d = dtmf_tone("6", 1.0, level_dbm0=-10, twist_db=-3)
    low, high = level_at(d, 770, 8000), level_at(d, 1477, 8000)
    assert low == pytest.approx(dbm0_amplitude(-10), rel=1e-3)
    assert 20 * np.log10(high / low) == pytest.approx(-3, abs=0.01)
    assert dbm0_amplitude(3.17) == pytest.approx(32767, rel=1e-6)


def test_tones_continue_across_frames() -> None:
    whole = tone([440.0], 0.04, 8000, 5000)
    parts = np.concatenate([tone([440.0], 0.02, 8000, 5000, phase_s=i * 0.02) for i in range(2)])
    assert np.max(np.abs(whole.astype(int) - parts)) <= 1


def test_mix_saturates_and_pads() -> None:
    a = np.array([30000, -30000, 5], dtype=np.int16)
    b = np.array([10000, -10000], dtype=np.int16)
    assert mix(a, b).tolist() == [32767, -32768, 5]
    assert clip16([1e9, -1e9, 1.6]).tolist() == [32767, -32768, 2]
    assert mix().tolist() == []


def test_silence_and_comfort_noise() -> None:
    assert not silence(0.02).any() and len(silence(0.02, 48000)) == 960
    noise = comfort_noise(1.0, 8000, np.random.default_rng(1), level_dbm0=-50)
    rms_db = 20 * np.log10(np.sqrt(np.mean(noise.astype(float) ** 2)) * np.sqrt(2))
    assert rms_db == pytest.approx(20 * np.log10(dbm0_amplitude(-50)), abs=0.5)
    again = comfort_noise(1.0, 8000, np.random.default_rng(1), level_dbm0=-50)
    assert np.array_equal(noise, again)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_resampling_keeps_the_voice_band(freq: float) -> None:
    x8 = tone([freq], 0.5, 8000, 10000)
    x48 = resample(x8, 8000, 48000)
    assert len(x48) == 6 * len(x8)
    assert level_at(x48[4800:-4800], freq, 48000) == pytest.approx(10000, rel=0.02)
    back = resample(x48, 48000, 8000)
    assert len(back) == len(x8)
    # Delay removed: the round trip lines up with the input sample by sample.
    err = back[400:-400].astype(float) - x8[400:-400]
    assert np.sqrt(np.mean(err**2)) < 0.02 * 10000 / np.sqrt(2)


def test_downsampling_rejects_what_would_alias() -> None:
    # 5 kHz and 7.5 kHz at 48k would fold to 3 kHz and 0.5 kHz at 8k without the filter.
    x48 = tone([5000.0, 7500.0], 0.5, 48000, 10000)
    y = resample(x48, 48000, 8000)
    assert level_at(y[400:-400], 3000, 8000) < 10000 * 10 ** (-50 / 20)
    assert level_at(y[400:-400], 500, 8000) < 10000 * 10 ** (-50 / 20)


@pytest.mark.parametrize(("src", "dst", "frame"), [(8000, 48000, 160), (48000, 8000, 960)])
def test_streaming_equals_one_shot(src: int, dst: int, frame: int) -> None:
    x = tone([700.0, 1300.0], 0.3, src, 6000)
    stream = Resampler(src, dst)
    pieces = [stream.process(x[i : i + frame]) for i in range(0, len(x), frame)]
    odd = Resampler(src, dst)
    odd_pieces = [odd.process(x[i : i + 37]) for i in range(0, len(x), 37)]
    streamed = np.concatenate(pieces)
    assert len(streamed) == len(x) * dst // src
    assert np.array_equal(streamed, np.concatenate(odd_pieces)[: len(streamed)])
    shift = Resampler.delay * (dst // src if dst > src else 1)
    one_shot = resample(x, src, dst)
    assert np.max(np.abs(streamed[shift:].astype(int) - one_shot[: len(streamed) - shift])) <= 1


def test_resampler_refuses_other_ratios() -> None:
    with pytest.raises(ValueError, match="rates"):
        Resampler(22050, 8000)
