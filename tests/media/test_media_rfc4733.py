"""RFC 4733 telephone-events: payload, the sender's packet sequence (section 2.5.1), and a
receiver that gives each digit once through loss, duplicates and reordering (2.5.2)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.media.rfc4733 import (
    DIGITS,
    MAX_DURATION,
    DigitReceiver,
    DigitSender,
    TelephoneEvent,
    decode_event,
    digit_packets,
    encode_event,
)
from helpline.media.rtp import RtpError, RtpPacket, RtpSender, parse_rtp

PT = 101


@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_payload_round_trip(event: int, end: bool, volume: int, duration: int) -> None:
    assert decode_event(encode_event(TelephoneEvent(event, end, volume, duration))) == (
        TelephoneEvent(event, end, volume, duration)
    )


def test_payload_layout() -> None:
    # Digit 5, end bit, volume 10, duration 800 (section 2.3's field order).
    assert encode_event(TelephoneEvent(5, True, 10, 800)) == bytes([5, 0x8A, 0x03, 0x20])
    assert decode_event(bytes([11, 0x4A, 0, 160])) == TelephoneEvent(11, False, 10, 160)  # R bit
    with pytest.raises(RtpError, match="payload"):
        decode_event(b"\x01\x02")
    with pytest.raises(RtpError, match="volume"):
        encode_event(TelephoneEvent(1, False, 64, 0))


def test_sender_sequence_for_one_digit() -> None:
    stream = RtpSender(ssrc=9, sequence=65534, timestamp=5000, payload_type=0)
    sender = DigitSender(stream, payload_type=PT, interval=160)
    sent = digit_packets(sender, "7", duration=800)  # 100 ms at 8 kHz
    packets = [p for _, p in sent]
    events = [decode_event(p.payload) for p in packets]
    assert [p.marker for p in packets] == [True] + [False] * (len(packets) - 1)
    assert {p.timestamp for p in packets} == {5000}
    assert {p.payload_type for p in packets} == {PT}
    assert [p.sequence for p in packets] == [(65534 + i) % 65536 for i in range(len(packets))]
    # Each packet's duration covers the interval it is sent at the start of.
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800, 800]
    assert [e.end for e in events] == [False] * 5 + [True] * 3
    assert {e.event for e in events} == {7}
    assert [at for at, _ in sent] == [0, 160, 320, 480, 640, 800, 960, 1120]
    # Audio resumes right after the event, on the same sequence and clock.
    after = stream.packet(b"\xff" * 160, samples=160)
    assert (after.timestamp, after.sequence) == (5800, (65534 + 8) % 65536)


def test_sender_refuses_overlapping_digits_and_bad_keys() -> None:
    sender = DigitSender(
        RtpSender(ssrc=1, sequence=0, timestamp=0, payload_type=0), payload_type=PT
    )
    with pytest.raises(RtpError, match="digit"):
        sender.start("x")
    sender.start("1")
    with pytest.raises(RtpError, match="digit"):
        sender.start("2")


def test_a_long_event_is_segmented_and_still_one_digit() -> None:
    stream = RtpSender(ssrc=1, sequence=0, timestamp=0, payload_type=0)
    sent = [p for _, p in digit_packets(DigitSender(stream, payload_type=PT), "#", 10 * 8000)]
    timestamps = sorted({p.timestamp for p in sent})
    assert timestamps == [0, MAX_DURATION]
    assert max(decode_event(p.payload).duration for p in sent) == MAX_DURATION
    assert [p for p in sent if p.marker] == [sent[0]]
    receiver = DigitReceiver(payload_type=PT)
    assert [d for p in sent for d in receiver.feed(p)] == ["#"]
    assert stream.timestamp == 10 * 8000  # audio resumes after the whole event


def many_digits(digits: str, rng: random.Random) -> list[RtpPacket]:
    """Digits sent one after another with audio between them, as a phone sends them."""
    stream = RtpSender.random(rng, payload_type=0)
    sender = DigitSender(stream, payload_type=PT)
    out: list[RtpPacket] = []
    for digit in digits:
        out.extend(stream.packet(b"\xff" * 160, samples=160) for _ in range(3))
        out.extend(p for _, p in digit_packets(sender, digit, rng.choice([480, 800, 1600])))
    return out


def receive(packets: list[RtpPacket]) -> list[str]:
    receiver = DigitReceiver(payload_type=PT)
    return [d for p in packets for d in receiver.feed(parse_rtp(p.serialize()))]


@settings(max_examples=60, deadline=None)
@given(st.text(DIGITS, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_loss_and_duplicates_give_each_digit_once_in_order(digits: str, rng: random.Random) -> None:
    packets = many_digits(digits, rng)
    damaged: list[RtpPacket] = []
    for packet in packets:
        is_event = packet.payload_type == PT
        if is_event and not packet.marker and rng.random() < 0.4:
            continue  # lost (each digit keeps its first packet, so none disappears whole)
        damaged.append(packet)
        if rng.random() < 0.3:
            damaged.append(packet)  # duplicated by the network
    assert receive(damaged) == list(digits)


@settings(max_examples=60, deadline=None)
@given(st.text(DIGITS, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_reordering_and_marker_loss_give_each_digit_once(digits: str, rng: random.Random) -> None:
    packets = many_digits(digits, rng)
    # Lose every marker packet, and shuffle within windows of 8 packets.
    packets = [p for p in packets if not p.marker]
    shuffled: list[RtpPacket] = []
    for i in range(0, len(packets), 8):
        window = packets[i : i + 8]
        rng.shuffle(window)
        shuffled.extend(window)
    assert Counter(receive(shuffled)) == Counter(digits)


def test_same_digit_twice_is_two_events() -> None:
    packets = many_digits("55", random.Random(1))
    assert receive(packets) == ["5", "5"]
    # Only the end packets of the second press arrive: still a second "5".
    second_start = [p for p in packets if p.marker][1].timestamp
    ends_only = [p for p in packets if p.timestamp != second_start or decode_event(p.payload).end]
    assert receive(ends_only) == ["5", "5"]


def test_stale_packets_and_other_payload_types_are_ignored() -> None:
    packets = many_digits("12", random.Random(2))
    receiver = DigitReceiver(payload_type=PT, horizon=8000)
    assert [d for p in packets for d in receiver.feed(p)] == ["1", "2"]
    first_event = next(p for p in packets if p.payload_type == PT)
    assert receiver.feed(first_event) == []  # a late repeat of an old event
    old = RtpPacket(
        PT,
        1,
        (first_event.timestamp - 20 * 8000) % 2**32,
        first_event.ssrc,
        payload=encode_event(TelephoneEvent(3, False, 10, 160)),
        marker=True,
    )
    assert receiver.feed(old) == []  # older than the horizon: stale
    assert receiver.feed(RtpPacket(0, 2, 0, first_event.ssrc, payload=b"\xff" * 160)) == []


def test_sources_are_kept_apart() -> None:
    receiver = DigitReceiver(payload_type=PT)
    event = encode_event(TelephoneEvent(4, False, 10, 160))
    assert receiver.feed(RtpPacket(PT, 1, 1000, 1, payload=event, marker=True)) == ["4"]
    assert receiver.feed(RtpPacket(PT, 1, 1000, 2, payload=event, marker=True)) == ["4"]
    # A late packet of the first source's event, after the switch: nothing new.
    assert receiver.feed(RtpPacket(PT, 2, 1000, 1, payload=event)) == []


@given(
    st.lists(
        st.tuples(st.integers(0, 0xFFFFFFFF), st.binary(max_size=8), st.booleans()),
        max_size=40,
    )
)
def test_arbitrary_event_packets_give_digits_or_rtp_error(
    packets: list[tuple[int, bytes, bool]],
) -> None:
    receiver = DigitReceiver(payload_type=PT)
    found: list[str] = []
    for i, (timestamp, payload, marker) in enumerate(packets):
        try:
            found += receiver.feed(RtpPacket(PT, i, timestamp, 5, payload=payload, marker=marker))
        except RtpError:
            assert len(payload) < 4
    # At most one digit per distinct event timestamp, and only keypad digits.
    assert len(found) <= len({t for t, p, _ in packets if len(p) >= 4})
    assert set(found) <= set(DIGITS)
