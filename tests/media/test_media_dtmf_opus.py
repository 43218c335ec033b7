"""DTMF through Opus as a browser leg carries it: 8 kHz tones resampled to 48 kHz, encoded
and decoded by aiortc's Opus codec (libopus through PyAV), resampled back to 8 kHz."""

from __future__ import annotations

import fractions
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from aiortc.codecs import get_decoder, get_encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioFrame

from helpline.media.dtmf import DtmfDetector
from helpline.media.tones import Resampler, clip16, dtmf_tone, silence

ALL = "0123456789*#ABCD"
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def through_opus(signal8k: np.ndarray, *, lose_every: int = 0) -> np.ndarray:
    """20 ms frames: up to 48 kHz, Opus encode, decode (stereo), left channel, down to 8 kHz.
    `lose_every` drops every n-th Opus packet (the decoder then just misses that frame)."""
    encoder, decoder = get_encoder(OPUS), get_decoder(OPUS)
    up, down = Resampler(8000, 48000), Resampler(48000, 8000)
    out: list[np.ndarray] = []
    pts = 0
    count = 0
    for i in range(0, len(signal8k) - 159, 160):
        pcm48 = up.process(signal8k[i : i + 160])
        frame = AudioFrame.from_ndarray(pcm48.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, pts
        frame.time_base = fractions.Fraction(1, 48000)
        pts += len(pcm48)
        payloads, timestamp = encoder.encode(frame)
        for payload in payloads:
            count += 1
            if lose_every and count % lose_every == 0:
                out.append(down.process(np.zeros(960, dtype=np.int16)))
                continue
            for decoded in decoder.decode(JitterFrame(data=payload, timestamp=timestamp)):
                stereo = decoded.to_ndarray().reshape(-1, 2)  # packed s16, interleaved
                out.append(down.process(stereo[:, 0]))
    return np.concatenate(out)


def detect(signal: np.ndarray) -> str:
    detector = DtmfDetector()
    found = detector.feed(signal)
    return "".join(found + [e.digit for e in detector.flush()])


def keyed(keys: str, level_dbm0: float) -> np.ndarray:
    parts = [silence(0.1)]
    for key in keys:
        parts += [dtmf_tone(key, 0.08, level_dbm0=level_dbm0), silence(0.08)]
    return np.concatenate([*parts, silence(0.2)])


@pytest.mark.parametrize("level_dbm0", [-6.0, -20.0, -30.0])
def test_all_digits_through_opus(level_dbm0: float) -> None:
    signal = keyed(ALL, level_dbm0)
    decoded = through_opus(signal)
    assert len(decoded) == len(signal) - len(signal) % 160
    assert detect(decoded) == ALL


def test_digits_through_opus_with_noise() -> None:
    signal = keyed(ALL, -20.0)
    power = np.mean(signal[signal != 0].astype(np.float64) ** 2)
    noise = np.random.default_rng(8).normal(0, np.sqrt(power / 10), len(signal))  # 10 dB SNR
    assert detect(through_opus(clip16(signal + noise))) == ALL


def test_long_digits_survive_a_lost_packet() -> None:
    # One 20 ms Opus frame in 25 lost: a 200 ms key still gives its digit exactly once.
    parts = [silence(0.1)]
    for key in "2580":
        parts += [dtmf_tone(key, 0.2, level_dbm0=-15), silence(0.1)]
    signal = np.concatenate(parts)
    assert detect(through_opus(signal, lose_every=25)) == "2580"


def test_speech_through_opus_gives_no_false_digits(tmp_path: Path) -> None:
    text = (
        "Press one for sales, two for support. Your reference is 5 8 3 1 0 9, "
        "and your balance is forty four dollars and ninety nine cents. Thank you, goodbye."
    )
    raw, narrow = tmp_path / "speech.wav", tmp_path / "speech-8k.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", str(narrow)], check=True)
    with wave.open(str(narrow)) as w:
        speech = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert len(speech) > 8 * 8000
    decoded = through_opus(speech)
    assert np.abs(decoded).max() > 3000  # the speech did come through
    assert detect(decoded) == ""
    # And a digit after it still does.
    assert detect(through_opus(np.concatenate([speech, keyed("7", -15.0)]))) == "7"
