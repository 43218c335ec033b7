"""Cutting a stream transport (TCP, TLS) into SIP messages (RFC 3261 section 18.3).

On a stream the Content-Length header field is what delimits a message's body, so it must be
present and well-formed. When it is, a message that is otherwise malformed can be skipped
and the stream continues (the error is reported so the request can get its 400). When it is
not (missing, negative, duplicated, a header section that never ends), the framing is lost
and the connection has to be closed: RFC 4475 3.1.2.3 and 3.3.9 ask exactly that.
Double-CRLF keep-alive pings (RFC 5626 section 4.4.1) are reported so the shell can answer
with the single-CRLF pong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, TypeAlias

from helpline.sip.errors import SipParseError
from helpline.sip.message import MAX_MESSAGE_SIZE, Request, Response, parse_message

# greedy: no backtracking
_CONTENT_LENGTH: Final = re.compile(rb"(?:content-length|l)[ \t]*:(.*)", re.I)
_FOLD: Final = re.compile(rb"\r\n[ \t]+")


class FramingError(SipParseError):
    """The stream can no longer be cut into messages: close the connection."""


@dataclass(frozen=True)
class KeepAlive:
    """A CRLFCRLF ping between messages (RFC 5626 4.4.1); answer with one CRLF."""


KEEP_ALIVE: Final = KeepAlive()

Framed: TypeAlias = Request | Response | SipParseError | KeepAlive


class StreamFramer:
    """Feed it chunks as they arrive; it returns whatever whole messages they complete."""

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._broken = False
        # a message dripped in small chunks must cost linear time, not quadratic: how far the
        # search for the header section's end got, and the whole length once it is known
        self._scanned = 0
        self._total: int | None = None

    @property
    def broken(self) -> bool:
        """True once a FramingError was returned; later input is ignored."""
        return self._broken

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[Framed]:
        if self._broken:
            return []
        self._buffer += chunk
        out: list[Framed] = []
        while not self._broken:
            item = self._next()
            if item is None:
                break
            out.append(item)
        return out

    def _next(self) -> Framed | None:
        buffer = self._buffer
        if self._total is not None:  # the header section was read: waiting for the body
            return self._take(self._total) if len(buffer) >= self._total else None
        if buffer.startswith(b"\r\n\r\n"):
            del buffer[:4]
            self._scanned = 0
            return KEEP_ALIVE
        while buffer.startswith(b"\r\n") and len(buffer) > 2 and buffer[2:3] != b"\r":
            del buffer[:2]  # a pong or a stray CRLF before a start line (7.5): ignore
            self._scanned = 0
        if len(buffer) < 4 and b"\r\n\r".startswith(buffer):
            return None  # might become a ping (or nothing is buffered)
        # resume 3 octets back: the end marker may straddle the previous chunk's end
        end = buffer.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0:
            if len(buffer) > self._max_size:
                return self._fail("header section too long", 513)
            self._scanned = len(buffer)
            return None
        head = bytes(buffer[:end])
        lines = _FOLD.sub(b" ", head).split(b"\r\n")
        lengths = [m[1].strip(b" \t") for line in lines if (m := _CONTENT_LENGTH.fullmatch(line))]
        if len(lengths) != 1:
            return self._fail(f"{len(lengths)} Content-Length header fields on a stream", 400)
        length_text = lengths[0].lstrip(b"0") or b"0"
        if not length_text.isdigit() or len(length_text) > 9:
            return self._fail(f"bad Content-Length {length_text!r} on a stream", 400)
        total = end + 4 + int(length_text)
        if total > self._max_size:
            return self._fail(f"message of {total} octets", 513)
        if len(buffer) < total:
            self._total = total
            return None  # wait for the rest of the body
        return self._take(total)

    def _take(self, total: int) -> Framed:
        """The first `total` octets, a whole message by its Content-Length, parsed."""
        data = bytes(self._buffer[:total])
        del self._buffer[:total]
        self._scanned, self._total = 0, None
        try:
            return parse_message(data, stream=True, max_size=self._max_size)
        except SipParseError as error:
            return error  # framing intact: report it and go on with the next message

    def _fail(self, problem: str, status: int) -> FramingError:
        self._broken = True
        head = bytes(self._buffer[:4]).upper()
        self._buffer.clear()
        return FramingError(problem, status, is_response=head == b"SIP/")
