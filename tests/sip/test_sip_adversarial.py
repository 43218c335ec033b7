"""Inputs built to make regular expressions backtrack (long runs of white space, quotes and
brackets that never close, endless parameter lists) cost about what an ordinary input of the
same size costs: no quadratic blow-up that one 64 KB datagram could turn into a stalled
stack. Timed relative to a plain input of equal length, never against a wall-clock bound."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest

from helpline.sip.fields import parse_cseq, parse_name_addr, parse_via
from helpline.sip.framing import StreamFramer
from helpline.sip.headers import split_list
from helpline.sip.message import SipParseError, parse_message
from helpline.sip.uri import parse_uri

SIZE = 30_000
WS = " \t" * (SIZE // 2)
HEAD = (
    b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    b"To: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
)
VALUES = {
    "white space around a token": WS + "a" + WS,
    "tokens then white space": "a" + WS + "b" + WS + "<",
    "quoted display then white space": '"x"' + WS + "y",
    "parameters with white space": "<sip:a@b>" + WS + ";" + WS + "x" + WS + "=" + WS,
    "many empty parameters": "<sip:a@b>" + " ;" * (SIZE // 2),
    "unterminated quoted-pairs": '"' + "\\a" * (SIZE // 2),
    "open quotes and brackets": '"' * (SIZE // 2) + "<" * (SIZE // 2),
    "Via with white space everywhere": "SIP" + WS + "/" + WS + "2.0/UDP" + WS + "h" + WS + ":",
    "long hyphenated host": "sip:a@" + "a-" * (SIZE // 2),
}
PARSERS: list[Callable[[str], object]] = [
    parse_name_addr,
    parse_via,
    split_list,
    parse_uri,
    parse_cseq,
]


def cost(value: str) -> float:
    start = time.perf_counter()
    for parse in PARSERS:
        with contextlib.suppress(SipParseError):
            parse(value)
    return time.perf_counter() - start


def message_cost(extra: bytes) -> float:
    start = time.perf_counter()
    with contextlib.suppress(SipParseError):
        parse_message(HEAD + extra + b"\r\n\r\n", max_size=10**6)
    StreamFramer(max_size=10**6).feed(HEAD + extra.replace(b"X:", b"l:") + b"\r\n\r\n")
    return time.perf_counter() - start


def plain(size: int) -> str:
    return "<sip:a@b>;p=" + "a" * size


@pytest.mark.parametrize("name", sorted(VALUES))
def test_header_values_parse_in_linear_time(name: str) -> None:
    value = VALUES[name]
    baseline = min(cost(plain(len(value))) for _ in range(3))
    assert min(cost(value) for _ in range(3)) < 200 * baseline + 0.05


@pytest.mark.parametrize(
    "extra",
    [b"X: a" + b" " * SIZE + b"b", b"X: a" + b" \t" * (SIZE // 2), b"X" + b" " * SIZE + b"b"],
)
def test_header_lines_parse_in_linear_time(extra: bytes) -> None:
    baseline = min(message_cost(b"X: " + b"a" * len(extra)) for _ in range(3))
    assert min(message_cost(extra) for _ in range(3)) < 200 * baseline + 0.05
