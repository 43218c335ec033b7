"""The re-INVITE rules of `helpline.telephony.sip.reinvites` (RFC 3261 13.3.1.4, 14.1, 14.2)
on a stack that only records what it is asked to send, with a short T1 so the timers run
in milliseconds; and the B2BUA's 500 to a re-INVITE in a caller's unanswered dialog."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from helpline.core import events as ev
from helpline.sip.message import Request, Response, parse_message
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import Start, TimerConfig
from helpline.telephony.sip.calls import B2BUA
from helpline.telephony.sip.reinvites import AwaitedAcks, crossing, retry_delay
from helpline.telephony.sip.transport import Source

T = TimerConfig(t1=0.02, t2=0.08)  # 64*T1 = 1.28 s


def _request(method: str, cseq: int, *, to_tag: str = "ours", from_tag: str = "theirs") -> Request:
    text = (
        f"{method} sip:helpline@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK{method}{cseq}{to_tag}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:caller@127.0.0.2>;tag={from_tag}\r\n"
        f"To: <sip:100@127.0.0.1>{';tag=' + to_tag if to_tag else ''}\r\n"
        "Call-ID: dialog-1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:caller@127.0.0.2>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


class Recorder:
    """What `AwaitedAcks` and the B2BUA need of a `SipStack`: responses are recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, Response]] = []

        class Layer:
            timers = T

        self.layer = Layer()

    def respond(self, transaction: Any, response: Response) -> None:
        self.sent.append((asyncio.get_running_loop().time(), response))

    def source_of(self, transaction: Any) -> Source | None:
        return None

    def clock(self) -> float:
        return 0.0


def _transaction(request: Request) -> ServerTransaction:
    transaction = ServerTransaction(request, reliable=False)
    transaction.handle(Start())
    return transaction


def _ok(invite: Request) -> Response:
    return Response(200, "OK", invite.headers)


def test_crossing_gives_491_for_ours_and_500_with_retry_after_for_theirs() -> None:
    rng = random.Random(7)
    invite = _request("INVITE", 2)
    assert crossing(invite, ours_pending=False, theirs_pending=False, rng=rng) is None
    pending = crossing(invite, ours_pending=True, theirs_pending=True, rng=rng)
    assert pending is not None and (pending.status, pending.reason) == (491, "Request Pending")
    waits = set()
    for _ in range(200):
        refused = crossing(invite, ours_pending=False, theirs_pending=True, rng=rng)
        assert refused is not None and refused.status == 500
        waits.add(int(refused.headers.get("Retry-After") or "-1"))
    assert waits == set(range(11))  # 0 to 10 s, chosen at random


def test_a_491_d_reinvite_waits_longer_for_the_call_id_s_owner() -> None:
    rng = random.Random(3)
    owner = [retry_delay(owner=True, rng=rng) for _ in range(500)]
    other = [retry_delay(owner=False, rng=rng) for _ in range(500)]
    assert min(owner) >= 2.1 and max(owner) <= 4.0 and max(owner) - min(owner) > 1.5
    assert min(other) >= 0.0 and max(other) <= 2.0 and max(other) - min(other) > 1.5


async def test_our_2xx_is_resent_doubling_to_t2_until_its_ack() -> None:
    stack = Recorder()
    acks = AwaitedAcks(stack, T)  # type: ignore[arg-type]
    invite = _request("INVITE", 2)
    acks.answered(_transaction(invite), _ok(invite), reliable=False, on_no_ack=lambda: None)
    start = asyncio.get_running_loop().time()
    while len(stack.sent) < 6:
        await asyncio.sleep(0.01)
    times = [when - start for when, _ in stack.sent]
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert gaps[0] >= T.t1 and gaps[1] >= 2 * T.t1 and gaps[2] >= T.t2  # 0.02, 0.04, 0.08
    assert gaps[4] / gaps[3] < 1.5  # capped at T2 (doubling on would make it 2)
    # an ACK of another CSeq, or of another dialog, is not this one's
    assert not acks.ack(_request("ACK", 1))
    assert not acks.ack(_request("ACK", 2, to_tag="other"))
    assert acks.ack(_request("ACK", 2))
    sent = len(stack.sent)
    await asyncio.sleep(0.2)
    assert len(stack.sent) == sent and len(acks) == 0


async def test_no_ack_in_64_t1_ends_the_session_and_a_connection_gets_no_copies() -> None:
    stack = Recorder()
    acks = AwaitedAcks(stack, T)  # type: ignore[arg-type]
    ended = asyncio.get_running_loop().create_future()
    invite = _request("INVITE", 2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    acks.answered(
        _transaction(invite), _ok(invite), reliable=True, on_no_ack=lambda: ended.set_result(1)
    )
    await asyncio.wait_for(ended, 5)
    assert loop.time() - start >= 64 * T.t1 - 0.01
    assert stack.sent == []  # over TCP/TLS the 2xx went once, through the transaction
    assert len(acks) == 0


async def test_a_newer_reinvite_or_the_dialog_s_end_stops_the_copies() -> None:
    stack = Recorder()
    acks = AwaitedAcks(stack, T)  # type: ignore[arg-type]
    ended: list[int] = []
    first, second = _request("INVITE", 2), _request("INVITE", 3)
    acks.answered(
        _transaction(first), _ok(first), reliable=False, on_no_ack=lambda: ended.append(2)
    )
    acks.arrived(_request("INVITE", 2, from_tag="stranger"))  # another dialog: no effect
    assert len(acks) == 1
    acks.arrived(second)  # the peer got our 2xx to CSeq 2, only its ACK was lost
    assert len(acks) == 0
    acks.answered(
        _transaction(second), _ok(second), reliable=False, on_no_ack=lambda: ended.append(3)
    )
    acks.drop("dialog-1")  # a BYE either way
    await asyncio.sleep(64 * T.t1 + 0.2)
    assert ended == [] and len(acks) == 0 and len(stack.sent) == 0


async def test_a_reinvite_before_the_caller_is_answered_gets_500_with_retry_after(
    tmp_path: Path,
) -> None:
    stack = Recorder()
    posted: list[ev.Event] = []
    b2bua = B2BUA(
        stack,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        lambda tenant, event: posted.append(event),
        host="127.0.0.1",
        media_host="127.0.0.1",
        prompts=lambda: pytest.fail("no prompt is played"),
        recordings=lambda tenant, call: tmp_path / f"{call}.wav",
    )
    try:
        invite = _request("INVITE", 1, to_tag="")
        b2bua.on_invite("acme", _transaction(invite), invite, Source("UDP", "127.0.0.2", 5060))
        ringing = stack.sent[-1][1]
        assert ringing.status == 180
        tag = ringing.to.tag or ""
        stranger = _request("INVITE", 2, to_tag="not-ours")
        b2bua.on_reinvite(_transaction(stranger), stranger)
        assert stack.sent[-1][1].status == 481  # not our tag: no dialog of ours (12.2.2)
        reinvite = _request("INVITE", 2, to_tag=tag)
        b2bua.on_reinvite(_transaction(reinvite), reinvite)
        refused = stack.sent[-1][1]
        assert refused.status == 500
        assert 0 <= int(refused.headers.get("Retry-After") or "-1") <= 10
        assert [type(event) for event in posted] == [ev.CallArrived]  # the call goes on
    finally:
        b2bua.close()
