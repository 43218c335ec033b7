"""Requests within a call's dialogs besides BYE: re-INVITEs and INFO (issue 7).

- A re-INVITE from the caller (a session refresh, RFC 4028; a codec change) is answered
  with the session as it stands (RFC 3264 8: our answer may stay the same); the media do not
  move: the relay keeps the caller's latched address.
- A re-INVITE from the bridged agent's SIP phone is how a phone's hold key works (RFC 3264
  8.4): an offer with a=sendonly or a=inactive (or RFC 2543's c=0.0.0.0) puts the call on
  hold in the engine (`HoldRequested`: the caller hears hold music, `SetHold`), one with
  a=sendrecv again takes it off (`ResumeRequested`). Our answer mirrors the offer's
  direction (recvonly for sendonly, 6.1), keeps the leg's codec and grows our o= version.
  A phone whose media moved (a new address in a sendrecv offer) is relatched.
- INFO carries keys (application/dtmf-relay, application/dtmf): what trunks and phones
  without RFC 4733 send. Another INFO body: 415 (RFC 6086 4.2.2).

A request of no dialog of ours: 481 (12.2.2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from helpline.core import events as ev
from helpline.sip.message import Request, Response, make_response
from helpline.sip.sdp import SdpError, is_hold, make_answer, parse_sdp
from helpline.sip.server_transaction import ServerTransaction
from helpline.telephony.sip.legs import AgentLeg, SipCall, info_digits, new_tag
from helpline.telephony.sip.stack import SipStack

log = logging.getLogger("helpline.sip")

Post = Callable[[str, ev.Event], None]
_UNSPECIFIED = ("0.0.0.0", "::")  # RFC 2543 hold: no address to send to


class InDialogRequests:
    """Mixed into the B2BUA."""

    stack: SipStack
    host: str
    post: Post
    _by_sip_call_id: dict[str, SipCall]

    def _contact(self, transport: str) -> str:
        raise NotImplementedError  # AgentSide's

    def on_reinvite(self, transaction: ServerTransaction, invite: Request) -> None:
        call = self._by_sip_call_id.get(invite.call_id)
        if call is not None and invite.call_id != call.caller.invite.call_id:
            leg = next(
                (leg for leg in call.agents.values() if leg.invite.call_id == invite.call_id),
                None,
            )
            if leg is not None and leg.answered and not leg.ended and not call.ended:
                self._agent_reinvite(transaction, invite, call, leg)
                return
        caller = call.caller if call is not None else None
        if caller is None or invite.call_id != caller.invite.call_id or caller.ok is None:
            self.stack.respond(transaction, make_response(invite, 481))
            return
        self._respond_sdp(transaction, invite, caller.source.transport, caller.ok.body)

    def _respond_sdp(
        self, transaction: ServerTransaction, invite: Request, transport: str, sdp: bytes
    ) -> None:
        ok = make_response(invite, 200)
        ok.headers.add("Contact", self._contact(transport))
        ok.headers.add("Content-Type", "application/sdp")
        self.stack.respond(transaction, Response(200, "OK", ok.headers, sdp))

    def _agent_reinvite(
        self, transaction: ServerTransaction, invite: Request, call: SipCall, leg: AgentLeg
    ) -> None:
        session = leg.session
        if session is None or call.media is None:
            self.stack.respond(transaction, make_response(invite, 488))
            return
        leg.sdp_version += 1
        try:
            if not invite.body:
                raise SdpError("a re-INVITE without an offer", status=488)
            offer = parse_sdp(invite.body)
            answer, agreed = make_answer(
                offer,
                self.host,
                call.media.agent_port,
                session_id=leg.offer.origin.session_id,
                version=leg.sdp_version,
                codecs=(session.codec,),  # the relay passes packets as the caller sends them
            )
        except SdpError as error:
            # Offer-less re-INVITEs (RFC 3261 14.2) are rare from phones: refused, the call
            # goes on as it was (488 keeps the session, RFC 3264 8).
            log.info("call %s: agent %s's re-INVITE refused: %s", call.call_id, leg.agent_id, error)
            self.stack.respond(transaction, make_response(invite, error.status))
            return
        held = is_hold(offer)
        if not held and agreed.remote_address not in _UNSPECIFIED:
            moved = (agreed.remote_address, agreed.remote_port) != (
                session.remote_address,
                session.remote_port,
            )
            leg.session = agreed
            if moved and call.bridged == leg.agent_id and call.media.mode == "relay":
                call.media.relay.relatch("b", (agreed.remote_address, agreed.remote_port))
        self._respond_sdp(
            transaction, invite, leg.destination.transport, answer.serialize().encode()
        )
        if call.bridged != leg.agent_id or held == leg.on_hold:
            return
        leg.on_hold = held
        if held and not call.held:
            self.post(call.tenant_id, ev.HoldRequested(call_id=call.call_id))
        elif not held and call.held:
            self.post(call.tenant_id, ev.ResumeRequested(call_id=call.call_id))

    def on_info(self, transaction: ServerTransaction, info: Request) -> None:
        call = self._by_sip_call_id.get(info.call_id)
        if call is None or info.call_id != call.caller.invite.call_id:
            self.stack.respond(transaction, make_response(info, 481, to_tag=new_tag()))
            return
        digits = info_digits(info)
        if digits is None:
            self.stack.respond(transaction, make_response(info, 415))
            return
        self.stack.respond(transaction, make_response(info, 200))
        if digits and not call.ended:
            self.post(call.tenant_id, ev.DigitsPressed(call_id=call.call_id, digits=digits))
