"""The two small buffers a bridged pair needs between packet clocks that do not agree.

- `Playout` (SIP to browser): a jitter buffer keyed by RTP sequence number. Packets go in
  as they arrive (late, reordered, duplicated: UDP, RFC 3550 section 2.2 and appendix
  A.1); 20 ms frames come out in sequence order, widened to 48 kHz, when the browser leg's
  own track pulls them. It starts playing once `PREFILL_FRAMES` (40 ms) are queued and
  starts over the same way after running dry, so one late packet costs one re-fill, not a
  gap every other frame. A duplicate, or a packet whose turn has passed, is dropped before
  it is widened (the resampler's history must see each frame once, in order).
- `FrameFeeder` (browser to SIP): what a browser leg hears arrives in aiortc's frames,
  on aiortc's clock; the RTP endpoint sends one frame per tick of its own clock and pads a
  short one with silence. The feeder hands the endpoint whole frames only, and, when the
  endpoint has nothing queued (the start, an underrun), waits until 40 ms are gathered.
"""

from __future__ import annotations

import numpy as np

from helpline.media.g711 import Pcm
from helpline.telephony.bridge.pcm import Transcoder
from helpline.telephony.rtp.endpoint import RtpEndpoint
from helpline.telephony.webrtc.audio import Samples

PREFILL_FRAMES = 2  # 40 ms of 20 ms packets: covers one packet swapped with its neighbour
MAX_FRAMES = 10  # 200 ms at most queued (as the endpoint's and Feed's bound): latency
SEQ_MOD = 1 << 16


def _ahead(sequence: int, of: int) -> int:
    """How far `sequence` is after `of`, modulo the 16-bit wrap (negative: before)."""
    return (sequence - of + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2


class Playout:
    """A jitter buffer for one SIP leg's decoded frames; a `webrtc.audio.Source` at 48 kHz."""

    def __init__(self, codec: Transcoder) -> None:
        self._codec = codec
        self._frames: dict[int, Pcm] = {}  # by RTP sequence number
        self._next: int | None = None  # whose turn is next (None: nothing played yet)
        self._playing = False
        self._wide = np.zeros(0, dtype=np.int16)  # widened, not pulled yet
        self.late = self.duplicates = self.underruns = 0

    def put(self, sequence: int, narrow: Pcm) -> None:
        if self._next is not None:  # what was played (or given up as lost) is behind it
            ahead = _ahead(sequence, self._next)
            if not -MAX_FRAMES <= ahead <= 2 * MAX_FRAMES:  # another stream (a new SSRC:
                self._restart()  # a transfer, moved media) or a long outage: start over
            elif ahead < 0:
                self.late += 1  # its turn passed
                return
        if sequence in self._frames:
            self.duplicates += 1
            return
        self._frames[sequence] = narrow
        while len(self._frames) > MAX_FRAMES:  # the pulling side stalled: skip the oldest
            self._frames.pop(self._oldest())
            if self._playing:
                self._next = self._oldest()
        if not self._playing and len(self._frames) >= PREFILL_FRAMES:
            self._playing = True
            self._next = self._oldest()  # in order from the earliest that came

    def _oldest(self) -> int:
        anchor = next(iter(self._frames))
        return min(self._frames, key=lambda s: _ahead(s, anchor))

    def _next_frame(self) -> Pcm | None:
        """The next frame in sequence order; None while filling (or for a lost packet)."""
        if not self._playing or self._next is None:
            return None
        if not self._frames:
            self._playing = False  # ran dry: fill up again before playing on
            self.underruns += 1
            return None
        frame = self._frames.pop(self._next, None)
        self._next = (self._next + 1) % SEQ_MOD  # a missing one is lost: its slot is silence
        return frame

    def pull(self, n: int) -> Samples:
        while len(self._wide) < n:
            frame = self._next_frame()
            if frame is None:
                if not self._playing:  # nothing to play: silence, without a partial frame
                    missing = n - len(self._wide)
                    self._wide = np.concatenate([self._wide, np.zeros(missing, np.int16)])
                    break
                frame = np.zeros(len(next(iter(self._frames.values()))), dtype=np.int16)
            self._wide = np.concatenate([self._wide, self._codec.widen(frame)])
        out, self._wide = self._wide[:n], self._wide[n:]
        return out

    def _restart(self) -> None:
        self._frames.clear()
        self._next = None
        self._playing = False

    def clear(self) -> None:
        self._restart()
        self._wide = np.zeros(0, dtype=np.int16)


class FrameFeeder:
    """Narrowed audio to an RTP endpoint in whole packets, 40 ms ahead after an underrun."""

    def __init__(self, endpoint: RtpEndpoint) -> None:
        self.endpoint = endpoint
        self._pending = np.zeros(0, dtype=np.int16)
        self._filling = True

    def push(self, narrow: Pcm) -> None:
        endpoint = self.endpoint
        self._pending = np.concatenate([self._pending, narrow])
        if endpoint.live_queued == 0:
            self._filling = True
        if self._filling and len(self._pending) < PREFILL_FRAMES * endpoint.frame_size:
            return
        self._filling = False
        whole = len(self._pending) // endpoint.frame_size * endpoint.frame_size
        if whole:
            endpoint.feed(self._pending[:whole])
            self._pending = self._pending[whole:]

    def clear(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)
        self._filling = True
        self.endpoint.drop_live()
