"""One browser's media connection: an aiortc peer connection with one audio track each way.

Signalling is non-trickle: the browser sends its offer once its ICE gathering is complete,
and aiortc's `setLocalDescription` gathers before it returns, so one offer and one answer
carry every candidate. aioice leaves 127.0.0.1 out of the host candidates; `allow_loopback`
puts it back, so a browser on the same machine (Chrome with
`--allow-loopback-in-peer-connection`, or a machine with no other interface) can connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import aioice.ice
import aiortc.rtp
import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from helpline.telephony.webrtc.audio import OutgoingTrack, Samples, Source, read_track

log = logging.getLogger("helpline.webrtc")

_original_host_addresses = aioice.ice.get_host_addresses


def _with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = list(_original_host_addresses(use_ipv4, use_ipv6))
    if use_ipv4 and "127.0.0.1" not in addresses:
        addresses.append("127.0.0.1")
    return addresses


def allow_loopback() -> None:
    """Offer 127.0.0.1 as a host candidate too (aioice skips it; a boundary we do not own)."""
    aioice.ice.get_host_addresses = _with_loopback


# aiortc's own, kept before `fast_audio_level` replaces it (this module is the only patcher)
AIORTC_AUDIO_LEVEL = aiortc.rtp.compute_audio_level_dbov


def _audio_level_dbov(frame: av.AudioFrame) -> int:
    """RFC 6465 Appendix A's level, as aiortc computes it, with numpy instead of a Python loop
    over every sample (issue 6: that loop alone cost a large share of a leg's CPU)."""
    samples = np.frombuffer(bytes(frame.planes[0]), dtype=np.int16).astype(np.float64)
    energy = float(np.dot(samples, samples))
    rms = math.sqrt(energy / (frame.samples * 32767.0 * 32767.0)) if frame.samples else 0.0
    if rms <= 0:
        return -127
    return round(min(0.0, max(-127.0, 20 * math.log10(rms))))


def fast_audio_level() -> None:
    """Swap aiortc's per-sample audio-level loop for the numpy one (same values)."""
    aiortc.rtp.compute_audio_level_dbov = _audio_level_dbov


Handler = TypeVar("Handler", bound=Callable[..., Any])


class LegOut(Protocol):
    """What a leg plays: a source swapped at any frame boundary, and tones mixed over it."""

    source: Source

    def mix(self, samples: Samples) -> None: ...


class LegPeer(Protocol):
    """The leg's connection as far as its users look at it (its state and that it changes)."""

    @property
    def connectionState(self) -> str: ...  # aiortc's name

    def on(self, event: str, f: Handler) -> Handler: ...


class MediaLeg(Protocol):
    """A browser's leg wherever its media run: this process (`Leg`) or a media worker
    (`worker_legs.RemoteLeg`)."""

    name: str
    closed: bool
    on_failed: Callable[[], Awaitable[None]] | None

    @property
    def out(self) -> LegOut: ...

    @property
    def listeners(self) -> list[Callable[[Samples], None]]: ...

    @property
    def pc(self) -> LegPeer: ...

    async def answer(self, offer_sdp: str) -> str: ...

    async def close(self) -> None: ...


class Leg:
    """A browser's audio leg: `out` is what it hears; `listeners` get what it says."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pc = RTCPeerConnection()
        self.out = OutgoingTrack()
        self.listeners: list[Callable[[Samples], None]] = []
        # called once when the connection fails or closes and we did not close it (review R1)
        self.on_failed: Callable[[], Awaitable[None]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.create_task(read_track(track, self._hear))

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        log.debug("leg %s: %s", self.name, state)
        if state in ("failed", "closed") and not self.closed and self.on_failed is not None:
            on_failed, self.on_failed = self.on_failed, None  # once
            await on_failed()

    def _hear(self, samples: Samples) -> None:
        for listener in list(self.listeners):
            try:
                listener(samples)
            except Exception:  # one broken consumer must not silence the others
                log.exception("leg %s: an audio consumer failed", self.name)

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        self.pc.addTrack(self.out)  # takes the offer's audio transceiver: sendrecv
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.out.stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.pc.close()
