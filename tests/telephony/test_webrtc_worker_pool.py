"""The server's side of the media workers when something goes wrong (issue 6 review).

One real worker process; the pool's own reader, relay and recording requests."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from helpline.cli import default_media_workers
from helpline.telephony.webrtc import worker_protocol as wp
from helpline.telephony.webrtc.audio import Clip, Samples, Silence
from helpline.telephony.webrtc.worker_legs import RemoteLeg
from helpline.telephony.webrtc.worker_media import Relay
from helpline.telephony.webrtc.worker_pool import MediaWorker, MediaWorkers

ON_THE_POOLS_LOOP = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool() -> AsyncIterator[MediaWorkers]:
    workers = MediaWorkers(1)
    await workers.start()
    await workers.ready()
    yield workers
    await workers.close()


class Hosted:
    """A leg in the server whose digit handler is broken."""

    def __init__(self) -> None:
        self.digits: list[str] = []

    def digit(self, digit: str) -> None:
        self.digits.append(digit)
        raise RuntimeError("a broken digit handler")

    def failed(self) -> None:
        raise RuntimeError("a broken failure handler")


@ON_THE_POOLS_LOOP
async def test_a_raising_event_handler_leaves_the_worker_and_its_calls_alive(
    pool: MediaWorkers,
) -> None:
    # the pool's reader on a socket this test writes the worker's side of
    real = pool.workers[0]
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    worker = MediaWorker(0, real.process, writer, real.pid, real.relay)
    reading = asyncio.create_task(pool._read(worker, reader))
    ended: list[int] = []

    def voicemail_end_on_a_full_disk() -> None:
        ended.append(1)
        raise OSError(28, "No space left on device")

    notify_id = pool.notify(voicemail_end_on_a_full_disk)
    hosted = Hosted()
    pool.hosted[4242] = hosted
    answer: asyncio.Future[wp.Reply] = asyncio.get_running_loop().create_future()
    worker.pending[77] = answer
    for message in (
        wp.ClipEnded(notify=notify_id),
        wp.DigitDetected(leg=4242, digit="5"),
        wp.LegFailed(leg=4242),
        wp.Reply(seq=77, duration=1.5),
    ):
        theirs.sendall(wp.encode(message))
    reply = await asyncio.wait_for(answer, 10)
    assert reply.duration == 1.5  # read after three handlers raised
    assert ended == [1] and hosted.digits == ["5"]
    assert worker.alive and not reading.done()
    reading.cancel()
    theirs.close()
    writer.close()


@ON_THE_POOLS_LOOP
async def test_a_replaced_prompt_forgets_its_end_callback(pool: MediaWorkers) -> None:
    leg = RemoteLeg(pool, "caller")
    leg.worker = pool.workers[0]
    before = len(pool.notifications)
    prompt: Samples = np.zeros(8000, dtype=np.int16)
    for _ in range(5):  # the caller presses keys: each prompt replaces the last
        leg.out.source = Clip(prompt, on_end=lambda: None)
    assert len(pool.notifications) == before + 1
    leg.out.source = Silence()
    assert len(pool.notifications) == before
    leg.out.source = Clip(prompt, on_end=lambda: None)
    await leg.close()
    assert len(pool.notifications) == before


@ON_THE_POOLS_LOOP
async def test_stopping_a_recording_that_never_started_is_an_error(pool: MediaWorkers) -> None:
    worker = pool.workers[0]
    seq = next(pool.ids)
    reply = await pool.request(worker, wp.StopRecording(seq=seq, recording=987654), seq)
    assert reply.error == "UnknownRecording"
    stats_seq = next(pool.ids)
    assert (await pool.request(worker, wp.GetStats(seq=stats_seq), stats_seq)).error == ""


def test_a_datagram_with_half_a_sample_is_dropped() -> None:
    heard: list[Samples] = []
    relay = Relay({9: heard.append})
    header = wp.RELAY_HEADER.pack(9)
    relay.datagram_received(header + b"\x01\x00\x02", ("127.0.0.1", 1))
    assert heard == []
    relay.datagram_received(header + b"\x01\x00\x02\x00", ("127.0.0.1", 1))
    assert [list(samples) for samples in heard] == [[1, 2]]


def test_the_default_worker_count_follows_the_cores_this_process_may_use() -> None:
    count = default_media_workers()
    assert 1 <= count <= 16
    assert count == min(len(os.sched_getaffinity(0)), 16)
