"""The audio of an `RtpEndpoint`, apart from its packets: what it sends and what it records.

`OutboundAudio` is what each tick of the packet clock sends when no RFC 4733 digit is being
sent: the next frame of the current playback (a prompt, or looping music), else live audio fed
by a bridge (`feed`), else silence. `next_payload` gives that frame already encoded: a
playback is encoded a second at a time and silence once per codec, so a caller waiting with
music costs a slice of bytes per packet, not a numpy call (most of a queue's calls are that).
`LegRecording` places both directions of the leg in a stereo WAV: what we send by frame count
(the packet clock does not drift), what we receive by RTP timestamp from the first packet's
arrival, so jitter does not smear it (RFC 3550 5.1).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from helpline.media.g711 import Pcm
from helpline.media.rtp import TS_MOD
from helpline.media.wav import Side, StereoWavRecorder

RATE = 8000
MAX_FEED = RATE // 5  # live audio queued at most 200 ms ahead: latency stays bounded
ENCODED_BLOCK = RATE  # a playback is encoded this many samples (1 s) at a time
Encoder = Callable[[Pcm], bytes]  # a G.711 encoder: int16 samples -> one octet each
_T = TypeVar("_T")


@dataclass(slots=True)
class _Playback:
    samples: Pcm
    loop: bool
    done: asyncio.Future[None]
    position: int = 0
    # samples [block_start, block_start + len(block)) encoded by `block_encoder`
    block: bytes = b""
    block_start: int = 0
    block_encoder: Encoder | None = None

    def frame(self, size: int) -> Pcm | None:
        """The next `size` samples (the last frame padded with silence); None when over."""
        if self.position >= len(self.samples):
            if not self.loop or len(self.samples) == 0:
                return None
            self.position = 0
        chunk = self.samples[self.position : self.position + size]
        self.position += size
        if self.loop and len(chunk) < size:  # wrap around without a gap in the music
            self.position = size - len(chunk)
            return np.concatenate([chunk, self.samples[: self.position]])[:size]
        return chunk if len(chunk) == size else np.pad(chunk, (0, size - len(chunk)))

    def payload(self, size: int, encode: Encoder) -> bytes | None:
        """`frame`, encoded: the same samples, cut from a block encoded ahead (the last frame,
        padded or across the loop's seam, is encoded on its own)."""
        length = len(self.samples)
        if self.position >= length:
            if not self.loop or length == 0:
                return None
            self.position = 0
        if self.position + size > length:
            frame = self.frame(size)
            return None if frame is None else encode(frame)
        start = self.position - self.block_start
        if encode is not self.block_encoder or start < 0 or start + size > len(self.block):
            self.block_start, self.block_encoder, start = self.position, encode, 0
            self.block = encode(self.samples[self.position : self.position + ENCODED_BLOCK])
        self.position += size
        return self.block[start : start + size]


class OutboundAudio:
    """Playbacks in turn, then live audio, then silence: one frame at a time."""

    def __init__(self, frame_size: int) -> None:
        self.frame_size = frame_size
        self._playbacks: deque[_Playback] = deque()
        self._live = np.zeros(0, dtype=np.int16)
        self._silence: tuple[Encoder, bytes] | None = None  # (encoder, a frame of silence)

    def play(self, pcm: Pcm, *, loop: bool) -> asyncio.Future[None]:
        """Queue int16 audio after what is playing; the future resolves when it has been
        taken (a looping one only when stopped)."""
        done = asyncio.get_running_loop().create_future()
        self._playbacks.append(_Playback(pcm.reshape(-1), loop, done))
        return done

    def stop(self) -> None:
        """Stop what is playing and drop what is queued (their futures resolve)."""
        while self._playbacks:
            done = self._playbacks.popleft().done
            if not done.done():
                done.set_result(None)

    def feed(self, samples: Pcm) -> None:
        """Live audio to send when no playback runs (at most `MAX_FEED` samples queued)."""
        self._live = np.concatenate([self._live, samples])[-MAX_FEED:]

    @property
    def live_queued(self) -> int:
        return len(self._live)

    def drop_live(self) -> None:
        self._live = np.zeros(0, dtype=np.int16)

    def next_frame(self) -> Pcm:
        frame = self._from_playbacks(_Playback.frame)
        if frame is not None:
            return frame
        if len(self._live):
            frame, self._live = self._live[: self.frame_size], self._live[self.frame_size :]
            return np.pad(frame, (0, self.frame_size - len(frame)))
        return np.zeros(self.frame_size, dtype=np.int16)

    def next_payload(self, encode: Encoder) -> bytes:
        """`encode(next_frame())`, with less work: see the module's docstring."""
        payload = self._from_playbacks(_Playback.payload, encode)
        if payload is not None:
            return payload
        if len(self._live):
            return encode(self.next_frame())
        silence = self._silence
        if silence is None or silence[0] is not encode:
            silence = self._silence = (encode, encode(np.zeros(self.frame_size, np.int16)))
        return silence[1]

    def _from_playbacks(self, take: Callable[..., _T | None], *args: object) -> _T | None:
        """`take(playback, frame_size, *args)` of the first playback not over; the ones over
        are dropped and their futures resolved. None when no playback is left."""
        playbacks = self._playbacks
        while playbacks:
            playback = playbacks[0]
            got = take(playback, self.frame_size, *args)
            if got is not None:
                return got
            playbacks.popleft()
            if not playback.done.done():
                playback.done.set_result(None)
        return None


class LegRecording:
    """Both directions of one leg into a stereo WAV: the peer on `remote_side`, us on the
    other. Made when recording starts (on the running loop: its clock anchors the peer's)."""

    def __init__(self, recorder: StereoWavRecorder, remote_side: Side, frame_size: int) -> None:
        self.recorder = recorder
        self.remote_side = remote_side
        self.frame_size = frame_size
        self._sent_frames = 0  # frames of our side placed in the recording
        self._inbound_anchor: tuple[float, int] | None = None  # (seconds, RTP timestamp)
        self._started = asyncio.get_running_loop().time()

    def outbound(self, audio: Pcm) -> None:
        side: Side = "agent" if self.remote_side == "caller" else "caller"
        self.recorder.add(side, self._sent_frames * self.frame_size / RATE, audio)
        self._sent_frames += 1

    def inbound(self, timestamp: int, pcm: Pcm) -> None:
        """Placed by RTP timestamp from the first packet's arrival: jitter does not smear it."""
        if self._inbound_anchor is None:
            now = asyncio.get_running_loop().time() - self._started
            self._inbound_anchor = (max(0.0, now), timestamp)
        start, first = self._inbound_anchor
        offset = (timestamp - first + TS_MOD // 2) % TS_MOD - TS_MOD // 2
        at = start + offset / RATE
        if at >= 0:
            self.recorder.add(self.remote_side, at, pcm)
