"""The media pipeline's audio: sources, the outgoing track, the incoming reader.

Every leg sends one format only: signed 16-bit mono at 48 kHz in 20 ms frames with continuous
timestamps (issue 6 pitfall: an encoder fed frames of changing format or with gaps in `pts`
glitches). What the leg plays is a `Source` that can be swapped at any frame boundary: silence,
a clip (a prompt, then maybe music), or the other party's voice through a `Feed`.
Samples are numpy arrays throughout: aiortc's per-sample Python loops cost far more CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

log = logging.getLogger("helpline.webrtc")

RATE = 48000
FRAME = 960  # 20 ms at 48 kHz: the Opus frame aiortc sends
TIME_BASE = fractions.Fraction(1, RATE)
MAX_FEED = RATE // 5  # at most 200 ms queued between legs: latency stays bounded

Samples = np.ndarray  # int16, one dimension


class Source(Protocol):
    def pull(self, n: int) -> Samples: ...


class Silence:
    def pull(self, n: int) -> Samples:
        return np.zeros(n, dtype=np.int16)


SILENCE = Silence()


class Clip:
    """Plays `samples` once (then `then`, or silence), or forever with `loop`."""

    def __init__(
        self,
        samples: Samples,
        *,
        loop: bool = False,
        then: Source | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self.samples = samples
        self.loop = loop
        self.then = then
        self.on_end = on_end
        self.position = 0
        self.ended = False

    def pull(self, n: int) -> Samples:
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n and len(self.samples):
            left = len(self.samples) - self.position
            if left <= 0:
                if not self.loop:
                    break
                self.position = 0
                continue
            take = min(left, n - filled)
            out[filled : filled + take] = self.samples[self.position : self.position + take]
            self.position += take
            filled += take
        if filled < n and not self.loop:
            if not self.ended:
                self.ended = True
                if self.on_end is not None:
                    self.on_end()
            if self.then is not None:
                out[filled:] = self.then.pull(n - filled)
        return out


class Feed:
    """What one leg hears of another: a bounded FIFO of the other's samples (the bridge)."""

    def __init__(self) -> None:
        self.chunks: deque[Samples] = deque()
        self.size = 0

    def push(self, samples: Samples) -> None:
        self.chunks.append(samples)
        self.size += len(samples)
        while self.size > MAX_FEED and self.chunks:  # fell behind: drop the oldest
            self.size -= len(self.chunks.popleft())

    def pull(self, n: int) -> Samples:
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n and self.chunks:
            chunk = self.chunks[0]
            take = min(len(chunk), n - filled)
            out[filled : filled + take] = chunk[:take]
            filled += take
            if take == len(chunk):
                self.chunks.popleft()
            else:
                self.chunks[0] = chunk[take:]
            self.size -= take
        return out


class OutgoingTrack(MediaStreamTrack):
    """A leg's outgoing audio, paced by the clock like aiortc's own `AudioStreamTrack`."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.source: Source = SILENCE
        self.tap: Callable[[Samples], None] | None = None  # what the leg sends (recording)
        self._start: float | None = None
        self._pts = 0
        self._overlay: deque[Samples] = deque()  # added on top of the source (keypad tones)

    def mix(self, samples: Samples) -> None:
        """Play `samples` over whatever the source is, from the next frame on (a tone the
        other party sends: it must be heard whatever this leg's source is at the moment)."""
        self._overlay.append(samples.astype(np.int16, copy=False))

    def _mixed(self, samples: Samples) -> Samples:
        extra = np.zeros(len(samples), dtype=np.int32)
        filled = 0
        while filled < len(samples) and self._overlay:
            chunk = self._overlay[0]
            take = min(len(chunk), len(samples) - filled)
            extra[filled : filled + take] = chunk[:take]
            filled += take
            if take == len(chunk):
                self._overlay.popleft()
            else:
                self._overlay[0] = chunk[take:]
        mixed: Samples = np.clip(samples.astype(np.int32) + extra, -32768, 32767).astype(np.int16)
        return mixed

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()  # pacing needs a clock that never jumps
        else:
            self._pts += FRAME
            wait = self._start + self._pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        samples = self.source.pull(FRAME)
        if self._overlay:
            samples = self._mixed(samples)
        if self.tap is not None:
            self.tap(samples)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        return frame


async def read_track(track: MediaStreamTrack, sink: Callable[[Samples], None]) -> None:
    """Read the remote audio until it ends; hand each frame to `sink` as 48 kHz mono int16.

    This is the track's only consumer: the bridge, the recorder and the DTMF detector all
    hang off `sink`, so no two consumers ever `recv()` the same track (issue 6 pitfall).
    """
    resampler: av.AudioResampler | None = None
    with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
        while True:
            frame = await track.recv()
            if not isinstance(frame, av.AudioFrame):
                continue
            fast = mono_48k(frame)
            if fast is not None:
                sink(fast)
                continue
            resampler = resampler or av.AudioResampler(format="s16", layout="mono", rate=RATE)
            for out in resampler.resample(frame):
                sink(out.to_ndarray().reshape(-1).astype(np.int16, copy=False))


def mono_48k(frame: av.AudioFrame) -> Samples | None:
    """What aiortc's Opus decoder gives (s16, 48 kHz, packed stereo) as mono, with numpy: a
    PyAV resampler call per frame costs several times more. None for any other format."""
    if frame.format.name != "s16" or frame.sample_rate != RATE:
        return None
    packed = frame.to_ndarray().reshape(-1)
    if frame.layout.name == "mono":
        return packed
    if frame.layout.name != "stereo":
        return None
    pairs = packed.reshape(-1, 2).astype(np.int32)
    mono: Samples = ((pairs[:, 0] + pairs[:, 1]) >> 1).astype(np.int16)
    return mono


def to_rate(samples: Samples, rate: int) -> Samples:
    """Resample a whole clip to 48 kHz (linear interpolation: prompts and music, not hi-fi)."""
    if rate == RATE or not len(samples):
        return samples.astype(np.int16, copy=False)
    count = int(len(samples) * RATE / rate)
    positions = np.arange(count) * (rate / RATE)
    resampled = np.interp(positions, np.arange(len(samples)), samples.astype(np.float64))
    out: Samples = resampled.astype(np.int16)
    return out
