"""SIP messages: parse bytes into a Request or Response, and serialize them back.

RFC 3261 section 7 (message structure), 25 (grammar) and 18.3 (framing): leading CRLFs are
ignored (7.5), folded lines are unfolded (7.3.1), a datagram's octets beyond Content-Length
are dropped while too few are an error (18.3), a stream needs Content-Length (see
`helpline.sip.framing`). The fields every element relies on (Via, From, To, Call-ID, CSeq,
Max-Forwards, Contact, Route, Record-Route, Content-Length) are checked against their grammar
at parse time, so the layers above never meet a malformed one; a bad message raises
SipParseError carrying the status to answer with. Everything else stays opaque text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from helpline.core.plain import freeze_interpreted
from helpline.sip.errors import REASON_PHRASES, SipParseError
from helpline.sip.fields import (
    TOKEN_CHARS,
    CSeq,
    NameAddr,
    Via,
    check_uri,
    parse_cseq,
    parse_name_addr,
    parse_via,
)
from helpline.sip.headers import Headers, split_list
from helpline.sip.uri import SipUri, parse_uri, uri_scheme

__all__ = [
    "MAX_MESSAGE_SIZE",
    "REASON_PHRASES",
    "SUPPORTED_SCHEMES",
    "CSeq",
    "Headers",
    "NameAddr",
    "Request",
    "Response",
    "SipParseError",
    "SipUri",
    "Via",
    "make_response",
    "parse_cseq",
    "parse_message",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
]

# the largest UDP datagram; larger messages get 513 (RFC 3261 21.5.14)
MAX_MESSAGE_SIZE: Final = 65_535
SUPPORTED_SCHEMES: Final = frozenset({"sip", "sips"})
SIP_VERSION: Final = "SIP/2.0"

_VERSION: Final = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_FOLD: Final = re.compile(r"\r\n[ \t]+")
# field-name HCOLON field-value (7.3, 25.1): a token, optional white space, a colon
# (greedy, then stripped in Python: a lazy value before `[ \t]*$` backtracks quadratically)
_FIELD_LINE: Final = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:(.*)")
# Call-ID = word [ "@" word ], word = 1*(alphanum / "-.!%*_+`'~()<>:\"/[]?{}")
_CALL_ID: Final = re.compile(
    r"[\w\-.!%*+`'~()<>:\\\"/\[\]?{}]+(@[\w\-.!%*+`'~()<>:\\\"/\[\]?{}]+)?", re.ASCII
)
# field names (as sent) known to be tokens; bounded, so a peer inventing names cannot grow it
_FIELD_NAMES: set[str] = set()
_MAX_FIELD_NAMES: Final = 1024
_SINGLE_VALUED: Final = (
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
)
# 8.1.1; Max-Forwards waived for RFC 2543
_REQUIRED: Final = ("Via", "From", "To", "Call-ID", "CSeq")


def _serialize(start_line: str, headers: Headers, body: bytes) -> bytes:
    """Wire format; Content-Length always present and always the real body length."""
    lines = [start_line]
    has_length = False
    for name, value in headers:
        if name != "Content-Length":
            lines.append(f"{name}: {value}")
        elif not has_length:
            has_length = True
            lines.append(f"Content-Length: {len(body)}")
    if not has_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


@dataclass(init=False, unsafe_hash=True)
class _Message:
    """Accessors for the fields every message has (parse_message has checked them)."""

    headers: Final[Headers]

    def __init__(self, headers: Headers) -> None:
        self.headers = headers

    def _one(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header field")
        return value

    @property
    def call_id(self) -> str:
        return self._one("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self._one("CSeq"))

    @property
    def vias(self) -> list[Via]:
        return [parse_via(value) for value in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return parse_via(self._one("Via"))

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self._one("From"), "From")

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self._one("To"), "To")


@dataclass(init=False, unsafe_hash=True)
class Request(_Message):
    method: Final[str]
    uri: Final[str]
    body: Final[bytes]

    def __init__(self, method: str, uri: str, headers: Headers, body: bytes = b"") -> None:
        super().__init__(headers)
        self.method = method
        self.uri = uri
        self.body = body

    @property
    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def serialize(self) -> bytes:
        return _serialize(self.start_line, self.headers, self.body)

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(init=False, unsafe_hash=True)
class Response(_Message):
    status: Final[int]
    reason: Final[str]
    body: Final[bytes]

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes = b"") -> None:
        super().__init__(headers)
        self.status = status
        self.reason = reason
        self.body = body

    @property
    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def serialize(self) -> bytes:
        return _serialize(self.start_line, self.headers, self.body)

    def __bytes__(self) -> bytes:
        return self.serialize()


# Every message parsed or sent is one of these: native classes (built in C when compiled,
# `core/plain.py` says why), as read-only as frozen dataclasses.
freeze_interpreted(_Message, Request, Response)


def make_response(
    request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> Response:
    """A response copying Via, From, To, Call-ID and CSeq (RFC 3261 8.2.6.2), and
    Record-Route for a dialog-creating one (12.1.1), Timestamp for a 100 (8.2.6.1);
    `to_tag` is added if To has none (8.2.6.2 asks for one on all but a 100)."""
    headers = Headers()
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.lines(name):
            headers.add(name, value)
    if to_tag is not None and "To" in request.headers and request.to.tag is None:
        headers.set("To", request.headers.lines("To")[0] + f";tag={to_tag}")
    if 100 < status < 300:
        for value in request.headers.lines("Record-Route"):
            headers.add("Record-Route", value)
    if status == 100:  # 8.2.6.1: a 100 echoes the request's Timestamp
        for value in request.headers.lines("Timestamp"):
            headers.add("Timestamp", value)
    return Response(status, reason or REASON_PHRASES.get(status, "Unknown"), headers)


def parse_message(
    data: bytes,
    *,
    stream: bool = False,
    schemes: frozenset[str] = SUPPORTED_SCHEMES,
    max_size: int = MAX_MESSAGE_SIZE,
) -> Request | Response:
    """Parse one message. `stream`: it came framed from TCP, so Content-Length is required
    and must match exactly; otherwise it is a datagram (extra octets dropped, 18.3).
    A request whose Request-URI scheme is not in `schemes` raises 416 (RFC 3261 8.2.2.1)."""
    data = data.lstrip(b"\r\n")
    is_response = data[:4].upper() == b"SIP/"
    if len(data) > max_size:
        raise SipParseError(f"message of {len(data)} octets", 513, is_response=is_response)
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head, rest = data[:end], data[end + 4 :]
    elif not stream and data.endswith(b"\r\n"):
        head, rest = data[:-2], b""  # a datagram that just lacks the empty line: be liberal
    else:
        raise SipParseError(
            "header section not terminated by an empty line", is_response=is_response
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(
            f"header section is not UTF-8 ({exc.reason})", is_response=is_response
        ) from None
    unfolded = _FOLD.sub(" ", text)
    start_line, *field_lines = unfolded.split("\r\n")
    fields: list[tuple[str, str]] = []
    headers: Headers | None = None
    try:
        if unfolded.count("\r") != len(field_lines):
            raise SipParseError("bare CR in the header section")
        for line in field_lines:
            # what _FIELD_LINE says, without a regex for the names already seen
            name, colon, value = line.partition(":")
            name = name.rstrip(" \t")
            if not colon or "\n" in line or name not in _FIELD_NAMES:
                match = _FIELD_LINE.fullmatch(line)  # no '.' matches a bare LF: refused too
                if match is None:
                    raise SipParseError(f"bad header field line {line!r}")
                if len(_FIELD_NAMES) < _MAX_FIELD_NAMES:
                    _FIELD_NAMES.add(match[1])
            fields.append((name, value.strip(" \t")))
        headers = Headers.from_parsed(fields)
        index = headers.by_key()
        if is_response:
            status, reason = _parse_status_line(start_line)
            _check_fields(index, None)
            message: Request | Response = Response(
                status, reason, headers, _body(index, rest, stream)
            )
        else:
            method, uri = _parse_request_line(start_line)
            _check_fields(index, method)
            message = Request(method, uri, headers, _body(index, rest, stream))
            if uri_scheme(uri) not in schemes:
                raise SipParseError(f"Request-URI scheme of {uri!r}", 416)
    except SipParseError as exc:
        if headers is None:
            headers = Headers.from_parsed(fields)
        raise SipParseError(
            exc.message, exc.status, is_response=is_response, headers=headers
        ) from None
    return message


def _check_version(version: str) -> None:
    if not _VERSION.fullmatch(version):
        raise SipParseError(f"bad SIP-Version {version!r}")
    if version.upper() != SIP_VERSION:
        raise SipParseError(f"SIP version {version!r}", 505)


def _parse_status_line(line: str) -> tuple[int, str]:
    """Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (25.1)."""
    parts = line.split(" ", 2)
    if len(parts) != 3:
        raise SipParseError(f"bad Status-Line {line!r}")
    version, code, reason = parts
    _check_version(version)
    if len(code) != 3 or not code.isascii() or not code.isdigit() or not 100 <= int(code) <= 699:
        raise SipParseError(f"bad Status-Code in {line!r}")
    if not reason.isprintable() and any(ord(char) < 32 and char != "\t" for char in reason):
        raise SipParseError("control character in Reason-Phrase")
    return int(code), reason


def _parse_request_line(line: str) -> tuple[str, str]:
    """Request-Line = Method SP Request-URI SP SIP-Version: single spaces, no LWS (25.1;
    RFC 4475 3.1.2.8-3.1.2.10 allow rejecting extra spaces, so we follow the grammar)."""
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError(f"bad Request-Line {line!r}")
    method, uri, version = parts
    if not set(method) <= TOKEN_CHARS:
        raise SipParseError(f"bad Method in {line!r}")
    _check_version(version)
    if uri_scheme(uri) in ("sip", "sips"):
        if parse_uri(uri).headers:  # 19.1.1: headers are not allowed in a Request-URI
            raise SipParseError(f"URI headers in the Request-URI {uri!r}")
    else:
        check_uri(uri, "Request-URI")
    return method, uri


# (name, lookup key) of the fields 8.1.1 requires and of those that may appear only once
_REQUIRED_KEYS: Final = tuple((name, name.lower()) for name in _REQUIRED)
_SINGLE_KEYS: Final = tuple((name, name.lower()) for name in _SINGLE_VALUED)


def _check_fields(index: Mapping[str, tuple[str, ...]], method: str | None) -> None:
    """The checks of the module docstring, on the header index (lookup key -> the lines'
    values): every message pays for them, so no accessor is used twice."""
    for name, key in _REQUIRED_KEYS:
        if key not in index:
            raise SipParseError(f"missing {name} header field")
    for name, key in _SINGLE_KEYS:
        values = index.get(key)
        if values is not None and len(values) > 1:
            raise SipParseError(f"more than one {name} header field")
    call_id = index["call-id"][0]
    if not _CALL_ID.fullmatch(call_id):
        raise SipParseError(f"bad Call-ID {call_id!r}")
    cseq = parse_cseq(index["cseq"][0])
    if method is not None and cseq.method != method:
        raise SipParseError(f"CSeq method {cseq.method!r} is not {method!r}")
    for line in index["via"]:  # parses (and so checks) every Via value
        for value in split_list(line):
            parse_via(value)
    parse_name_addr(index["from"][0], "From")
    parse_name_addr(index["to"][0], "To")
    for name, key in (("Contact", "contact"), ("Route", "route"), ("Record-Route", "record-route")):
        lines = index.get(key)
        if lines is None:
            continue
        parts = [part for line in lines for part in split_list(line)]
        if key == "contact" and parts == ["*"]:
            continue
        for value in parts:
            parse_name_addr(value, name)
    max_forwards = index.get("max-forwards")
    if max_forwards is not None:
        digits = max_forwards[0].lstrip("0") or "0"
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 3 and int(digits) <= 255):
            raise SipParseError(f"bad Max-Forwards {max_forwards[0]!r}")


def _body(index: Mapping[str, tuple[str, ...]], rest: bytes, stream: bool) -> bytes:
    lengths = index.get("content-length")
    if lengths is None:
        if stream:
            raise SipParseError("Content-Length is required on a stream transport (18.3)")
        return rest
    length_text = lengths[0]
    digits = length_text.lstrip("0") or "0"  # 1*DIGIT: leading zeros are allowed
    if not digits.isascii() or not digits.isdigit() or len(digits) > 9:
        raise SipParseError(f"bad Content-Length {length_text!r}")
    length = int(digits)
    if len(rest) < length:
        raise SipParseError(f"body of {len(rest)} octets, Content-Length says {length}")
    return rest[:length]
