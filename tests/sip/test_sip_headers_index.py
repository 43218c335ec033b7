"""The header lookups' index and the parse caches (bench/bench_sip.py's speedups) change
nothing a caller can see: every lookup after every change answers as a scan of the fields
would, a value splits into the same list elements with or without the shortcuts, and a
cached parse is the same value as a fresh one."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from helpline.sip.fields import parse_name_addr, parse_via
from helpline.sip.headers import LIST_FIELDS, Headers, canonical_name, split_list
from helpline.sip.message import parse_message

# RFC 3261 7.3.1 list elements as the general (regular expression) path finds them
_ELEMENT = re.compile(r'(?:"(?:[^"\\]|\\.)*(?:"|$)|<[^>]*(?:>|$)|[^,"<])+', re.S)


def scanned(headers: Headers, name: str) -> list[str]:
    """What `lines` must answer: the values of `name`'s lines, in order, by a plain scan."""
    key = canonical_name(name).lower()
    return [value for field, value in headers if canonical_name(field).lower() == key]


NAMES = ["Via", "v", "Contact", "m", "To", "t", "Subject", "X-Extra"]
VALUES = st.sampled_from(["a", "b, c", "<sip:x@h>;p=1", "SIP/2.0/UDP h;branch=z9hG4bK1", ""])
OPS = st.lists(
    st.tuples(st.sampled_from(["add", "set", "set_first", "remove", "read"]),
              st.sampled_from(NAMES), VALUES),
    max_size=30,
)  # fmt: skip


@given(OPS)
def test_every_lookup_after_every_change_sees_the_change(ops: list[tuple[str, str, str]]) -> None:
    headers = Headers()
    for op, name, value in ops:
        if op == "add" and value:
            headers.add(name, value)
        elif op == "set" and value:
            headers.set(name, value)
        elif op == "set_first" and value:
            headers.set_first(name, value)
        elif op == "remove":
            headers.remove(name)
        for looked_up in NAMES:
            lines = scanned(headers, looked_up)
            assert headers.lines(looked_up) == lines
            assert headers.count(looked_up) == len(lines)
            assert (looked_up in headers) == bool(lines)
            key = canonical_name(looked_up).lower()
            expected = (
                [p for line in lines for p in split_list(line)] if key in LIST_FIELDS else lines
            )
            assert headers.get_all(looked_up) == expected
            first = next((p for line in lines for p in split_list(line)), None)
            assert headers.get(looked_up) == (first if key in LIST_FIELDS else (lines or [None])[0])


def test_the_lines_handed_out_are_copies() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP a"), ("Via", "SIP/2.0/UDP b")])
    headers.lines("Via").append("SIP/2.0/UDP c")
    headers.get_all("Via").clear()
    assert headers.lines("Via") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b"]


@given(st.text(alphabet=st.sampled_from(list('ab ,<>"\\;=:@')), max_size=40))
def test_split_list_shortcuts_agree_with_the_grammar(value: str) -> None:
    general = [part.strip() for part in _ELEMENT.findall(value) if part.strip()]
    assert split_list(value) == general


def test_a_cached_parse_equals_a_fresh_one_and_a_bad_value_still_raises() -> None:
    text = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcache;rport"
    assert parse_via(text) == parse_via.__wrapped__(text)
    assert parse_name_addr('"A" <sip:a@h>;tag=1', "From").tag == "1"
    for _ in range(2):  # a failure is not remembered as a value
        try:
            parse_via("not a via")
        except Exception as error:
            assert "bad Via" in str(error)
        else:
            raise AssertionError("a bad Via parsed")


def test_a_message_changed_after_reading_reads_the_change() -> None:
    message = parse_message(
        b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        b"From: <sip:a@h>;tag=1\r\nTo: <sip:h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert message.to.tag is None
    message.headers.set("To", "<sip:h>;tag=2")
    assert message.to.tag == "2"
    message.headers.set_first("Via", "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK2")
    assert message.top_via.host == "192.0.2.9"
