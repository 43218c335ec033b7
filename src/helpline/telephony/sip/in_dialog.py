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

Glare (RFC 3261 14.2, `reinvites.crossing`): a re-INVITE from the phone while our INVITE
or re-INVITE to it awaits its answer gets 491; one from the caller before we answered its
INVITE, 500 with Retry-After. Our 2xx to a re-INVITE is resent until its ACK, and with no
ACK in 64*T1 the call ends as a failed leg ("no_ack", 13.3.1.4; `reinvites.AwaitedAcks`).

A request of no dialog of ours: 481 (12.2.2).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from helpline.core import events as ev
from helpline.sip.message import Request, Response, make_response
from helpline.sip.sdp import SdpError, is_hold, make_answer, parse_sdp
from helpline.sip.server_transaction import ServerTransaction
from helpline.telephony.sip.legs import AgentLeg, SipCall, info_digits, new_tag
from helpline.telephony.sip.reinvites import AwaitedAcks, crossing
from helpline.telephony.sip.stack import SipStack

log = logging.getLogger("helpline.sip")

Post = Callable[[str, ev.Event], None]
_UNSPECIFIED = ("0.0.0.0", "::")  # RFC 2543 hold: no address to send to


class InDialogRequests:
    """Mixed into the B2BUA."""

    stack: SipStack
    host: str
    post: Post
    rng: random.Random
    acks: AwaitedAcks
    _by_sip_call_id: dict[str, SipCall]

    def _contact(self, transport: str) -> str:
        raise NotImplementedError  # AgentSide's

    def _end_agent_leg(self, leg: AgentLeg) -> None:
        raise NotImplementedError  # AgentSide's

    def _bye_caller(self, call: SipCall) -> None:
        raise NotImplementedError  # the B2BUA's

    def _hung_up(self, call: SipCall, party: ev.Party, reason: str) -> None:
        raise NotImplementedError  # the B2BUA's

    def _caller_confirmed(self, call: SipCall) -> None:
        raise NotImplementedError  # the B2BUA's

    def on_reinvite(self, transaction: ServerTransaction, invite: Request) -> None:
        call = self._by_sip_call_id.get(invite.call_id)
        # Our 2xx carried an offer (the caller's INVITE had none) whose answer comes in the
        # ACK only (13.2.1): while it has not come, that 2xx is resent, so the caller, who
        # resends its ACK for each one, can still give it, re-INVITE or not.
        answer_awaited = (
            call is not None
            and invite.call_id == call.caller.invite.call_id
            and call.caller.answered
            and call.session is None
        )
        if not answer_awaited:
            self.acks.arrived(invite)
        if call is not None and invite.call_id != call.caller.invite.call_id:
            leg = next(
                (leg for leg in call.agents.values() if leg.invite.call_id == invite.call_id),
                None,
            )
            if leg is not None and not leg.ended and not call.ended:
                # our INVITE to the phone, or our re-INVITE in it, still awaits its answer
                pending = leg.reinviting or not leg.answered
                refused = crossing(invite, ours_pending=pending, theirs_pending=False, rng=self.rng)
                if refused is not None:
                    self.stack.respond(transaction, refused)
                else:
                    self._agent_reinvite(transaction, invite, call, leg)
                return
        caller = call.caller if call is not None else None
        if (
            call is not None
            and caller is not None
            and invite.call_id == caller.invite.call_id
            and invite.to.tag == caller.tag
            and caller.answered
            and not caller.acked
            and not answer_awaited
            and invite.cseq.number > caller.invite.cseq.number
        ):
            self._caller_confirmed(call)  # our 2xx reached it, only its ACK was lost (14.1)
        if (
            call is None
            or caller is None
            or invite.call_id != caller.invite.call_id
            or invite.to.tag != caller.tag
            or caller.ended
        ):
            self.stack.respond(transaction, make_response(invite, 481))
            return
        if caller.ok is None:  # the caller's INVITE is not answered yet (its early dialog)
            refused = crossing(invite, ours_pending=False, theirs_pending=True, rng=self.rng)
            assert refused is not None
            self.stack.respond(transaction, refused)
            return

        def no_ack() -> None:
            if not caller.ended:
                self._bye_caller(call)
            self._hung_up(call, ev.Party.SYSTEM, "no_ack")

        self._respond_sdp(transaction, invite, caller.source.transport, caller.ok.body, no_ack)

    def _respond_sdp(
        self,
        transaction: ServerTransaction,
        invite: Request,
        transport: str,
        sdp: bytes,
        on_no_ack: Callable[[], None],
    ) -> None:
        """Our 2xx with `sdp`, resent until its ACK (13.3.1.4; `reinvites.AwaitedAcks`)."""
        ok = make_response(invite, 200)
        ok.headers.add("Contact", self._contact(transport))
        ok.headers.add("Content-Type", "application/sdp")
        response = Response(200, "OK", ok.headers, sdp)
        source = self.stack.source_of(transaction)
        self.stack.respond(transaction, response)
        reliable = source.reliable if source is not None else transport != "UDP"
        self.acks.answered(transaction, response, reliable=reliable, on_no_ack=on_no_ack)

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

        def no_ack() -> None:
            self._end_agent_leg(leg)  # its BYE
            self._hung_up(call, ev.Party.SYSTEM, "no_ack")

        self._respond_sdp(
            transaction, invite, leg.destination.transport, answer.serialize().encode(), no_ack
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
