"""Voicemail for the tests of both callers (tests/sipnet: a trunk caller over RTP; tests/web: a
browser caller over WebRTC): the contact centre with a mailbox line, the message fetched and
checked as a WAV, and what a message of a spoken tone must sound like.
`pyproject.toml` puts `tests/` on the import path."""

from __future__ import annotations

import io
import wave
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import numpy.typing as npt

VOICE_HZ = 600.0  # what the callers speak
BEEP_HZ = 1000.0  # the adapters' beep


def with_mailbox(center: dict[str, Any], line: str) -> dict[str, Any]:
    """`center` plus number `line`, whose IVR sends key 9 to the sales mailbox."""
    return {
        **center,
        "numbers": [
            *center["numbers"],
            {"number": line, "enable_ivr": True, "ivr_tree": "mailbox"},
        ],
        "ivr_trees": [
            *center["ivr_trees"],
            {
                "id": "mailbox",
                "root": "hello",
                "nodes": [
                    {
                        "id": "hello",
                        "prompt": "Hello.",
                        "timeout": "20s",
                        "keys": {"9": {"voicemail": "sales", "prompt": "Leave a message."}},
                    }
                ],
            },
        ],
    }


def share_at(samples: npt.NDArray[Any], rate: int, hz: float, width_hz: float = 20.0) -> float:
    """The share of the signal's energy within `width_hz` of `hz` (numpy FFT)."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    total = float(spectrum.sum())
    return float(spectrum[np.abs(freqs - hz) <= width_hz].sum()) / total if total else 0.0


async def fetch_message(
    http: httpx.AsyncClient, record: dict[str, Any], call_id: str
) -> tuple[npt.NDArray[np.int16], int]:
    """The message `record` points at, fetched with `http` (which has the recording's rights):
    its samples and rate, once it is checked to be a mono 16-bit WAV at the call's URL."""
    path = urlsplit(record["voicemail_url"]).path
    assert path == f"/v1/call-records/{call_id}/voicemail"
    response = await http.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return samples, rate


def assert_the_spoken_tone(
    samples: npt.NDArray[np.int16], rate: int, spoken_s: float, max_s: float
) -> None:
    """The message is what the caller said after the beep: about `spoken_s` of its 600 Hz
    (plus the way there and back), never the whole allowed `max_s`, and no beep."""
    duration = len(samples) / rate
    assert spoken_s * 0.8 < duration < max_s * 0.9, duration
    loud = samples[np.abs(samples) > 1000]
    assert len(loud) / rate > spoken_s * 0.6  # most of what was spoken arrived
    assert share_at(samples, rate, VOICE_HZ) > 0.8  # and it is the caller's 600 Hz
    assert share_at(samples, rate, BEEP_HZ) < 0.01  # the beep is not part of the message
