"""A leg that lives in a media worker, seen from the server: the same surface as `Leg`.

The adapter and signalling use a leg through `answer`, `close`, `on_failed`, `closed`,
`out.source`, `out.mix` and `listeners`. Here each becomes messages to the leg's worker:

- `out.source = SILENCE | Clip(...)`: the clip is sent to the worker once (by identity,
  `MediaWorkers.clip`) and played there; its `on_end` comes back as `ClipEnded`.
- `out.source = LegVoice(other)`: the bridge. `other`'s worker forwards what it hears to this
  leg's inbox: inside one worker, or over the loopback UDP relay between two.
- `out.source = <any other Source>` (a SIP caller's voice feed): pulled in the server every
  20 ms and sent to the leg's inbox over the relay (`Pump`): media through the server, for
  the paths that have their audio in the server anyway.
- `listeners`: while any is attached, the worker forwards what the leg hears to the server's
  relay and they get it there (voicemail's writer, a SIP link's narrowing).

The worker's Goertzel detector reports keys (`on_digit`); a failed connection or a dead
worker calls `on_failed`, as a failed aiortc connection does in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from helpline.telephony.webrtc import worker_protocol as wp
from helpline.telephony.webrtc.audio import FRAME, RATE, Clip, Samples, Silence, Source
from helpline.telephony.webrtc.legs import Handler
from helpline.telephony.webrtc.worker_pool import MediaWorker, MediaWorkers, WorkerGone

log = logging.getLogger("helpline.webrtc.workers")

FRAME_S = FRAME / RATE


class LegVoice:
    """A source that means "what `leg` says", carried out by the workers, never pulled."""

    def __init__(self, leg: RemoteLeg) -> None:
        self.leg = leg

    def pull(self, n: int) -> Samples:
        return np.zeros(n, dtype=np.int16)


class Pump:
    """Sends a server-side source to a worker leg's inbox, 20 ms at a time, on the clock."""

    def __init__(self, source: Source, send: Callable[[Samples], None]) -> None:
        self.source = source
        self.send = send
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        start, sent = time.monotonic(), 0
        while True:
            self.send(self.source.pull(FRAME))
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * FRAME_S - time.monotonic()))

    def stop(self) -> None:
        self.task.cancel()


class RemoteOut:
    """`Leg.out` of a remote leg: what it plays, set by the adapter."""

    def __init__(self, leg: RemoteLeg) -> None:
        self.leg = leg
        self._source: Source = Silence()
        self._heard_from: RemoteLeg | None = None
        self._pump: Pump | None = None
        self._notify: int | None = None  # the clip-end callback of the clip playing now

    @property
    def source(self) -> Source:
        return self._source

    @source.setter
    def source(self, source: Source) -> None:
        self._source = source
        self.leg.apply_source()

    def mix(self, samples: Samples) -> None:
        worker = self.leg.worker
        if worker is not None and not self.leg.closed:
            pool = self.leg.pool
            pool.send(worker, wp.Mix(leg=self.leg.leg_id, clip=pool.clip(worker, samples)))

    def stop(self) -> None:
        self.undo()

    def undo(self) -> None:
        """Stop whatever feeds the leg now (a bridge's forward, a pump)."""
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        if self._notify is not None:
            self.leg.pool.unnotify(self._notify)
            self._notify = None
        other, self._heard_from = self._heard_from, None
        if other is not None:
            other.unforward(self.leg.leg_id)


class _Listeners(list[Callable[[Samples], None]]):
    """The leg's listeners: the first one asks the worker for the leg's audio, the last
    one gone stops it."""

    def __init__(self, leg: RemoteLeg) -> None:
        super().__init__()
        self.leg = leg

    def append(self, listener: Callable[[Samples], None]) -> None:
        super().append(listener)
        if len(self) == 1:
            self.leg.tap(True)

    def remove(self, listener: Callable[[Samples], None]) -> None:
        super().remove(listener)
        if not self:
            self.leg.tap(False)


class RemotePeer:
    """`Leg.pc` as far as the server looks at it: the state, and its change (voicemail)."""

    def __init__(self) -> None:
        self.connectionState = "new"
        self._handlers: list[Callable[[], Any]] = []

    def on(self, event: str, f: Handler) -> Handler:
        if event == "connectionstatechange":
            self._handlers.append(f)
        return f

    def set_state(self, state: str) -> None:
        self.connectionState = state
        for handler in list(self._handlers):
            try:
                handler()
            except Exception:
                log.exception("a connection state listener failed")


class RemoteLeg:
    def __init__(
        self, pool: MediaWorkers, name: str, *, on_digit: Callable[[str], None] | None = None
    ) -> None:
        self.pool = pool
        self.name = name
        self.leg_id = next(pool.ids)
        self.worker: MediaWorker | None = None
        self.on_digit = on_digit
        self.on_failed: Callable[[], Awaitable[None]] | None = None
        self.closed = False
        self.out = RemoteOut(self)
        self.listeners = _Listeners(self)
        self.pc = RemotePeer()
        self.forwarded: set[int] = set()  # the sinks this leg's worker sends its audio to

    async def answer(self, offer_sdp: str, worker: MediaWorker | None = None) -> str:
        await self.pool.ready()
        self.worker = worker or self.pool.pick()
        self.worker.legs.add(self.leg_id)
        self.pool.hosted[self.leg_id] = self
        seq = next(self.pool.ids)
        message = wp.CreateLeg(
            seq=seq,
            leg=self.leg_id,
            name=self.name,
            sdp=offer_sdp,
            detect_dtmf=self.on_digit is not None,
        )
        try:
            reply = await self.pool.request(self.worker, message, seq)
        except WorkerGone:
            self._forget()
            raise
        if reply.error:
            self._forget()
            raise ValueError(f"the offer was refused: {reply.error}")
        self.pc.set_state("connected")
        self.apply_source()
        return reply.sdp

    def _forget(self) -> None:
        self.closed = True
        if self.worker is not None:
            self.worker.legs.discard(self.leg_id)
        self.pool.hosted.pop(self.leg_id, None)
        self.pool.server_sinks.pop(self.leg_id, None)

    # -- what the leg plays ---------------------------------------------------------------------

    def apply_source(self) -> None:
        worker, out = self.worker, self.out
        if worker is None or self.closed:
            return
        out.undo()
        source, pool = out.source, self.pool
        if isinstance(source, Silence):
            pool.send(worker, wp.Play(leg=self.leg_id))
        elif isinstance(source, LegVoice):
            pool.send(worker, wp.Play(leg=self.leg_id, inbox=True))
            if source.leg.forward_to(self):
                out._heard_from = source.leg
        elif isinstance(source, Clip) and _playable(source):
            self._play_clip(worker, source)
        else:  # audio that lives in the server: pumped to the worker
            pool.send(worker, wp.Play(leg=self.leg_id, inbox=True))
            out._pump = Pump(source, lambda s: pool.send_pcm(worker, self.leg_id, s))

    def _play_clip(self, worker: MediaWorker, clip: Clip) -> None:
        pool = self.pool
        then = clip.then if isinstance(clip.then, Clip) else None
        notify = None
        if clip.on_end is not None and not clip.loop:
            notify = self.out._notify = pool.notify(clip.on_end)
        message = wp.Play(
            leg=self.leg_id,
            clip=pool.clip(worker, clip.samples),
            loop=clip.loop,
            then=None if then is None else pool.clip(worker, then.samples),
            notify=notify,
        )
        pool.send(worker, message)

    # -- what the leg hears ---------------------------------------------------------------------

    def forward_to(self, target: RemoteLeg) -> bool:
        """Send what this leg hears to `target`'s inbox (the bridge's one direction)."""
        worker, there = self.worker, target.worker
        if worker is None or there is None or self.closed or target.closed:
            return False
        host, port = ("", 0) if worker is there else there.relay
        forward = wp.Forward(leg=self.leg_id, sink=target.leg_id, host=host, port=port)
        self.pool.send(worker, forward)
        self.forwarded.add(target.leg_id)
        return True

    def forward_sink(self, sink: int, home: MediaWorker) -> None:
        """Send what this leg hears to a sink in `home` (a recording's side)."""
        worker = self.worker
        if worker is None or self.closed:
            return
        host, port = ("", 0) if worker is home else home.relay
        self.pool.send(worker, wp.Forward(leg=self.leg_id, sink=sink, host=host, port=port))
        self.forwarded.add(sink)

    def unforward(self, sink: int) -> None:
        if sink in self.forwarded and self.worker is not None:
            self.forwarded.discard(sink)
            self.pool.send(self.worker, wp.Unforward(leg=self.leg_id, sink=sink))

    def tap(self, on: bool) -> None:
        """Have the worker send what the leg hears to the server, for `listeners`."""
        worker = self.worker
        if on:
            self.pool.server_sinks[self.leg_id] = self._hear
            if worker is not None and not self.closed:
                host, port = self.pool.relay_address
                self.pool.send(
                    worker, wp.Forward(leg=self.leg_id, sink=self.leg_id, host=host, port=port)
                )
        else:
            self.pool.server_sinks.pop(self.leg_id, None)
            if worker is not None:
                self.pool.send(worker, wp.Unforward(leg=self.leg_id, sink=self.leg_id))

    def _hear(self, samples: Samples) -> None:
        for listener in list(self.listeners):
            try:
                listener(samples)
            except Exception:  # one broken consumer must not silence the others
                log.exception("leg %s: an audio consumer failed", self.name)

    # -- events from the worker -----------------------------------------------------------------

    def digit(self, digit: str) -> None:
        if self.on_digit is not None and not self.closed:
            self.on_digit(digit)

    def failed(self) -> None:
        """The connection died in the worker, or the worker did: as aiortc's `failed`."""
        if self.closed:
            return
        self.out.undo()
        self._forget()
        self.pc.set_state("failed")
        on_failed, self.on_failed = self.on_failed, None
        if on_failed is not None:
            task = asyncio.ensure_future(on_failed())
            task.add_done_callback(_log_failure)

    async def close(self) -> None:
        if self.closed:
            return
        self.out.undo()
        worker = self.worker
        self._forget()
        if worker is not None:
            self.pool.send(worker, wp.CloseLeg(leg=self.leg_id))
        self.pc.set_state("closed")


def _playable(clip: Clip) -> bool:
    """A clip the worker can play itself: then nothing, silence, or a looping clip."""
    then = clip.then
    return then is None or isinstance(then, Silence) or (isinstance(then, Clip) and then.loop)


def _log_failure(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        error = task.exception()
        if error is not None:
            log.error("a leg's failure handler failed", exc_info=error)
