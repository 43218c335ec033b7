"""Stereo call recording: caller on the left channel, agent on the right (issue 6, item 1).

Each side's frames arrive with their own timestamps (seconds since the recording started)
and at their own pace; a side may also fall silent (muted, on hold, packets lost). The
recorder places every frame at its time, fills gaps with silence, and hands out interleaved
stereo frames only up to where both sides are known, so the channels stay aligned. A side
that lags the other by more than `max_lag_s` is taken as silent up to that point rather
than holding the other side back without bound, and every side's frames may arrive up to
`reorder_s` out of order (RTP without a jitter buffer) before their stretch is written.

`StereoRecorder` is sans-I/O (numpy in, numpy out); `StereoWavRecorder` writes its output
to a WAV file with the stdlib `wave` as it goes, so a long call does not sit in memory.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import numpy.typing as npt

Side = Literal["caller", "agent"]
_CHANNEL: dict[str, int] = {"caller": 0, "agent": 1}


class _Track:
    """One channel's samples from `flushed` onwards; `known` is how far the side has reached."""

    def __init__(self) -> None:
        self.buffer = np.zeros(0, dtype=np.int16)  # samples from `flushed` on
        self.known = 0  # absolute sample index up to which this side has told us

    def place(self, start: int, samples: npt.NDArray[np.int16], flushed: int) -> None:
        if start < flushed:  # too late for the part already written: keep the rest
            samples = samples[flushed - start :]
            start = flushed
        if len(samples) == 0:
            return
        end = start + len(samples)
        needed = end - flushed
        if needed > len(self.buffer):
            self.buffer = np.concatenate(
                [self.buffer, np.zeros(needed - len(self.buffer), dtype=np.int16)]
            )
        self.buffer[start - flushed : end - flushed] = samples
        self.known = max(self.known, end)

    def take(self, count: int) -> npt.NDArray[np.int16]:
        out = np.zeros(count, dtype=np.int16)
        have = min(count, len(self.buffer))
        out[:have] = self.buffer[:have]
        self.buffer = self.buffer[have:]
        return out


class StereoRecorder:
    def __init__(self, rate: int, *, max_lag_s: float = 1.0, reorder_s: float = 0.1) -> None:
        if rate <= 0:
            raise ValueError(f"rate: must be positive, got {rate}")
        self.rate = rate
        self.max_lag = round(max_lag_s * rate)
        self.reorder = round(reorder_s * rate)
        self.flushed = 0  # samples per channel already handed out
        self._tracks = (_Track(), _Track())

    def add(self, side: Side, at_s: float, samples: npt.ArrayLike) -> None:
        """Place a mono int16 frame of `side` starting `at_s` seconds into the recording."""
        if side not in _CHANNEL:
            raise ValueError(f"side: must be 'caller' or 'agent', got {side!r}")
        array = np.asarray(samples)
        if array.dtype != np.int16:
            raise TypeError(f"samples: expected int16, got {array.dtype}")
        if at_s < 0:
            raise ValueError(f"at_s: must be >= 0, got {at_s}")
        self._tracks[_CHANNEL[side]].place(round(at_s * self.rate), array.reshape(-1), self.flushed)

    def pop_ready(self) -> npt.NDArray[np.int16]:
        """Stereo frames (shape (n, 2)) that both sides have passed by `reorder_s`, or that a
        side lagging by more than `max_lag_s` has missed (it is filled with silence)."""
        left, right = (t.known for t in self._tracks)
        ready = max(min(left, right), max(left, right) - self.max_lag) - self.reorder
        return self._take(max(0, ready - self.flushed))

    def finish(self) -> npt.NDArray[np.int16]:
        """Everything left, both channels padded to the same length."""
        end = max(t.known for t in self._tracks)
        return self._take(max(0, end - self.flushed))

    def _take(self, count: int) -> npt.NDArray[np.int16]:
        frames = np.stack([t.take(count) for t in self._tracks], axis=1)
        self.flushed += count
        return frames

    @property
    def duration_s(self) -> float:
        return max(self.flushed, *(t.known for t in self._tracks)) / self.rate


class StereoWavRecorder:
    """A `StereoRecorder` writing 16-bit stereo WAV as frames become ready."""

    def __init__(
        self,
        target: str | Path | BinaryIO,
        rate: int,
        *,
        max_lag_s: float = 1.0,
        reorder_s: float = 0.1,
    ) -> None:
        self.recorder = StereoRecorder(rate, max_lag_s=max_lag_s, reorder_s=reorder_s)
        # Kept open across add() calls and closed by close(): no `with` block can span that.
        self._wav = wave.open(str(target) if isinstance(target, Path) else target, "wb")  # noqa: SIM115
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self.closed = False

    def add(self, side: Side, at_s: float, samples: npt.ArrayLike) -> None:
        self.recorder.add(side, at_s, samples)
        self._write(self.recorder.pop_ready())

    def _write(self, frames: npt.NDArray[np.int16]) -> None:
        if len(frames):
            self._wav.writeframes(frames.astype("<i2").tobytes())

    def close(self) -> float:
        """Write what is left and close the file; returns the recording's length in seconds."""
        if not self.closed:
            self._write(self.recorder.finish())
            self._wav.close()
            self.closed = True
        return self.recorder.flushed / self.recorder.rate

    def __enter__(self) -> StereoWavRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
