"""Structured header values: name-addr (From, To, Contact, Route), Via, CSeq, parameters.

The grammar is RFC 3261 section 25.1: SEMI, EQUAL, COLON, SLASH allow linear white space on
both sides, display names are tokens or a quoted-string with quoted-pairs, and a URI that is
not in angle brackets ends at the first ';' (its parameters are the header's, 20.10).
Parameter names are lower-cased (compared case-insensitively, 7.3.1); quoted values are kept
with their quotes so they serialize unchanged.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from helpline.core.plain import freeze_interpreted
from helpline.sip.errors import SipParseError
from helpline.sip.uri import SipUri, is_absolute_uri, parse_host, parse_uri, uri_scheme

TOKEN_CHARS: Final = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
MAX_CSEQ: Final = 2**32 - 1  # RFC 3261 8.1.1.5: the sequence number is a 32-bit unsigned integer


# RFC 3261 25.1 as regular expressions, over unfolded text (LWS is spaces and tabs only).
_SWS: Final = r"[ \t]*"
_TOKEN: Final = r"[A-Za-z0-9\-.!%*_+`'~]+"
_QDTEXT: Final = r"[ \t!#-\[\]-~\u0080-\U0010ffff]"
_QUOTED_PAIR: Final = r"\\[\x00-\x09\x0b\x0c\x0e-\x7f]"
_QUOTED: Final = rf'"(?:{_QDTEXT}|{_QUOTED_PAIR})*"'
# gen-value = token / host / quoted-string; a Via's received may be a bare IPv6address (20.42)
_GEN_VALUE: Final = rf"(?:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*|{_TOKEN}|{_QUOTED}|\[[0-9A-Fa-f:.]+\])"
_PARAM: Final = rf"{_SWS};{_SWS}({_TOKEN})(?:{_SWS}={_SWS}({_GEN_VALUE}))?"
_PARAM_RE: Final = re.compile(_PARAM)
_PARAMS_RE: Final = re.compile(rf"(?:{_PARAM})*{_SWS}")
# Matched against stripped text, so only one run of white space can sit in any one place:
# two adjacent `[ \t]*` would make a long run of spaces cost quadratic backtracking.
_NAME_ADDR_RE: Final = re.compile(
    rf"(?:({_QUOTED})|((?:{_TOKEN}(?:[ \t]+{_TOKEN})*)?)){_SWS}<([^<>\s\"]*)>(.*)", re.S
)
_ADDR_SPEC_RE: Final = re.compile(r"([^;]*)(.*)", re.S)  # greedy and unambiguous: no backtracking
_VIA_RE: Final = re.compile(
    rf"{_SWS}({_TOKEN}){_SWS}/{_SWS}({_TOKEN}){_SWS}/{_SWS}({_TOKEN})[ \t]+"
    rf"([A-Za-z0-9\-.]+|\[[0-9A-Fa-f:.]+\])(?:{_SWS}:{_SWS}([0-9]{{1,5}}))?(.*)",
    re.S,
)


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """`*( SEMI generic-param )` and nothing else; names lower-cased, values kept raw."""
    if not _PARAMS_RE.fullmatch(text):
        raise SipParseError(f"bad parameters in {what}: {text!r}")
    return {match[1].lower(): match[2] for match in _PARAM_RE.finditer(text)}


def unquote(quoted: str) -> str:
    """The content of a quoted-string, quoted-pairs resolved."""
    inner = quoted[1:-1]
    out: list[str] = []
    index = 0
    while index < len(inner):
        if inner[index] == "\\" and index + 1 < len(inner):
            index += 1
        out.append(inner[index])
        index += 1
    return "".join(out)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_params(params: dict[str, str | None]) -> str:
    return "".join(
        f";{name}" if value is None else f";{name}={value}" for name, value in params.items()
    )


def check_uri(uri: str, what: str) -> None:
    """sip/sips URIs must follow 19.1; other schemes only the generic absoluteURI syntax."""
    if uri_scheme(uri) in ("sip", "sips"):
        _check_sip_uri(uri)
    elif not is_absolute_uri(uri):
        raise SipParseError(f"bad URI in {what}: {uri!r}")


@lru_cache(maxsize=4096)
def _check_sip_uri(uri: str) -> bool:
    """Validation only, so caching it shares nothing mutable; the same URIs come back in
    every message of a call (and a failure raises, which lru_cache does not keep)."""
    return bool(parse_uri(uri))


@dataclass(init=False, unsafe_hash=True)
class NameAddr:
    """`[display-name] <uri> *(;param)` or `addr-spec *(;param)` (From, To, Contact...)."""

    display: Final[str | None]
    uri: Final[str]
    params: Final[dict[str, str | None]]

    def __init__(
        self, display: str | None, uri: str, params: dict[str, str | None] | None = None
    ) -> None:
        self.display = display
        self.uri = uri
        self.params = {} if params is None else params

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def sip_uri(self) -> SipUri:
        return parse_uri(self.uri)

    def with_params(self, **params: str | None) -> NameAddr:
        return NameAddr(self.display, self.uri, {**self.params, **params})

    def __str__(self) -> str:
        display = f"{quote(self.display)} " if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


# The parsed values below are cached by their text: one message's fields are read several
# times (the parser's checks, the transaction layer, the Via rules, the TU) and a dialog's
# From, To and Contact recur in every message of the call. What comes back is shared, so it
# is never changed in place (`with_params` makes a new one); a value that fails to parse
# raises, and lru_cache keeps no exception.
_PARSED_CACHE_SIZE: Final = 8192


@lru_cache(maxsize=_PARSED_CACHE_SIZE)
def parse_name_addr(value: str, what: str = "name-addr") -> NameAddr:
    """`name-addr` or `addr-spec`, then header parameters (From, To, Contact, Route...)."""
    value = value.strip(" \t")
    match = _NAME_ADDR_RE.fullmatch(value)
    if match:
        quoted, tokens, uri, tail = match.groups()
        display = unquote(quoted) if quoted is not None else (" ".join(tokens.split()) or None)
    else:
        # addr-spec: the URI ends at the first ';'; one holding ',' or '?' needs <> (20.10)
        spec = _ADDR_SPEC_RE.fullmatch(value)
        assert spec is not None  # the pattern matches any text
        display, (uri, tail) = None, spec.groups()
        uri = uri.strip(" \t")
        if any(char in uri for char in ' \t<>"'):
            raise SipParseError(f"bad {what} (display name or <URI>): {value!r}")
        if "," in uri or "?" in uri:
            raise SipParseError(f"bad {what} (a URI with ',' or '?' needs <>): {value!r}")
    if not uri:
        raise SipParseError(f"bad {what} (empty URI): {value!r}")
    check_uri(uri, what)
    return NameAddr(display, uri, parse_params(tail, what))


@dataclass(init=False, unsafe_hash=True)
class Via:
    """One Via value (RFC 3261 20.42, 18.2.1 for received/rport, RFC 3581)."""

    transport: Final[str]
    host: Final[str]
    port: Final[int | None]
    params: Final[dict[str, str | None]]
    protocol: Final[str]

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        protocol: str = "SIP/2.0",
    ) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.params = {} if params is None else params
        self.protocol = protocol

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The rport value a proxy filled in; None when absent or only requested."""
        value = self.params.get("rport")
        return int(value) if value and value.isdigit() else None

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **params: str | None) -> Via:
        return Via(self.transport, self.host, self.port, {**self.params, **params}, self.protocol)

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


@lru_cache(maxsize=_PARSED_CACHE_SIZE)
def parse_via(value: str) -> Via:
    """`sent-protocol LWS sent-by *( SEMI via-params )` (RFC 3261 20.42, 25.1)."""
    match = _VIA_RE.fullmatch(value)
    if not match:
        raise SipParseError(f"bad Via: {value!r}")
    name, version, transport, host_text, port_text, tail = match.groups()
    host, port = parse_host(host_text if port_text is None else f"{host_text}:{port_text}")
    params = parse_params(tail, "Via")
    for key in ("ttl", "rport"):
        number = params.get(key)
        if number is not None and not (
            number.isdigit() and len(number) <= 5 and int(number) <= 65535
        ):
            raise SipParseError(f"bad {key} in Via: {value!r}")
    return Via(transport.upper(), host, port, params, f"{name.upper()}/{version}")


@dataclass(init=False, unsafe_hash=True)
class CSeq:
    number: Final[int]
    method: Final[str]

    def __init__(self, number: int, method: str) -> None:
        self.number = number
        self.method = method

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@lru_cache(maxsize=_PARSED_CACHE_SIZE)
def parse_cseq(value: str) -> CSeq:
    """`1*DIGIT LWS Method`, the number below 2**32 (RFC 4475 3.1.2.4)."""
    parts = value.split()
    if len(parts) != 2:
        raise SipParseError(f"bad CSeq: {value!r}")
    number_text, method = parts
    if not number_text.isascii() or not number_text.isdigit() or len(number_text) > 12:
        raise SipParseError(f"bad CSeq number: {value!r}")
    if len(number_text) > 12 or int(number_text) > MAX_CSEQ:
        raise SipParseError(f"CSeq number above 2**32-1: {value!r}")
    if not method or not set(method) <= TOKEN_CHARS:
        raise SipParseError(f"bad CSeq method: {value!r}")
    return CSeq(int(number_text), method)


# Read on every message: native classes (built in C when compiled, `core/plain.py` says
# why), as read-only as frozen dataclasses.
freeze_interpreted(NameAddr, Via, CSeq)
