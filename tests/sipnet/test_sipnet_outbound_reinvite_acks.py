"""A carrier's re-INVITE on an outbound leg (telephony/sip/outbound_dialer.py): our 2xx is
resent over UDP until its ACK (RFC 3261 13.3.1.4), matched by dialog and CSeq, and with no
ACK within 64*T1 the leg is ended with a BYE. The carrier is a bare UDP peer (RawPeer)."""

from __future__ import annotations

import asyncio
import contextlib

from sipnet_support import RawPeer, callee_request, offer_sdp, reply
from test_sipnet_outbound_legs import CARRIER_HOST, _dial, _dialer

from helpline.sip.message import Request, Response
from helpline.sip.transaction_base import TimerConfig
from helpline.telephony.sip.outbound import LegOutcome, OutboundLeg
from helpline.telephony.sip.outbound_dialer import Dialer


def _in_dialog(carrier: RawPeer, invite: Request, method: str, cseq: int) -> bytes:
    body = offer_sdp(CARRIER_HOST, 41002) if method == "INVITE" else ""
    return callee_request(carrier, invite, method, cseq=cseq, tag="c1", body=body)


async def _next_ok(carrier: RawPeer) -> tuple[float, Response]:
    """The next 200 the carrier gets (a 100 Trying may come first), with when it came."""
    while True:
        at, message = await carrier.next()
        if isinstance(message, Response) and message.status == 200:
            return at, message


async def _answered_leg(
    carrier: RawPeer, dialer: Dialer, outcomes: asyncio.Queue[LegOutcome]
) -> tuple[Request, OutboundLeg]:
    _, port = carrier.address
    leg = _dial(dialer, port, outcomes)
    invite = await carrier.expect("INVITE")
    assert isinstance(invite, Request)
    carrier.send(reply(invite, 200, tag="c1", body=offer_sdp(CARRIER_HOST, 41000)))
    assert await asyncio.wait_for(outcomes.get(), 5) is LegOutcome.ANSWERED
    assert isinstance(await carrier.expect("ACK"), Request)
    return invite, leg


async def test_our_2xx_to_a_reinvite_is_resent_until_its_ack() -> None:
    carrier = await RawPeer.open(CARRIER_HOST, 5060)
    outcomes: asyncio.Queue[LegOutcome] = asyncio.Queue()
    try:
        async with _dialer() as dialer:
            carrier.server = ("127.0.0.1", dialer.stack.transports.port)
            invite, _leg = await _answered_leg(carrier, dialer, outcomes)
            carrier.send(_in_dialog(carrier, invite, "INVITE", 1))
            first_at, first = await _next_ok(carrier)
            again_at, again = await _next_ok(carrier)  # no ACK yet: the same 2xx, after T1
            assert again.body == first.body and again.cseq == first.cseq
            assert again_at - first_at >= 0.45  # T1 = 0.5 s (a lower bound only)
            assert len(dialer.acks) == 1
            carrier.send(_in_dialog(carrier, invite, "ACK", 1))
            await asyncio.sleep(0.1)
            assert len(dialer.acks) == 0  # matched by dialog and CSeq: nothing more to resend
            after: list[Request | Response] = []
            with contextlib.suppress(TimeoutError):
                while True:
                    after.append((await carrier.next(2.0))[1])
            assert after == []  # no copy after the ACK (the next would have come at 1.5 s)
            assert outcomes.empty()  # the leg goes on
    finally:
        carrier.close()


async def test_no_ack_for_our_2xx_ends_the_leg_with_a_bye() -> None:
    carrier = await RawPeer.open(CARRIER_HOST, 5060)
    outcomes: asyncio.Queue[LegOutcome] = asyncio.Queue()
    try:
        async with _dialer() as dialer:
            dialer.acks.timers = TimerConfig(t1=0.05, t2=0.4)  # 64*T1 = 3.2 s, not 32 s
            carrier.server = ("127.0.0.1", dialer.stack.transports.port)
            invite, leg = await _answered_leg(carrier, dialer, outcomes)
            carrier.send(_in_dialog(carrier, invite, "INVITE", 1))
            assert isinstance(await carrier.expect(200), Response)
            bye = await carrier.expect("BYE", timeout=10)
            assert isinstance(bye, Request) and bye.call_id == leg.call_id
            assert await asyncio.wait_for(outcomes.get(), 5) is LegOutcome.ENDED
            assert len(dialer.acks) == 0
    finally:
        carrier.close()
