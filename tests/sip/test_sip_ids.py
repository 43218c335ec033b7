"""Random identifiers from a pooled read of the kernel's randomness (helpline.sip.ids), and
the parser's shortcut for field names it has seen (it must refuse what the grammar refuses)."""

from __future__ import annotations

import os

import pytest

from helpline.sip import ids
from helpline.sip.errors import SipParseError
from helpline.sip.limits import ADMIT, AbuseLimits, Drop, LimitsPolicy
from helpline.sip.message import parse_message


def test_tokens_are_hex_of_the_length_asked_and_never_repeat() -> None:
    tokens = [ids.token_hex(6) for _ in range(5000)]  # several pool refills
    assert all(len(token) == 12 and int(token, 16) >= 0 for token in tokens)
    assert len(set(tokens)) == len(tokens)
    assert len(ids.token_hex(5000)) == 10000  # more than one pool at once


def test_tokens_are_not_a_counter() -> None:
    first, second = (int(ids.token_hex(8), 16) for _ in range(2))
    assert abs(second - first) > 2**32  # consecutive ids share no predictable structure


def test_session_ids_fit_31_bits() -> None:
    values = [ids.random_below_2_31() for _ in range(2000)]
    assert all(0 <= value < 2**31 for value in values)
    assert max(values) > 2**30  # the top bit of the range is used


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_does_not_hand_out_the_parents_bytes() -> None:
    ids.token_hex(1)  # the pool holds bytes not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(write, ids.token_hex(16).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child != ids.token_hex(16)


_INVITE = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\n"
    "From: <sip:alice@example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize(
    "extra", ["Subject: a\nb\r\n", "Subject : ok\nX\r\n", "Sub ject: a\r\n", "Subject\r\n"]
)
def test_a_known_field_name_does_not_let_a_bad_line_through(extra: str) -> None:
    parse_message(_INVITE.format(extra="Subject: fine\r\n").encode())  # the name is known now
    with pytest.raises(SipParseError) as caught:
        parse_message(_INVITE.format(extra=extra).encode())
    assert caught.value.status == 400


def test_a_known_field_name_with_spaces_before_the_colon_parses() -> None:
    message = parse_message(_INVITE.format(extra="Subject \t: hello \r\n").encode())
    assert message.headers.get("Subject") == "hello"


def test_trusted_sources_stay_trusted_however_many_others_come_and_go() -> None:
    limits = AbuseLimits(LimitsPolicy(trusted=("192.0.2.0/24",), rate_per_s=1, burst=1))
    for n in range(5000):  # more than the per-host cache holds: it starts afresh
        limits.admit(f"10.{n // 250}.{n % 250}.1", None, 0.0)
    assert limits.is_trusted("192.0.2.7") and not limits.is_trusted("10.0.0.1")
    assert all(limits.admit("192.0.2.7", None, 0.0) is ADMIT for _ in range(10))  # no limit
    assert limits.admit("198.51.100.1", None, 0.0) is ADMIT
    assert isinstance(limits.admit("198.51.100.1", None, 0.0), Drop)  # over its burst of 1
