"""The RTP relay over real loopback sockets: latching, both directions, garbage, relatching."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from helpline.media.rtp import RtpPacket
from helpline.telephony.rtp import RtpRelay, looks_like_rtp

HOST = "127.0.0.1"


def rtp(sequence: int, payload: bytes = b"\xff" * 160, payload_type: int = 0) -> bytes:
    return RtpPacket(payload_type, sequence, sequence * 160, 0x1234, payload).serialize()


@pytest.fixture
def phones() -> Iterator[tuple[socket.socket, socket.socket, socket.socket]]:
    """Two phones and a stranger: plain blocking UDP sockets with a short timeout."""
    made = []
    for _ in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        s.settimeout(2.0)
        made.append(s)
    yield made[0], made[1], made[2]
    for s in made:
        s.close()


@pytest.fixture
async def relay() -> AsyncIterator[RtpRelay]:
    opened = await RtpRelay.open(HOST)
    yield opened
    opened.close()


async def receive(sock: socket.socket) -> tuple[bytes, tuple[str, int]]:
    data, addr = await asyncio.to_thread(sock.recvfrom, 2048)
    return data, addr


def nothing_waiting(sock: socket.socket) -> bool:
    sock.settimeout(0.2)
    try:
        sock.recvfrom(2048)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(2.0)
    return False


async def test_forwards_both_ways_after_latching(
    relay: RtpRelay, phones: tuple[socket.socket, socket.socket, socket.socket]
) -> None:
    alice, bob, _ = phones
    # Both SDPs carry addresses the relay cannot reach (a NAT's private side): port 9 discards.
    relay.set_peer("a", (HOST, 9))
    relay.set_peer("b", (HOST, 9))
    bob.sendto(rtp(1), (HOST, relay.port("b")))  # bob latches; alice is still unknown
    await asyncio.sleep(0.05)
    alice.sendto(rtp(2), (HOST, relay.port("a")))
    data, source = await receive(bob)
    assert data == rtp(2) and source == (HOST, relay.port("b"))
    bob.sendto(rtp(3), (HOST, relay.port("b")))
    data, source = await receive(alice)
    assert data == rtp(3) and source == (HOST, relay.port("a"))
    a, b = relay.stats("a"), relay.stats("b")
    assert a.latched and a.peer == alice.getsockname()
    assert b.latched and b.peer == bob.getsockname()
    # Bob's first packet went to alice's SDP address (all there was before she latched).
    assert (a.packets_in, a.packets_out, b.packets_in, b.packets_out) == (1, 2, 2, 1)
    assert a.bytes_in == len(rtp(2)) and b.bytes_out == len(rtp(2))


async def test_many_packets_keep_their_order_and_bytes(
    relay: RtpRelay, phones: tuple[socket.socket, socket.socket, socket.socket]
) -> None:
    alice, bob, _ = phones
    relay.set_peer("b", bob.getsockname())
    sent = [rtp(n, bytes([n]) * 160) for n in range(50)]
    for packet in sent:
        alice.sendto(packet, (HOST, relay.port("a")))
    got = [(await receive(bob))[0] for _ in sent]
    assert got == sent


async def test_garbage_neither_latches_nor_stops_the_relay(
    relay: RtpRelay, phones: tuple[socket.socket, socket.socket, socket.socket]
) -> None:
    alice, bob, stranger = phones
    relay.set_peer("b", bob.getsockname())
    for junk in (b"", b"\x00", b"OPTIONS sip:x SIP/2.0\r\n\r\n", b"\x80" * 11, bytes(200)):
        stranger.sendto(junk, (HOST, relay.port("a")))
    rtcp = bytes([0x80, 200]) + bytes(26)  # an RTCP sender report: not RTP, must not latch
    stranger.sendto(rtcp, (HOST, relay.port("a")))
    await asyncio.sleep(0.05)
    assert not relay.stats("a").latched
    assert nothing_waiting(bob)
    alice.sendto(rtp(1), (HOST, relay.port("a")))  # the real phone latches
    assert (await receive(bob))[0] == rtp(1)
    stranger.sendto(rtp(99), (HOST, relay.port("a")))  # a hijack attempt after latching
    alice.sendto(rtp(2), (HOST, relay.port("a")))
    assert (await receive(bob))[0] == rtp(2)
    assert nothing_waiting(bob)
    stats = relay.stats("a")
    assert stats.peer == alice.getsockname()
    assert stats.dropped == 7 and stats.packets_in == 2


async def test_expected_host_restricts_latching(
    phones: tuple[socket.socket, socket.socket, socket.socket],
) -> None:
    alice, bob, _ = phones
    relay = await RtpRelay.open(HOST, expect_hosts=("192.0.2.1", None), peers=(None, None))
    try:
        relay.set_peer("b", bob.getsockname())
        alice.sendto(rtp(1), (HOST, relay.port("a")))
        await asyncio.sleep(0.05)
        assert not relay.stats("a").latched and relay.stats("a").dropped == 1
        assert nothing_waiting(bob)
    finally:
        relay.close()


async def test_relatch_after_reinvite_moves_the_media(
    relay: RtpRelay, phones: tuple[socket.socket, socket.socket, socket.socket]
) -> None:
    alice, bob, moved = phones
    relay.set_peer("b", bob.getsockname())
    alice.sendto(rtp(1), (HOST, relay.port("a")))
    await receive(bob)
    relay.relatch("a")  # alice's re-INVITE says her media now comes from another port
    moved.sendto(rtp(2), (HOST, relay.port("a")))
    assert (await receive(bob))[0] == rtp(2)
    bob.sendto(rtp(3), (HOST, relay.port("b")))
    assert (await receive(moved))[0] == rtp(3)
    assert relay.stats("a").peer == moved.getsockname()


async def test_without_a_peer_packets_are_counted_and_dropped(
    relay: RtpRelay, phones: tuple[socket.socket, socket.socket, socket.socket]
) -> None:
    alice, _, _ = phones
    alice.sendto(rtp(1), (HOST, relay.port("a")))
    await asyncio.sleep(0.05)
    stats = relay.stats("a")
    assert (stats.packets_in, stats.dropped, relay.stats("b").packets_out) == (1, 1, 0)


def test_looks_like_rtp() -> None:
    assert looks_like_rtp(rtp(1))
    assert looks_like_rtp(rtp(1, payload_type=101))
    assert not looks_like_rtp(rtp(1)[:11])
    assert not looks_like_rtp(b"\x40" + rtp(1)[1:])  # version 1
    assert not looks_like_rtp(bytes([0x81, 201]) + bytes(30))  # RTCP receiver report
