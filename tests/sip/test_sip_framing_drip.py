"""StreamFramer fed a little at a time: the work stays linear in what arrives (a peer
dripping one octet at a time must not cost quadratic CPU), and every split point of the
header section's end, the body and a keep-alive still frames the same messages."""

from __future__ import annotations

import time

from helpline.sip.framing import KEEP_ALIVE, FramingError, StreamFramer
from helpline.sip.message import MAX_MESSAGE_SIZE, Request


def options(number: int, body: bytes = b"", pad: int = 0) -> bytes:
    return (
        f"OPTIONS sip:a@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK{number}\r\n"
        f"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
        f"Call-ID: c{number}\r\nCSeq: {number} OPTIONS\r\nMax-Forwards: 70\r\n"
        + (f"X-Pad: {'a' * pad}\r\n" if pad else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def drip_seconds(data: bytes) -> float:
    """CPU time to feed `data` one octet at a time (best of 3: the box is noisy)."""
    best = float("inf")
    for _ in range(3):
        framer = StreamFramer()
        started = time.process_time()
        for index in range(len(data)):
            framer.feed(data[index : index + 1])
        best = min(best, time.process_time() - started)
    return best


def test_dripping_a_header_section_costs_linear_time() -> None:
    """An endless header section dripped an octet at a time: 8 times the octets must cost
    about 8 times the CPU (it cost 64 times, a rescan of the whole buffer per octet)."""
    small = b"INVITE sip:a@b SIP/2.0\r\nX-Pad: " + b"a" * 7_000
    large = b"INVITE sip:a@b SIP/2.0\r\nX-Pad: " + b"a" * 56_000
    ratio = drip_seconds(large) / drip_seconds(small)
    assert ratio < 24, f"8x the octets cost {ratio:.1f}x the time"


def test_dripping_a_body_costs_linear_time() -> None:
    small, large = options(1, b"x" * 7_000), options(1, b"x" * 56_000)
    ratio = drip_seconds(large) / drip_seconds(small)
    assert ratio < 24, f"8x the octets cost {ratio:.1f}x the time"


def test_a_large_message_dripped_comes_out_whole() -> None:
    framer = StreamFramer()
    stream = options(1, b"x" * 30_000, pad=20_000) + options(2)
    out = [item for index in range(len(stream)) for item in framer.feed(stream[index:][:1])]
    assert [item.cseq.number for item in out if isinstance(item, Request)] == [1, 2]
    first = out[0]
    assert isinstance(first, Request) and first.body == b"x" * 30_000
    assert framer.buffered == 0


def test_every_split_point_frames_the_same_messages() -> None:
    """The end marker, the Content-Length line, the body and a ping straddling chunks."""
    stream = options(1, b"hello") + b"\r\n\r\n" + options(2) + options(3, b"abc")
    for split in range(1, len(stream)):
        framer = StreamFramer()
        out = framer.feed(stream[:split]) + framer.feed(stream[split:])
        numbers = [item.cseq.number if isinstance(item, Request) else item for item in out]
        assert numbers == [1, KEEP_ALIVE, 2, 3], split
        assert framer.buffered == 0


def test_the_size_limit_still_holds_when_dripped() -> None:
    framer = StreamFramer(max_size=1000)
    header = b"INVITE sip:a@b SIP/2.0\r\nX-Long: " + b"a" * 1000
    out = [item for index in range(len(header)) for item in framer.feed(header[index:][:1])]
    (error,) = out
    assert isinstance(error, FramingError) and error.status == 513 and framer.broken
    big = options(4, b"x" * MAX_MESSAGE_SIZE)
    framer = StreamFramer()
    out = [item for index in range(600) for item in framer.feed(big[index:][:1])]
    (error,) = out  # refused once the header section is whole, before the body is buffered
    assert isinstance(error, FramingError) and error.status == 513
