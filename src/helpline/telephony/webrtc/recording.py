"""Call recording: a stereo WAV, the caller on the left and the agent on the right.

Seed 004 "Recording permissions" decides *whether* (the engine's `Bridge.record`); this
decides *how*. Each side arrives at 48 kHz from its leg's reader, is resampled to 16 kHz
(speech needs no more; `helpline.media.tones.Resampler`, a proper low-pass) and placed at its
time in `helpline.media.wav.StereoWavRecorder`, which keeps the channels aligned and fills
what a side did not send (muted, lost packets) with silence.

A side's time is where its first frame arrived (on the clock) plus the samples it has sent
since: continuous, so arrival jitter never makes a side's frames overlap or leave gaps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from helpline.media.tones import Resampler
from helpline.media.wav import Side, StereoWavRecorder
from helpline.telephony.webrtc.audio import RATE, Samples

FILE_RATE = 16000


class _Channel:
    def __init__(self, side: Side, recorder: StereoWavRecorder, started: float) -> None:
        self.side = side
        self.recorder = recorder
        self.started = started
        self.resampler = Resampler(RATE, FILE_RATE)
        self.first: float | None = None
        self.samples = 0  # at FILE_RATE, since `first`

    def add(self, now: float, samples: Samples) -> None:
        out = self.resampler.process(samples)
        if self.first is None:
            self.first = max(0.0, now - self.started)
        self.recorder.add(self.side, self.first + self.samples / FILE_RATE, out)
        self.samples += len(out)


class CallRecording:
    """One call's recording file; `caller` and `agent` take each side's 48 kHz samples."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self._recorder = StereoWavRecorder(path, FILE_RATE)
        started = clock()
        self._caller = _Channel("caller", self._recorder, started)
        self._agent = _Channel("agent", self._recorder, started)

    @property
    def closed(self) -> bool:
        return self._recorder.closed

    def caller(self, samples: Samples) -> None:
        if not self.closed:
            self._caller.add(self.clock(), samples)

    def agent(self, samples: Samples) -> None:
        if not self.closed:
            self._agent.add(self.clock(), samples)

    def close(self) -> float:
        """Finish the file; its length in seconds."""
        return self._recorder.close()
