"""RTP (RFC 3550): parse/serialize round trips, malformed input, the outgoing stream's
sequence and timestamps, and the receiver statistics of Appendix A.1, A.3 and A.8."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpline.media.rtp import (
    ReceiveStatistics,
    RtpError,
    RtpExtension,
    RtpPacket,
    RtpSender,
    parse_rtp,
)

packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=64),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        profile=st.integers(0, 0xFFFF),
        data=st.integers(0, 4).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    ),
    padding=st.integers(0, 255),
)


@given(packets)
def test_serialize_then_parse_is_identity(packet: RtpPacket) -> None:
    assert parse_rtp(packet.serialize()) == packet


@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_raise_rtp_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    # Whatever parses is what it says: padding contents are ignored (5.1), all else is kept.
    assert parse_rtp(packet.serialize()) == packet
    if not packet.padding:
        assert packet.serialize() == data


@given(packets, st.data())
def test_corrupted_packets_parse_or_raise_rtp_error(packet: RtpPacket, data: st.DataObject) -> None:
    raw = bytearray(packet.serialize())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        packet = parse_rtp(bytes(raw[:cut]))
    except RtpError:
        return
    assert parse_rtp(packet.serialize()) == packet


def test_known_header_fields() -> None:
    raw = bytes.fromhex("80e0 1234 00000a00 deadbeef") + b"\x01\x02"
    packet = parse_rtp(raw)
    assert (packet.marker, packet.payload_type, packet.sequence) == (True, 96, 0x1234)
    assert (packet.timestamp, packet.ssrc, packet.payload) == (0xA00, 0xDEADBEEF, b"\x01\x02")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"\x80\x00\x00", "packet"),
        (bytes.fromhex("4000 0001 00000000 00000001"), "version"),
        (bytes.fromhex("8300 0001 00000000 00000001 00000002"), "csrc"),
        (bytes.fromhex("9000 0001 00000000 00000001 bede"), "extension"),
        (bytes.fromhex("9000 0001 00000000 00000001 bede0002 00000000"), "extension"),
        (bytes.fromhex("a000 0001 00000000 00000001 aa00"), "padding"),
        (bytes.fromhex("a000 0001 00000000 00000001 aa09"), "padding"),
    ],
)
def test_malformed_packets_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(RtpError, match=field):
        parse_rtp(raw)


def test_packet_fields_are_validated() -> None:
    with pytest.raises(RtpError, match="payload_type"):
        RtpPacket(payload_type=128, sequence=0, timestamp=0, ssrc=0)
    with pytest.raises(RtpError, match="sequence"):
        RtpPacket(payload_type=0, sequence=65536, timestamp=0, ssrc=0)


def test_sender_keeps_timestamps_continuous_and_wraps() -> None:
    sender = RtpSender(ssrc=7, sequence=0xFFFE, timestamp=0xFFFFFF00, payload_type=0)
    first = sender.packet(b"a" * 160, samples=160)
    second = sender.packet(b"b" * 160, samples=160)
    sender.advance(480)  # three packets' worth not sent (on hold)
    third = sender.packet(b"c" * 160, samples=160)
    assert [p.sequence for p in (first, second, third)] == [0xFFFE, 0xFFFF, 0]
    assert second.timestamp == 0xFFFFFFA0
    assert third.timestamp == (0xFFFFFF00 + 160 * 5) % 2**32
    assert {p.ssrc for p in (first, second, third)} == {7}


def test_random_initial_values_come_from_the_given_generator() -> None:
    a = RtpSender.random(random.Random(5), payload_type=8)
    b = RtpSender.random(random.Random(5), payload_type=8)
    c = RtpSender.random(random.Random(6), payload_type=8)
    assert (a.ssrc, a.sequence, a.timestamp) == (b.ssrc, b.sequence, b.timestamp)
    assert (a.ssrc, a.sequence, a.timestamp) != (c.ssrc, c.sequence, c.timestamp)


def stream(start_seq: int, count: int, *, start_ts: int = 1000) -> list[RtpPacket]:
    return [
        RtpPacket(0, (start_seq + i) % 65536, (start_ts + 160 * i) % 2**32, 1) for i in range(count)
    ]


def test_loss_is_counted_across_a_sequence_wrap() -> None:
    stats = ReceiveStatistics(8000)
    sent = stream(65500, 200)
    kept = [p for i, p in enumerate(sent) if i < 2 or i % 10 != 5]  # 20 lost
    for i, packet in enumerate(kept):
        stats.update(packet, arrival=i * 0.02)
    report = stats.report()
    # A.1: the first packet only starts probation; counting starts at the second one.
    assert report.expected == 199
    assert report.lost == 20
    assert report.extended_highest_sequence == 65536 + (65500 + 199) % 65536
    assert report.fraction_lost == pytest.approx(20 / 199)
    assert stats.report().fraction_lost == 0.0  # nothing new since the last report


def test_duplicates_and_reordering_are_not_loss() -> None:
    stats = ReceiveStatistics(8000)
    sent = stream(10, 50)
    order = [*sent[:20], sent[21], sent[20], sent[20], *sent[22:]]
    for i, packet in enumerate(order):
        stats.update(packet, arrival=i * 0.02)
    report = stats.report()
    assert report.lost == -1  # A.3: duplicates can make loss negative
    assert report.extended_highest_sequence == 59


def test_a_big_jump_is_a_restart_only_once_confirmed() -> None:
    stats = ReceiveStatistics(8000)
    for i, packet in enumerate(stream(100, 10)):
        stats.update(packet, arrival=i * 0.02)
    jumped = stream(40000, 3)
    assert stats.update(jumped[0], arrival=1.0) is False  # one stray packet is ignored
    assert stats.update(jumped[1], arrival=1.02) is True  # the next confirms the restart
    assert stats.report().extended_highest_sequence == 40001


def test_jitter_follows_appendix_a8() -> None:
    stats = ReceiveStatistics(8000)
    for i, packet in enumerate(stream(0, 400)):
        delay = 0.005 if i % 2 else 0.0  # every transit differs by 40 samples from the last
        stats.update(packet, arrival=i * 0.02 + delay)
    assert stats.report().jitter == pytest.approx(40, rel=1e-3)
    steady = ReceiveStatistics(8000)
    for i, packet in enumerate(stream(0, 100, start_ts=2**32 - 800)):  # timestamp wraps
        steady.update(packet, arrival=7.0 + i * 0.02)
    assert steady.report().jitter == pytest.approx(0, abs=1e-6)


def test_padding_count_octet_is_written() -> None:
    raw = RtpPacket(0, 1, 2, 3, payload=b"xy", padding=4).serialize()
    assert raw[-4:] == b"\x00\x00\x00\x04" and raw[0] & 0x20
    assert struct.unpack("!H", raw[2:4])[0] == 1
