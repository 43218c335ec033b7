"""The SIP stack's values stay read-only and comparable whatever builds them (issue 7).

Messages, their parsed fields, URIs, dialogs and the transactions' inputs and commands are
plain classes with `Final` fields (compiled to native classes, built in C: a frozen
dataclass's generated `__init__` ran as Python for each of the hundreds a call makes). These
tests hold them to what the frozen dataclasses promised: no field can be set or deleted,
compiled or run as Python; equality is by type and fields; positional and keyword
construction agree; defaults are fresh per instance; `dataclasses.replace` makes a new one.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Any

import pytest

from helpline.sip.dialog import Dialog, DialogId, DialogState
from helpline.sip.fields import CSeq, NameAddr, Via
from helpline.sip.headers import Headers
from helpline.sip.message import Request, Response, make_response, parse_message
from helpline.sip.transaction_base import (
    CancelTimer,
    DeliverToTU,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    SendResponse,
    Start,
    StartTimer,
    Terminated,
    TerminationReason,
    Timer,
    TimerFired,
    TransportFailed,
)
from helpline.sip.uri import SipUri, parse_uri

INVITE = (
    b"INVITE sip:100@helpline.test SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:alice@192.0.2.1>;tag=1928301774\r\n'
    b"To: <sip:100@helpline.test>\r\n"
    b"Call-ID: a84b4c76e66710@192.0.2.1\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.1:5060>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def _invite() -> Request:
    message = parse_message(INVITE)
    assert isinstance(message, Request)
    return message


def _values() -> list[Any]:
    invite = _invite()
    ok = make_response(invite, 200, to_tag="ours")
    dialog = Dialog.as_uas(invite, "ours")
    return [
        invite,
        ok,
        invite.top_via,
        invite.from_,
        invite.cseq,
        parse_uri(invite.uri),
        dialog,
        dialog.id,
        Start(),
        ResponseReceived(ok),
        RequestReceived(invite),
        SendResponse(ok),
        TimerFired(Timer.A),
        TransportFailed("refused"),
        SendMessage(invite),
        StartTimer(Timer.E, 0.5),
        CancelTimer(Timer.E),
        DeliverToTU(ok),
        Terminated(),
    ]


@pytest.mark.parametrize("value", _values(), ids=lambda v: type(v).__name__)
def test_no_field_can_be_set_added_or_deleted(value: Any) -> None:
    names = [field.name for field in dataclasses.fields(value)]
    for name in names:
        with pytest.raises(AttributeError):  # its own value: only read-only refuses it
            setattr(value, name, getattr(value, name))
        with pytest.raises(AttributeError):
            delattr(value, name)
    with pytest.raises(AttributeError):
        value.not_a_field = 1


def test_a_message_keeps_its_header_fields_as_a_field() -> None:
    """Request and Response take `headers` from their shared base: it must still be a field
    (equality, repr) and still be read-only."""
    invite = _invite()
    assert [f.name for f in dataclasses.fields(invite)] == ["headers", "method", "uri", "body"]
    assert [f.name for f in dataclasses.fields(Response)] == ["headers", "status", "reason", "body"]
    assert invite == _invite()
    other = parse_message(INVITE.replace(b"CSeq: 314159", b"CSeq: 314160"))
    assert invite != other  # they differ only in a header field
    assert "a84b4c76e66710@192.0.2.1" in repr(invite)
    assert (invite.call_id, invite.cseq, invite.from_.tag) == (
        "a84b4c76e66710@192.0.2.1",
        CSeq(314159, "INVITE"),
        "1928301774",
    )


def test_values_equal_only_their_own_type() -> None:
    assert ResponseReceived(_values()[1]) != SendResponse(_values()[1])
    assert TimerFired(Timer.E) != CancelTimer(Timer.E)
    assert CancelTimer(Timer.E) == CancelTimer(Timer.E)
    assert hash(StartTimer(Timer.E, 0.5)) == hash(StartTimer(Timer.E, 0.5))
    assert CSeq(1, "INVITE") != CSeq(1, "BYE")
    assert DialogId("c", "a", "b") != DialogId("c", "b", "a")
    assert len({DialogId("c", "a", "b"), DialogId("c", "a", "b")}) == 1  # a dict key


def test_positional_and_keyword_construction_agree_with_the_defaults() -> None:
    assert Via("UDP", "h") == Via(transport="UDP", host="h", port=None, params={})
    assert Via("UDP", "h").protocol == "SIP/2.0"
    assert NameAddr(None, "sip:a@h") == NameAddr(display=None, uri="sip:a@h", params={})
    assert SipUri("sip", "a", None, "h") == SipUri(
        scheme="sip", user="a", password=None, host="h", port=None, params={}, headers={}
    )
    assert Request("OPTIONS", "sip:h", Headers()).body == b""
    assert Response(200, "OK", Headers()).body == b""
    assert Terminated().reason is TerminationReason.NORMAL
    assert TransportFailed().detail == ""
    # a default dict is each instance's own (a shared one would leak parameters between them)
    assert Via("UDP", "h").params is not Via("UDP", "h").params
    assert NameAddr(None, "sip:a@h").params is not NameAddr(None, "sip:a@h").params


def test_a_dialog_moves_on_only_into_a_new_dialog() -> None:
    dialog = Dialog.as_uas(_invite(), "ours")
    confirmed = dataclasses.replace(dialog, state=DialogState.EARLY, remote_seq=7)
    assert (confirmed.state, confirmed.remote_seq) == (DialogState.EARLY, 7)
    assert (dialog.state, dialog.remote_seq) == (DialogState.CONFIRMED, 314159)
    assert confirmed.id is dialog.id and confirmed.secure is dialog.secure is False
    uri = parse_uri("sip:bob@h;transport=tcp?subject=x")
    bare = dataclasses.replace(uri, headers={})
    assert (str(bare), str(uri)) == ("sip:bob@h;transport=tcp", "sip:bob@h;transport=tcp?subject=x")


def test_sip_values_stay_read_only_when_run_as_python() -> None:
    """Compiled (the build CI tests), `Final` fields are read-only in C; run as Python,
    `plain.freeze_interpreted` must refuse the same writes, in a process of its own."""
    script = f"""
import dataclasses
from helpline.compiled import BUILD
from helpline.sip.message import parse_message
from helpline.sip.dialog import Dialog
from helpline.sip.transaction_base import StartTimer, Timer
assert not BUILD.compiled, BUILD
invite = parse_message({INVITE!r})
dialog = Dialog.as_uas(invite, "ours")
targets = (
    (invite, "headers"), (invite, "method"), (invite, "extra"), (invite.top_via, "host"),
    (invite.from_, "params"), (invite.cseq, "number"), (dialog, "remote_seq"),
    (dialog.id, "call_id"), (StartTimer(Timer.E, 0.5), "delay"),
)
for target, name in targets:
    try:
        setattr(target, name, 9)
    except AttributeError:
        continue
    raise SystemExit(f"{{type(target).__name__}}.{{name}} was changed")
try:
    del invite.uri
except AttributeError:
    pass
else:
    raise SystemExit("Request.uri was deleted")
assert dataclasses.replace(dialog, remote_seq=1).remote_seq == 1
assert [f.name for f in dataclasses.fields(invite)] == ["headers", "method", "uri", "body"]
print("read-only")
"""
    env = {**os.environ, "HELPLINE_PURE_PYTHON": "1"}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "read-only"
