"""The server's side of its media workers: start them, talk to them, restart a dead one.

Each worker is a `spawn`ed process (`worker_process.run_worker`) with one socketpair for
messages (`worker_protocol`), in order both ways. Requests that need an answer (a leg's SDP,
a recording's length, stats) carry a `seq` and are awaited; the rest are sent and forgotten.
The server also has a loopback UDP relay of its own: what a remote leg hears reaches the
server there when something in the server listens to it (`RemoteLeg.listeners`: voicemail,
a SIP caller's link), and the server's own PCM (a SIP caller's voice) leaves from it.

A worker that dies (killed, crashed) fails its pending requests with `WorkerGone`, tells
every leg it hosted (`RemoteLeg.worker_died`, which ends their calls through the adapter's
usual media-failed path) and is started again in its slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing as mp
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from helpline.telephony.webrtc import worker_protocol as wp
from helpline.telephony.webrtc.audio import Samples
from helpline.telephony.webrtc.worker_media import Address, Relay
from helpline.telephony.webrtc.worker_process import RELAY_HOST, run_worker

log = logging.getLogger("helpline.webrtc.workers")

START_TIMEOUT_S = 30.0
RESTART_ATTEMPTS = 3
RESTART_BACKOFF_S = 0.5  # then 1 s: a worker that cannot start now may in a moment
CLIP_CACHE_SAMPLES = 32 * 1024 * 1024 // 2  # per worker: 32 MB of int16 clips


class WorkerGone(RuntimeError):
    """The worker hosting a leg died before it answered."""


class HostedHere(Protocol):
    """What a worker's events are delivered to: a leg in the server (`RemoteLeg`)."""

    def digit(self, digit: str) -> None: ...

    def failed(self) -> None: ...


@dataclass(eq=False)
class MediaWorker:
    slot: int
    process: mp.process.BaseProcess
    writer: asyncio.StreamWriter
    pid: int
    relay: Address
    legs: set[int] = field(default_factory=set)
    pending: dict[int, asyncio.Future[wp.Reply]] = field(default_factory=dict)
    clips: OrderedDict[int, int] = field(default_factory=OrderedDict)  # clip id -> samples
    alive: bool = True
    reader_task: asyncio.Task[None] | None = None
    generation: int = 0


class MediaWorkers:
    """`count` worker processes; legs are placed on the least loaded one."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"media_workers: at least 1, got {count}")
        self.count = count
        self.workers: list[MediaWorker] = []
        self.hosted: dict[int, HostedHere] = {}  # leg id -> its server-side proxy
        self.notifications: dict[int, Callable[[], None]] = {}
        self.on_worker_died: list[Callable[[MediaWorker], None]] = []
        self.ids = itertools.count(1)
        self.server_sinks: dict[int, Callable[[Samples], None]] = {}
        self.relay: Relay | None = None
        self.relay_address: Address = (RELAY_HOST, 0)
        self._clip_ids: OrderedDict[int, tuple[Samples, int]] = OrderedDict()
        self._closing = False
        self._starting: asyncio.Future[None] | None = None
        self._context = mp.get_context("spawn")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.relay = await loop.create_datagram_endpoint(
            lambda: Relay(self.server_sinks), local_addr=(RELAY_HOST, 0)
        )
        assert self.relay.transport is not None
        self.relay_address = self.relay.transport.get_extra_info("sockname")[:2]
        # in the background: the server answers at once, the first leg waits (`ready`)
        self._starting = asyncio.ensure_future(self._spawn_all())
        self._starting.add_done_callback(_log_start_failure)

    async def _spawn_all(self) -> None:
        results = await asyncio.gather(
            *(self._spawn(i) for i in range(self.count)), return_exceptions=True
        )
        started = [r for r in results if isinstance(r, MediaWorker)]
        failures = [r for r in results if not isinstance(r, MediaWorker)]
        for failure in failures:
            log.error("a media worker could not start", exc_info=failure)
        if not started:  # no call could have media: say why, once, to every `ready`
            raise RuntimeError("no media worker started") from failures[0]
        # the slots are renumbered: a restart puts the new worker where the dead one was
        for slot, worker in enumerate(started):
            worker.slot = slot
        self.workers = started

    async def ready(self) -> None:
        """Every worker has started (raises what stopped one from starting)."""
        if self._starting is None:
            raise RuntimeError("the media workers were not started")
        await asyncio.shield(self._starting)

    async def _spawn(self, slot: int) -> MediaWorker:
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=run_worker,
            args=(theirs,),
            name=f"helpline-media-{slot}",
            daemon=True,
        )
        try:
            process.start()  # the socket is pickled (its fd duplicated for the child) here
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            reader, writer = await asyncio.open_connection(sock=ours)
        except BaseException:
            ours.close()
            process.kill()
            raise
        try:
            ready = await asyncio.wait_for(wp.read_message(reader), START_TIMEOUT_S)
        except asyncio.CancelledError:  # no half-started worker is left behind
            process.kill()
            writer.close()
            raise
        except (TimeoutError, asyncio.IncompleteReadError, wp.ProtocolError) as error:
            await _discard(process, writer)
            raise RuntimeError(f"media worker {slot} did not start") from error
        if not isinstance(ready, wp.Ready):
            await _discard(process, writer)
            raise RuntimeError(f"media worker {slot} said {ready.kind} first")
        worker = MediaWorker(slot, process, writer, ready.pid, (ready.host, ready.port))
        worker.reader_task = asyncio.create_task(self._read(worker, reader))
        log.info("media worker %d: pid %d, relay %s:%d", slot, ready.pid, *worker.relay)
        return worker

    # -- sending --------------------------------------------------------------------------------

    def pick(self) -> MediaWorker:
        """The least loaded live worker (a leg's home)."""
        live = [w for w in self.workers if w.alive] or self.workers
        return min(live, key=lambda w: len(w.legs))

    def send(self, worker: MediaWorker, message: wp.Message) -> None:
        if worker.alive and not worker.writer.is_closing():
            worker.writer.write(wp.encode(message))

    async def request(self, worker: MediaWorker, message: wp.Message, seq: int) -> wp.Reply:
        if not worker.alive:
            raise WorkerGone(f"media worker {worker.slot} is gone")
        future: asyncio.Future[wp.Reply] = asyncio.get_running_loop().create_future()
        worker.pending[seq] = future
        self.send(worker, message)
        try:
            return await future
        finally:
            worker.pending.pop(seq, None)

    def clip(self, worker: MediaWorker, samples: Samples) -> int:
        """The id of these samples in `worker`, sent there first if it has not got them.

        Prompts and music are the same arrays each time (the prompt library caches them), so
        identity finds them; the entry keeps the array alive, so its id is never reused."""
        key = id(samples)
        found = self._clip_ids.get(key)
        if found is None or found[0] is not samples:
            found = (samples, next(self.ids))
            self._clip_ids[key] = found
            if len(self._clip_ids) > 1024:
                self._clip_ids.popitem(last=False)
        self._clip_ids.move_to_end(key)
        clip_id = found[1]
        if clip_id not in worker.clips:
            self.send(worker, wp.PutClip(clip=clip_id, payload=samples.astype("<i2").tobytes()))
            worker.clips[clip_id] = len(samples)
            while sum(worker.clips.values()) > CLIP_CACHE_SAMPLES and len(worker.clips) > 1:
                dropped, _ = worker.clips.popitem(last=False)
                self.send(worker, wp.DropClip(clip=dropped))
        worker.clips.move_to_end(clip_id)
        return clip_id

    def notify(self, callback: Callable[[], None]) -> int:
        notify_id = next(self.ids)
        self.notifications[notify_id] = callback
        return notify_id

    def unnotify(self, notify_id: int) -> None:
        """Forget a clip-end callback whose clip was replaced or whose leg closed: its
        `ClipEnded` never comes, and the entry would stay for the server's life."""
        self.notifications.pop(notify_id, None)

    def send_pcm(self, worker: MediaWorker, sink: int, samples: Samples) -> None:
        if self.relay is not None and worker.alive:
            self.relay.send(sink, samples, worker.relay)

    # -- receiving ------------------------------------------------------------------------------

    async def _read(self, worker: MediaWorker, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                self._dispatch(worker, await wp.read_message(reader))
        except (asyncio.IncompleteReadError, ConnectionError, wp.ProtocolError):
            pass
        finally:
            self._died(worker)

    def _dispatch(self, worker: MediaWorker, message: wp.Message) -> None:
        match message:
            case wp.Reply(seq=seq):
                future = worker.pending.get(seq)
                if future is not None and not future.done():
                    future.set_result(message)
            case wp.DigitDetected(leg=leg_id, digit=digit):
                hosted = self.hosted.get(leg_id)
                if hosted is not None:
                    _guarded(worker, message.kind, partial(hosted.digit, digit))
            case wp.ClipEnded(notify=notify_id):
                callback = self.notifications.pop(notify_id, None)
                if callback is not None:
                    _guarded(worker, message.kind, callback)
            case wp.LegFailed(leg=leg_id):
                worker.legs.discard(leg_id)
                hosted = self.hosted.pop(leg_id, None)
                if hosted is not None:
                    _guarded(worker, message.kind, hosted.failed)
            case _:
                log.warning("media worker %d: unexpected %s", worker.slot, message.kind)

    def _died(self, worker: MediaWorker) -> None:
        if not worker.alive:
            return
        worker.alive = False
        with contextlib.suppress(Exception):
            worker.writer.close()
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(WorkerGone(f"media worker {worker.slot} died"))
        if not self._closing:
            log.error("media worker %d (pid %d) died: its calls end", worker.slot, worker.pid)
        for leg_id in list(worker.legs):
            hosted = self.hosted.pop(leg_id, None)
            if hosted is not None:
                _guarded(worker, "its death", hosted.failed)
        worker.legs.clear()
        for listener in list(self.on_worker_died):
            listener(worker)
        if not self._closing:
            asyncio.get_running_loop().create_task(self._restart(worker))

    async def _restart(self, dead: MediaWorker) -> None:
        await asyncio.to_thread(dead.process.join, 5)
        if self._closing:
            return
        fresh = None
        for attempt in range(RESTART_ATTEMPTS):
            if attempt:
                await asyncio.sleep(RESTART_BACKOFF_S * 2 ** (attempt - 1))
            if self._closing:
                return
            try:
                fresh = await self._spawn(dead.slot)
                break
            except Exception:
                log.exception("media worker %d: restart %d failed", dead.slot, attempt + 1)
        if fresh is None:
            log.error("media worker %d stays down: new legs go to the others", dead.slot)
            return
        fresh.generation = dead.generation + 1
        if self._closing:
            await self._stop(fresh)
            return
        self.workers[dead.slot] = fresh

    async def close(self) -> None:
        self._closing = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting
        for worker in self.workers:
            await self._stop(worker)
        if self.relay is not None and self.relay.transport is not None:
            self.relay.transport.close()

    async def _stop(self, worker: MediaWorker) -> None:
        with contextlib.suppress(Exception):
            worker.writer.close()
        await asyncio.to_thread(worker.process.join, 5)
        if worker.process.is_alive():
            worker.process.kill()
            await asyncio.to_thread(worker.process.join, 5)
        if worker.reader_task is not None:
            worker.reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker.reader_task


async def _discard(process: mp.process.BaseProcess, writer: asyncio.StreamWriter) -> None:
    """End a worker that did not start right: its process and its socket."""
    process.kill()
    writer.close()
    await asyncio.to_thread(process.join, 5)


def _guarded(worker: MediaWorker, what: str, callback: Callable[[], None]) -> None:
    """Run a callback for a worker's event: one that raises (a voicemail's end on a full
    disk) is logged, and must not end the reader, which would end every call on the worker."""
    try:
        callback()
    except Exception:
        log.exception("media worker %d: handling %s failed", worker.slot, what)


def _log_start_failure(starting: asyncio.Future[None]) -> None:
    if not starting.cancelled() and starting.exception() is not None:
        log.error("the media workers could not start", exc_info=starting.exception())
