"""Prompts at 8 kHz: espeak-ng rendered once and cached, WAV files at any rate, hold music."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from helpline.media.tones import tone
from helpline.telephony.rtp import PromptCache, PromptError, read_wav_8k


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.astype("<i2").tobytes())


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 8000)[spectrum.argmax()])


async def test_spoken_prompt_is_rendered_once_and_cached_on_disk(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    first = await cache.speak("Thank you for calling. Please hold.")
    assert first.dtype == np.int16
    assert 1.0 < len(first) / 8000 < 6.0  # a sentence, at 8 kHz (not 22,050 Hz)
    assert np.sqrt(np.mean(first.astype(np.float64) ** 2)) > 300  # speech, not silence
    again = await cache.speak("Thank you for calling. Please hold.")
    assert again is first and cache.renders == 1
    assert [p.suffix for p in tmp_path.iterdir()] == [".wav"]  # no temporaries left behind
    restarted = PromptCache(tmp_path)  # a new process finds the file
    from_disk = await restarted.speak("Thank you for calling. Please hold.")
    assert restarted.renders == 0 and np.array_equal(from_disk, first)
    other_voice = await cache.speak("Thank you for calling. Please hold.", "fr")
    assert cache.renders == 2 and not np.array_equal(other_voice, first)


async def test_spoken_prompt_is_band_limited_to_the_telephone_band(tmp_path: Path) -> None:
    speech = (await PromptCache(tmp_path).speak("Sixty six sisters sing softly")).astype(float)
    spectrum = np.abs(np.fft.rfft(speech)) ** 2
    freqs = np.fft.rfftfreq(len(speech), 1 / 8000)
    # sox's resampler removes what is above 4 kHz instead of folding it back below.
    assert spectrum[freqs > 3800].sum() < 0.01 * spectrum.sum()


async def test_empty_text_and_failing_renderer(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="nothing to say"):
        await PromptCache(tmp_path).speak("  ")
    with pytest.raises(PromptError, match="failed"):
        await PromptCache(tmp_path, espeak="false").speak("hello")


@pytest.mark.parametrize("rate", [8000, 16000, 48000, 22050, 44100])
async def test_wav_files_at_any_rate_come_out_at_8k(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"music-{rate}.wav"
    write_wav(path, tone([440.0], 1.0, rate, 8000), rate)
    samples = await PromptCache(tmp_path / "cache").load(path)
    assert abs(len(samples) - 8000) <= 2
    assert abs(dominant_hz(samples) - 440) < 5


def test_stereo_wav_takes_the_left_channel(tmp_path: Path) -> None:
    left, right = tone([500.0], 0.5, 8000), tone([1500.0], 0.5, 8000)
    path = tmp_path / "stereo.wav"
    write_wav(path, np.stack([left, right], axis=1).reshape(-1), 8000, channels=2)
    assert np.array_equal(read_wav_8k(path), left)


async def test_bad_files_are_prompt_errors(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    with pytest.raises(PromptError, match="no such file"):
        await cache.load(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF nonsense")
    with pytest.raises(PromptError):
        await cache.load(junk)


def test_hold_music_is_8k_and_audible(tmp_path: Path) -> None:
    music = PromptCache(tmp_path).hold_music()
    assert music.dtype == np.int16 and len(music) > 8000
    assert np.abs(music).max() > 1000
