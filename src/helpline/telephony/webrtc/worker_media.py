"""A media worker's side: the legs it hosts and what each plays, hears and forwards.

The worker carries out the server's messages (`worker_protocol`) with the same parts the
in-process adapter uses (`Leg`, `Clip`, `Feed`, `CallRecording`, the Goertzel detector), so a
leg sounds the same wherever it lives. What a leg hears goes, through its one reader
(`Leg.listeners`), to each sink it is forwarded to: a sink is another leg's inbox or a
recording's side in this worker, or any sink elsewhere through the UDP relay (20 ms L16
frames on loopback, like an RTP relay without the RTP: both ends are ours).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

import numpy as np

from helpline.telephony.webrtc import worker_protocol as wp
from helpline.telephony.webrtc.audio import SILENCE, Clip, Feed, Samples, Source
from helpline.telephony.webrtc.inband import inband_detector
from helpline.telephony.webrtc.legs import Leg
from helpline.telephony.webrtc.recording import CallRecording

log = logging.getLogger("helpline.webrtc.worker")

Send = Callable[[wp.Message], None]
Address = tuple[str, int]


class Relay(asyncio.DatagramProtocol):
    """The worker's loopback UDP socket: frames in are handed to their sink by id."""

    def __init__(self, sinks: dict[int, Callable[[Samples], None]]) -> None:
        self.sinks = sinks
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if len(data) <= wp.RELAY_HEADER.size or (len(data) - wp.RELAY_HEADER.size) % 2:
            return  # no samples, or not whole int16 ones: frombuffer would raise here
        (sink_id,) = wp.RELAY_HEADER.unpack_from(data)
        sink = self.sinks.get(sink_id)
        if sink is not None:  # a sink closed a moment ago: its late frames are dropped
            sink(np.frombuffer(data, dtype="<i2", offset=wp.RELAY_HEADER.size))

    def send(self, sink_id: int, samples: Samples, address: Address) -> None:
        if self.transport is not None:
            header = wp.RELAY_HEADER.pack(sink_id)
            self.transport.sendto(header + samples.astype("<i2", copy=False).tobytes(), address)


@dataclass(eq=False)
class HostedLeg:
    leg_id: int
    leg: Leg
    inbox: Feed = field(default_factory=Feed)
    forwards: dict[int, Callable[[Samples], None]] = field(default_factory=dict)

    def hear(self, samples: Samples) -> None:
        for forward in list(self.forwards.values()):
            forward(samples)


class WorkerMedia:
    """Everything one worker hosts; `handle` carries out one message from the server."""

    def __init__(self, send: Send, relay: Relay) -> None:
        self.send = send
        self.relay = relay
        self.legs: dict[int, HostedLeg] = {}
        self.clips: dict[int, Samples] = {}
        self.sinks = relay.sinks  # sink id -> where its samples go (shared with the relay)
        self.recordings: dict[int, CallRecording] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, message: wp.Message) -> None:
        match message:
            case wp.CreateLeg():
                self._spawn(self._create(message))
            case wp.CloseLeg(leg=leg_id):
                self._spawn(self._close(leg_id))
            case wp.PutClip(clip=clip_id):
                self.clips[clip_id] = np.frombuffer(message.payload, dtype="<i2").astype(np.int16)
            case wp.DropClip(clip=clip_id):
                self.clips.pop(clip_id, None)
            case wp.Play():
                self._play(message)
            case wp.Mix(leg=leg_id, clip=clip_id):
                hosted, clip = self.legs.get(leg_id), self.clips.get(clip_id)
                if hosted is not None and clip is not None:
                    hosted.leg.out.mix(clip)
            case wp.Forward():
                self._forward(message)
            case wp.Unforward(leg=leg_id, sink=sink_id):
                hosted = self.legs.get(leg_id)
                if hosted is not None:
                    hosted.forwards.pop(sink_id, None)
            case wp.StartRecording():
                self._start_recording(message)
            case wp.StopRecording(seq=seq, recording=recording_id):
                duration = self._stop_recording(recording_id)
                if duration is None:  # it never started (its file could not be opened)
                    self.send(wp.Reply(seq=seq, error="UnknownRecording"))
                else:
                    self.send(wp.Reply(seq=seq, duration=duration))
            case wp.GetStats(seq=seq):
                self.send(wp.Reply(seq=seq, legs=len(self.legs), cpu_s=time.process_time()))
            case _:
                log.warning("worker: unexpected message %s", message.kind)

    async def _create(self, message: wp.CreateLeg) -> None:
        leg = Leg(message.name)
        hosted = HostedLeg(message.leg, leg)
        leg.listeners.append(hosted.hear)
        if message.detect_dtmf:
            emit = partial(self._digit, message.leg)
            leg.listeners.append(inband_detector(emit))
        try:
            answer = await leg.answer(message.sdp)
        except Exception as error:  # aiortc refuses what it cannot parse or negotiate
            log.info("leg %s: an unusable offer", message.name, exc_info=True)
            await leg.close()
            self.send(wp.Reply(seq=message.seq, error=type(error).__name__))
            return
        self.legs[message.leg] = hosted
        self.sinks[message.leg] = hosted.inbox.push
        leg.on_failed = partial(self._failed, message.leg)
        self.send(wp.Reply(seq=message.seq, sdp=answer))

    def _digit(self, leg_id: int, digit: str) -> None:
        self.send(wp.DigitDetected(leg=leg_id, digit=digit))

    async def _failed(self, leg_id: int) -> None:
        if leg_id in self.legs:
            self.send(wp.LegFailed(leg=leg_id))
            await self._close(leg_id)

    async def _close(self, leg_id: int) -> None:
        hosted = self.legs.pop(leg_id, None)
        self.sinks.pop(leg_id, None)
        if hosted is not None:
            hosted.forwards.clear()
            await hosted.leg.close()

    def _play(self, message: wp.Play) -> None:
        hosted = self.legs.get(message.leg)
        if hosted is None:
            return
        source: Source = SILENCE
        if message.inbox:
            hosted.inbox = Feed()  # what is queued from a previous source is not heard now
            self.sinks[message.leg] = hosted.inbox.push
            source = hosted.inbox
        elif message.clip is not None:
            samples = self.clips.get(message.clip)
            then = self.clips.get(message.then) if message.then is not None else None
            notify = message.notify
            on_end = None if notify is None else partial(self._clip_ended, notify)
            if samples is not None:
                after = None if then is None else Clip(then, loop=True)
                source = Clip(samples, loop=message.loop, then=after, on_end=on_end)
            elif on_end is not None:
                on_end()  # an unknown clip plays as nothing: the IVR must not wait for ever
        hosted.leg.out.source = source

    def _clip_ended(self, notify: int) -> None:
        self.send(wp.ClipEnded(notify=notify))

    def _forward(self, message: wp.Forward) -> None:
        hosted = self.legs.get(message.leg)
        if hosted is None:
            return
        if message.host:
            address = (message.host, message.port)
            sink_id = message.sink
            hosted.forwards[sink_id] = lambda samples: self.relay.send(sink_id, samples, address)
        else:
            hosted.forwards[message.sink] = partial(self._to_sink, message.sink)

    def _to_sink(self, sink_id: int, samples: Samples) -> None:
        sink = self.sinks.get(sink_id)
        if sink is not None:
            sink(samples)

    def _start_recording(self, message: wp.StartRecording) -> None:
        try:
            recording = CallRecording(Path(message.path))
        except OSError:
            log.exception("recording %s could not be started", message.path)
            return
        self.recordings[message.recording] = recording
        self.sinks[message.caller_sink] = recording.caller
        self.sinks[message.agent_sink] = recording.agent

    def _stop_recording(self, recording_id: int) -> float | None:
        recording = self.recordings.pop(recording_id, None)
        if recording is None:
            return None
        for sink_id, sink in list(self.sinks.items()):
            if sink in (recording.caller, recording.agent):
                del self.sinks[sink_id]
        return recording.close()

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for leg_id in list(self.legs):
            await self._close(leg_id)
        for recording_id in list(self.recordings):
            self._stop_recording(recording_id)
