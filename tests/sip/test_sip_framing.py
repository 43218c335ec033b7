"""StreamFramer: cutting a TCP byte stream into messages by Content-Length (RFC 3261 18.3)."""

from __future__ import annotations

from helpline.sip.framing import KEEP_ALIVE, FramingError, StreamFramer
from helpline.sip.message import Request, Response, SipParseError


def options(number: int, body: bytes = b"") -> bytes:
    return (
        f"OPTIONS sip:a@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK{number}\r\n"
        f"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
        f"Call-ID: c{number}\r\nCSeq: {number} OPTIONS\r\nMax-Forwards: 70\r\n"
        f"l: {len(body)}\r\n\r\n"
    ).encode() + body


def test_one_byte_at_a_time() -> None:
    framer = StreamFramer()
    stream = options(1, b"hello") + options(2)
    out = [item for byte in stream for item in framer.feed(bytes([byte]))]
    assert [item.cseq.number for item in out if isinstance(item, Request)] == [1, 2]
    assert out[0].body == b"hello" and framer.buffered == 0  # type: ignore[union-attr]


def test_several_messages_in_one_chunk_and_a_partial_one() -> None:
    framer = StreamFramer()
    stream = options(1) + options(2, b"x" * 10) + options(3, b"abc")
    out = framer.feed(stream[:-2])
    assert [item.cseq.number for item in out] == [1, 2]  # type: ignore[union-attr]
    (last,) = framer.feed(stream[-2:])
    assert isinstance(last, Request) and last.body == b"abc"


def test_keep_alive_ping_and_pong() -> None:
    """RFC 5626 4.4.1: CRLFCRLF is a ping to answer; a lone CRLF (a pong) is ignored."""
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == []
    assert framer.feed(b"\r\n") == [KEEP_ALIVE]
    out = framer.feed(b"\r\n" + options(4))
    assert len(out) == 1 and isinstance(out[0], Request)


def test_malformed_message_with_usable_length_is_skipped_and_stream_goes_on() -> None:
    framer = StreamFramer()
    bad = options(5).replace(b"CSeq: 5 OPTIONS", b"CSeq: 5 INVITE")
    out = framer.feed(bad + options(6))
    assert isinstance(out[0], SipParseError) and not isinstance(out[0], FramingError)
    assert out[0].status == 400 and out[0].headers is not None
    assert isinstance(out[1], Request) and out[1].cseq.number == 6 and not framer.broken


def test_missing_content_length_breaks_the_stream() -> None:
    framer = StreamFramer()
    out = framer.feed(options(7).replace(b"l: 0\r\n", b""))
    assert len(out) == 1 and isinstance(out[0], FramingError) and framer.broken
    assert framer.feed(options(8)) == []  # the connection is to be closed


def test_endless_header_section_is_513_and_breaks_the_stream() -> None:
    framer = StreamFramer(max_size=1000)
    assert framer.feed(b"INVITE sip:a@b SIP/2.0\r\n") == []
    (error,) = framer.feed(b"X-Long: " + b"a" * 1000)
    assert isinstance(error, FramingError) and error.status == 513 and framer.buffered == 0


def test_oversized_body_is_refused_before_buffering_it() -> None:
    framer = StreamFramer(max_size=1000)
    (error,) = framer.feed(options(9).replace(b"l: 0", b"l: 5000"))
    assert isinstance(error, FramingError) and error.status == 513


def test_responses_come_through_and_a_bad_one_is_flagged_as_response() -> None:
    framer = StreamFramer()
    response = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:b@e>;tag=1\r\n"
        b"To: <sip:a@e>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    ok, bad = framer.feed(response + response.replace(b"200 OK", b"2000 OK"))
    assert isinstance(ok, Response) and ok.status == 200
    assert isinstance(bad, SipParseError) and bad.is_response
