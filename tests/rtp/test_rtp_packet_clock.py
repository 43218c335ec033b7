"""The shared packet clock (telephony/rtp/packet_clock.py) and what each tick sends cheaply:
a playback's encoded blocks (`OutboundAudio.next_payload`) and a header packed without a
packet object (`RtpSender.stamp`). Each fast path is checked against the plain one it
replaces, on every input hypothesis draws, so a shortcut cannot change a single octet."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.media.g711 import alaw_encode, ulaw_encode
from helpline.media.rtp import RtpSender, parse_rtp
from helpline.sip.sdp import AudioSession
from helpline.telephony.rtp import RtpEndpoint
from helpline.telephony.rtp import packet_clock as packet_clock_module
from helpline.telephony.rtp.leg_audio import ENCODED_BLOCK, OutboundAudio
from helpline.telephony.rtp.packet_clock import PacketClock

HOST = "127.0.0.1"
FRAME = 160
ENCODERS = {"PCMU": ulaw_encode, "PCMA": alaw_encode}

# a step: play (length, loop), feed live audio (length), take a frame with a codec, stop
steps = st.lists(
    st.one_of(
        st.tuples(st.just("play"), st.integers(0, 3 * ENCODED_BLOCK), st.booleans()),
        st.tuples(st.just("feed"), st.integers(1, 500), st.just(False)),
        st.tuples(st.just("take"), st.sampled_from(["PCMU", "PCMA"]), st.integers(1, 80)),
        st.tuples(st.just("stop"), st.just(0), st.just(False)),
    ),
    max_size=12,
)


@given(steps=steps, seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_next_payload_is_the_encoded_next_frame(
    steps: list[tuple[str, object, object]], seed: int
) -> None:
    async def run() -> None:
        rng = np.random.default_rng(seed)
        plain, fast = OutboundAudio(FRAME), OutboundAudio(FRAME)
        for step in steps:
            if step[0] == "play":
                length, loop = step[1], step[2]
                assert isinstance(length, int) and isinstance(loop, bool)
                pcm = rng.integers(-32768, 32767, length, dtype=np.int16)
                plain.play(pcm, loop=loop)
                fast.play(pcm, loop=loop)
            elif step[0] == "feed":
                assert isinstance(step[1], int)
                live = rng.integers(-32768, 32767, step[1], dtype=np.int16)
                plain.feed(live)
                fast.feed(live)
            elif step[0] == "take":
                codec, frames = step[1], step[2]
                assert isinstance(codec, str) and isinstance(frames, int)
                encode = ENCODERS[codec]
                for _ in range(frames):
                    assert fast.next_payload(encode) == encode(plain.next_frame())
            else:
                plain.stop()
                fast.stop()

    asyncio.run(run())


async def test_a_finished_playback_resolves_when_its_last_payload_is_taken() -> None:
    audio = OutboundAudio(FRAME)
    done = audio.play(np.ones(FRAME * 2 + 7, dtype=np.int16), loop=False)
    payloads = [audio.next_payload(ulaw_encode) for _ in range(3)]
    assert not done.done()  # its padded last frame was the third
    assert payloads[2] == ulaw_encode(np.pad(np.ones(7, np.int16), (0, FRAME - 7)))
    assert audio.next_payload(ulaw_encode) == ulaw_encode(np.zeros(FRAME, np.int16))  # silence
    assert done.done()


@given(
    payloads=st.lists(st.binary(min_size=0, max_size=200), min_size=1, max_size=20),
    markers=st.lists(st.booleans(), min_size=20, max_size=20),
    start=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1)),
    payload_type=st.integers(0, 127),
)
def test_stamp_is_the_serialized_packet(
    payloads: list[bytes], markers: list[bool], start: tuple[int, int], payload_type: int
) -> None:
    timestamp, sequence = start
    plain = RtpSender(ssrc=7, sequence=sequence, timestamp=timestamp, payload_type=payload_type)
    fast = RtpSender(ssrc=7, sequence=sequence, timestamp=timestamp, payload_type=payload_type)
    for payload, marker in zip(payloads, markers, strict=False):
        samples = len(payload) or 160
        expected = plain.packet(payload, samples=samples, marker=marker).serialize()
        assert fast.stamp(payload, samples=samples, marker=marker) == expected
    assert (fast.sequence, fast.timestamp) == (plain.sequence, plain.timestamp)  # wrapped alike


def _sink() -> socket.socket:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((HOST, 0))
    sink.setblocking(False)
    return sink


def _received(sink: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sink.recv(2048))
        except BlockingIOError:
            return out


async def _endpoints(sink: socket.socket, count: int) -> list[RtpEndpoint]:
    session = AudioSession(HOST, sink.getsockname()[1], "PCMU", 0, None, 20, "sendrecv")
    rng = random.Random(3)
    return [await RtpEndpoint.open(session, HOST, 0, rng=rng) for _ in range(count)]


async def test_every_leg_of_a_ptime_shares_one_timer_and_it_stops_with_the_last() -> None:
    sink = _sink()
    endpoints = await _endpoints(sink, 5)
    try:
        clock = PacketClock.of(20)
        assert all(e.running for e in endpoints)
        assert set(clock.members) == set(endpoints)
        before = clock.ticks
        await asyncio.sleep(0.5)
        ticks = clock.ticks - before
        assert 15 <= ticks <= 30  # about 25 ticks of 20 ms in 0.5 s, one timer for all five
        sent = [e.packets_sent for e in endpoints]
        assert max(sent) - min(sent) <= 1  # each tick sends one packet for every leg
        by_ssrc: dict[int, list[int]] = {}
        for data in _received(sink):
            packet = parse_rtp(data)
            by_ssrc.setdefault(packet.ssrc, []).append(packet.timestamp)
        assert len(by_ssrc) == 5
        for stamps in by_ssrc.values():  # 20 ms apart on the media clock, no gap, no repeat
            assert all((b - a) % 2**32 == 160 for a, b in itertools.pairwise(stamps))
    finally:
        for endpoint in endpoints:
            endpoint.close()
    assert not any(e.running for e in endpoints)
    assert (id(asyncio.get_running_loop()), 20) not in packet_clock_module._CLOCKS
    assert clock._timer is None  # no timer left running for nobody
    sink.close()


async def test_a_stall_is_skipped_with_timestamps_moved_on_not_burst_out() -> None:
    sink = _sink()
    (endpoint,) = await _endpoints(sink, 1)
    try:
        await asyncio.sleep(0.1)
        _received(sink)
        sent = endpoint.packets_sent
        time.sleep(0.5)  # the loop stalls for 25 ticks
        await asyncio.sleep(0.1)
        burst = endpoint.packets_sent - sent
        assert burst <= 15  # the 0.5 s stall was skipped, not caught up (25 packets)
        stamps = [parse_rtp(data).timestamp for data in _received(sink)]
        gaps = [(b - a) % 2**32 for a, b in itertools.pairwise(stamps)]
        # the media clock moved on by the stall: one gap of about 0.5 s of samples
        assert any(3000 <= gap <= 5000 for gap in gaps), gaps
    finally:
        endpoint.close()
        sink.close()


class _Broken:
    def tick(self) -> None:
        raise RuntimeError("a bad frame")

    def skip(self, ticks: int) -> None:
        pass


async def test_a_leg_that_fails_does_not_silence_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = _sink()
    caplog.set_level(logging.ERROR, logger="helpline.rtp")
    broken = _Broken()
    PacketClock.of(20).join(broken)
    (endpoint,) = await _endpoints(sink, 1)
    try:
        await asyncio.sleep(0.2)
        assert endpoint.packets_sent >= 5
        assert any("a bad frame" in (r.exc_text or "") for r in caplog.records)
    finally:
        endpoint.close()
        PacketClock.of(20).leave(broken)
        sink.close()


async def test_a_leg_that_joins_sends_within_one_ptime_and_pause_resumes_the_stream() -> None:
    sink = _sink()
    first, second = await _endpoints(sink, 2)
    try:
        await asyncio.sleep(0.1)
        second.pause()
        assert not second.running and first.running
        paused_at = second.packets_sent
        await asyncio.sleep(0.1)
        assert second.packets_sent == paused_at
        second.start()
        await asyncio.sleep(0.045)  # the next tick, 20 ms away at most, then another
        assert second.packets_sent >= paused_at + 1
        # one SSRC throughout, sequence numbers continuous over the pause
        sequences = [
            parse_rtp(d).sequence for d in _received(sink) if parse_rtp(d).ssrc == second.clock.ssrc
        ]
        assert all((b - a) % 2**16 == 1 for a, b in itertools.pairwise(sequences))
    finally:
        first.close()
        second.close()
        sink.close()
