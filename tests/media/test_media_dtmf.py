"""In-band DTMF detection: all 16 digits clean, through G.711 µ-law and A-law, in noise;
timing, durations, pauses, held keys, twist, level and frequency limits; and speech (from
espeak-ng, resampled to 8 kHz by sox) without a single false digit."""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from helpline.media import g711
from helpline.media.dtmf import DTMF_FREQUENCIES, DtmfDetector, DtmfEvent
from helpline.media.tones import clip16, dbm0_amplitude, dtmf_tone, silence, tone

RATE = 8000
ALL = "0123456789*#ABCD"


def detect(signal: np.ndarray, chunk: int = 160, **options: float) -> list[DtmfEvent]:
    detector = DtmfDetector(**options)  # type: ignore[arg-type]
    events: list[DtmfEvent] = []
    for i in range(0, len(signal), chunk):
        events += detector.feed_events(signal[i : i + chunk])
    return events + detector.flush()


def digits(signal: np.ndarray, chunk: int = 160) -> str:
    return "".join(e.digit for e in detect(signal, chunk))


def keyed(keys: str, on: float = 0.06, off: float = 0.06, **tone_options: float) -> np.ndarray:
    parts = [silence(0.05)]
    for key in keys:
        parts += [dtmf_tone(key, on, **tone_options), silence(off)]  # type: ignore[arg-type]
    return np.concatenate(parts)


def through(codec: str, signal: np.ndarray) -> np.ndarray:
    if codec == "ulaw":
        return g711.ulaw_decode(g711.ulaw_encode(signal))
    if codec == "alaw":
        return g711.alaw_decode(g711.alaw_encode(signal))
    return signal


def with_noise(signal: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White noise at `snr_db` below the tones' power (measured over the tones only)."""
    power = np.mean(signal[signal != 0].astype(np.float64) ** 2)
    noise = np.random.default_rng(seed).normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(signal))
    return clip16(signal + noise)


@pytest.mark.parametrize("codec", ["linear", "ulaw", "alaw"])
def test_all_sixteen_digits(codec: str) -> None:
    assert digits(through(codec, keyed(ALL))) == ALL


@pytest.mark.parametrize("codec", ["linear", "ulaw", "alaw"])
def test_all_digits_in_white_noise_at_10_db_snr(codec: str) -> None:
    signal = with_noise(keyed(ALL, level_dbm0=-20), snr_db=10, seed=len(codec))
    assert digits(through(codec, signal)) == ALL


def test_noise_alone_gives_no_digit() -> None:
    noise = clip16(np.random.default_rng(4).normal(0, 3000, 30 * RATE))
    assert digits(through("ulaw", noise)) == ""


@pytest.mark.parametrize("chunk", [1, 7, 102, 160, 1000, 100_000])
def test_chunking_does_not_change_results(chunk: int) -> None:
    signal = keyed("159#", on=0.07)
    assert detect(signal, chunk) == detect(signal, 160)


def test_digit_start_and_end_times() -> None:
    for offset in range(0, 800, 53):  # every alignment against the 102-sample blocks
        start = 0.3 + offset / RATE / 8
        signal = np.concatenate([silence(start), dtmf_tone("7", 0.2), silence(0.2)])
        (event,) = detect(signal)
        began, ended = event.seconds(RATE)
        assert abs(began - start) <= 0.010
        assert abs(ended - (start + 0.2)) <= 0.010


def test_minimum_tone_duration() -> None:
    rng = np.random.default_rng(5)
    for duration, wanted in ((0.040, 1), (0.045, 1), (0.025, 0), (0.020, 0)):
        for trial in range(24):
            lead = silence(int(rng.integers(0, 102)) / RATE)
            signal = np.concatenate([lead, dtmf_tone(ALL[trial % 16], duration), silence(0.1)])
            assert len(detect(signal)) == wanted, (duration, trial)


def test_pause_and_dropout() -> None:
    rng = np.random.default_rng(6)
    for gap, wanted in ((0.040, 2), (0.060, 2), (0.010, 1), (0.020, 1), (0.025, 1)):
        for _ in range(16):
            lead = silence(int(rng.integers(0, 102)) / RATE)
            first = dtmf_tone("9", 0.3)
            signal = np.concatenate([lead, first, silence(gap), dtmf_tone("9", 0.3), silence(0.1)])
            assert digits(signal) == "9" * wanted, gap


def test_held_key_is_one_digit_reported_at_release() -> None:
    detector = DtmfDetector()
    held = dtmf_tone("5", 3.0)
    assert detector.feed(held) == []  # still held: nothing yet
    assert detector.feed(silence(0.1)) == ["5"]
    assert detector.feed(silence(0.5)) == []


@pytest.mark.parametrize(
    ("twist_db", "detected"),
    [(-8.0, True), (-10.0, False), (-12.0, False), (4.0, True), (6.0, False)],
)
def test_twist_limits(twist_db: float, detected: bool) -> None:
    signal = keyed(ALL, on=0.1, off=0.1, twist_db=twist_db)
    assert digits(signal) == (ALL if detected else "")


@pytest.mark.parametrize(("level", "detected"), [(-3.0, True), (-30.0, True), (-40.0, False)])
def test_level_threshold(level: float, detected: bool) -> None:
    assert digits(keyed(ALL, level_dbm0=level)) == (ALL if detected else "")


@pytest.mark.parametrize(
    ("deviation", "detected"), [(0.015, True), (-0.015, True), (0.035, False), (-0.035, False)]
)
def test_frequency_tolerance(deviation: float, detected: bool) -> None:
    amplitude = dbm0_amplitude(-10)
    for key in ALL:
        low, high = DTMF_FREQUENCIES[key]
        shifted = tone([low * (1 + deviation), high * (1 + deviation)], 0.1, RATE, amplitude)
        signal = np.concatenate([silence(0.05), shifted, silence(0.1)])
        assert digits(signal) == (key if detected else ""), key


def test_chords_and_single_tones_are_not_digits() -> None:
    amplitude = dbm0_amplitude(-10)
    chord = tone([697.0, 770.0, 1209.0], 0.2, RATE, amplitude)  # two rows at once
    single = tone([941.0], 0.2, RATE, amplitude)
    harmonic = tone([697.0, 1209.0, 1394.0], 0.2, RATE, amplitude)  # row with its harmonic
    assert digits(np.concatenate([chord, silence(0.1), single, silence(0.1), harmonic])) == ""


SPEECH = [
    "Thank you for calling. Your account number is 4 7 1 9 2 3 6 8 0 5.",
    "Please press one for billing, two for support, or nine to hear these options again.",
    "Our office is open from 8 a.m. to 6 p.m., Monday to Friday, except on the 25th.",
    "My number is zero one seven, six six two, four four nine one. Star, pound, hash.",
    "The total comes to three hundred and twenty five dollars and sixty cents. Goodbye!",
]


def speak(text: str, folder: Path, voice: str, index: int) -> np.ndarray:
    raw, narrow = folder / f"s{index}.wav", folder / f"s{index}-8k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", str(narrow)], check=True)
    with wave.open(str(narrow)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    folder = tmp_path_factory.mktemp("speech")
    clips = [
        speak(text, folder, voice, i)
        for i, (text, voice) in enumerate((t, v) for t in SPEECH for v in ("en-us", "en-gb+f3"))
    ]
    return np.concatenate(clips)


Codec = Callable[[np.ndarray], np.ndarray]


@pytest.mark.parametrize("codec", ["linear", "ulaw", "alaw"])
@pytest.mark.parametrize("gain_db", [0.0, 10.0])
def test_speech_gives_no_false_digits(speech: np.ndarray, codec: str, gain_db: float) -> None:
    assert len(speech) > 45 * RATE  # most of a minute of speech
    loud = clip16(speech.astype(np.float64) * 10 ** (gain_db / 20))
    assert digits(through(codec, loud)) == ""


def test_digits_between_speech_are_found(speech: np.ndarray) -> None:
    # The same detector still hears real digits right after and before speech.
    signal = np.concatenate([speech[: 5 * RATE], keyed("42#"), speech[5 * RATE : 10 * RATE]])
    assert digits(signal) == "42#"
