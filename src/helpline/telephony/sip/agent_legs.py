"""The B side of the B2BUA: ringing agents' SIP phones for a call (issue 7 point 3).

`OfferCall` to an agent whose phone is registered sends an INVITE to its freshest binding
(`phone_destination`: the phone itself, or the flow its REGISTER came on when it is behind
NAT), offering the caller's codec so the relay passes packets untouched. A 2xx is ACKed
(every one, 13.2.2.4) and becomes `OfferAnswered`; a final failure or a dead transaction
`OfferRejected`. The answer's SDP is kept on the leg until `Bridge` joins the media.
`CancelOffer` CANCELs (once a provisional response came, 9.1), or ACKs and
BYEs a phone that answered meanwhile. The engine's hold and resume reach the bridged phone as
our re-INVITEs, one at a time; one refused 491 (the phone's crossed it, RFC 3261 14.1) goes
again 2.1-4 s later if that state is still wanted. The leg-A side is `calls.B2BUA`, which
inherits this.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from helpline.core import events as ev
from helpline.sip import ids
from helpline.sip.client_transaction import ClientTransaction, build_cancel
from helpline.sip.dialog import Dialog
from helpline.sip.message import Response
from helpline.sip.registrar import Registrar, account_username
from helpline.sip.sdp import Direction, SdpError, accept_answer, make_offer, parse_sdp
from helpline.telephony.sip.legs import (
    AgentLeg,
    SipCall,
    agent_invite,
    new_branch,
    phone_destination,
)
from helpline.telephony.sip.reinvites import AwaitedAcks, retry_delay
from helpline.telephony.sip.stack import SipStack
from helpline.telephony.sip.transport import Source, transport_param

log = logging.getLogger("helpline.sip")

Post = Callable[[str, ev.Event], None]


class AgentSide:
    stack: SipStack
    registrar: Registrar
    post: Post
    host: str
    rng: random.Random
    acks: AwaitedAcks  # our 2xx answers to re-INVITEs, until their ACKs
    _by_sip_call_id: dict[str, SipCall]
    _legs: dict[int, tuple[SipCall, AgentLeg]]

    def _via(self, transport: str) -> str:
        return f"SIP/2.0/{transport} {self.host}:{self.stack.transports.port_for(transport)};rport"

    def _contact(self, transport: str) -> str:
        port, suffix = self.stack.transports.port_for(transport), transport_param(transport)
        return f"<sip:helpline@{self.host}:{port}{suffix}>"

    def _offer(self, call: SipCall, agent_id: str) -> None:
        if call.ended:
            return  # an offer that crossed the hang-up: nothing to ring for
        now = self.stack.clock()
        bindings = self.registrar.bindings(account_username(call.tenant_id, agent_id), now)
        if not bindings:
            return  # not on a SIP phone: the engine's answer timeout moves the call on
        if call.media is None:
            call.offers_waiting.append(agent_id)
            return
        binding = bindings[0]
        destination = phone_destination(binding.contact, binding.source)
        if destination is None:
            return
        session = call.session
        offer = make_offer(
            self.host,
            call.media.agent_port,
            session_id=ids.random_below_2_31(),
            version=1,
            codecs=(session.codec,) if session else ("PCMU", "PCMA"),
            telephone_event=session.telephone_event if session else 101,
        )
        invite = agent_invite(
            binding.contact,
            caller_user=call.caller.invite.from_.sip_uri.user or "anonymous",
            host=self.host,
            via=self._via(destination.transport),
            contact=self._contact(destination.transport),
            sdp=offer.serialize().encode(),
        )
        old = call.agents.get(agent_id)
        if old is not None:
            self._end_agent_leg(old)
        transaction = self.stack.send_request(invite, destination)
        assert isinstance(transaction, ClientTransaction)
        leg = AgentLeg(agent_id, invite, transaction, destination, offer)
        call.agents[agent_id] = leg
        self._legs[id(transaction)] = (call, leg)
        self._by_sip_call_id[invite.call_id] = call

    def _end_agent_leg(self, leg: AgentLeg) -> None:
        if leg.retry is not None:
            leg.retry.cancel()
            leg.retry = None
        if leg.ended:
            return
        if leg.answered:
            leg.ended = True
            self._bye(leg.dialog, leg.destination)
        elif leg.provisional:
            leg.ended = True
            self.stack.send_request(build_cancel(leg.invite), leg.destination)
        else:
            leg.cancel_wanted = True  # CANCEL once it rings (9.1); a 2xx first: ACK, BYE

    def _bye(self, dialog: Dialog | None, destination: Source) -> None:
        if dialog is None:
            return
        self.acks.drop(dialog.id.call_id)  # our 2xx to its re-INVITE: no more resending
        _, bye = dialog.create_request(
            "BYE", via=self._via(destination.transport), branch=new_branch()
        )
        self.stack.send_request(bye, destination)

    # -- leg B: the agent's phone answers ---------------------------------------------------------

    def on_response(self, transaction: object, response: Response) -> None:
        found = self._legs.get(id(transaction)) if transaction is not None else None
        if found is None:
            found = self._leg_by_call_id(response)
        if found is None or response.cseq.method != "INVITE":
            return
        call, leg = found
        if response.cseq.number != leg.invite.cseq.number:
            self._reinvite_answered(call, leg, response)
            return
        status = response.status
        if status < 200:
            leg.provisional = True
            if leg.cancel_wanted and not leg.ended:
                leg.ended = True
                self.stack.send_request(build_cancel(leg.invite), leg.destination)
            return
        if status >= 300:
            if not leg.ended and not leg.cancel_wanted and status != 487:
                leg.ended = True
                reason = "busy" if status in (486, 600) else "rejected"
                self.post(
                    call.tenant_id,
                    ev.OfferRejected(call_id=call.call_id, agent_id=leg.agent_id, reason=reason),
                )
            leg.ended = True
            return
        self._answered(call, leg, response)

    def _leg_by_call_id(self, response: Response) -> tuple[SipCall, AgentLeg] | None:
        call = self._by_sip_call_id.get(response.call_id)
        if call is None:
            return None
        for leg in call.agents.values():
            if leg.invite.call_id == response.call_id:
                return call, leg
        return None

    def _answered(self, call: SipCall, leg: AgentLeg, ok: Response) -> None:
        if leg.dialog is None:
            try:
                leg.dialog = Dialog.as_uac(leg.invite, ok)
            except ValueError:
                return
        ack = leg.dialog.create_ack(
            leg.invite.cseq.number, via=self._via(leg.destination.transport), branch=new_branch()
        )
        self.stack.send_stateless(ack, leg.destination)  # every 2xx gets its ACK (13.2.2.4)
        if leg.answered:
            return  # a retransmitted 2xx
        leg.answered = True
        if leg.ended or leg.cancel_wanted or call.ended:
            leg.ended = True  # answered after we gave up on it
            self._bye(leg.dialog, leg.destination)
            return
        if ok.body:
            try:  # where its RTP goes once bridged (`media.CallMedia.bridge`)
                leg.session = accept_answer(leg.offer, parse_sdp(ok.body))
            except SdpError:
                log.info("call %s: agent %s answered unusable SDP", call.call_id, leg.agent_id)
        self.post(call.tenant_id, ev.OfferAnswered(call_id=call.call_id, agent_id=leg.agent_id))

    # -- our re-INVITE: the engine's hold told to the phone ---------------------------------

    def _tell_phone(self, call: SipCall, leg: AgentLeg) -> bool:
        """Bring the bridged phone to the engine's hold state (a=sendonly: we send, the
        phone need not; a=sendrecv: resumed; RFC 3264 8.4) when it knows another. One
        re-INVITE at a time (RFC 3261 14.1): a change while one is pending or waits for its
        retry is told when that one is over. What the phone asked for itself needs none."""
        if leg.reinviting or leg.retry is not None:
            return False
        if leg.ended or not leg.answered or call.ended or call.bridged != leg.agent_id:
            return False
        if call.held == leg.on_hold:
            return False
        return self._reinvite_agent(call, leg, hold=call.held)

    def _reinvite_agent(self, call: SipCall, leg: AgentLeg, *, hold: bool) -> bool:
        """A re-INVITE in the leg's codec and session with a grown o= version."""
        session = leg.session
        if leg.dialog is None or session is None or not call.media:
            return False
        leg.sdp_version += 1
        direction: Direction = "sendonly" if hold else "sendrecv"
        offer = make_offer(
            self.host,
            call.media.agent_port,
            session_id=leg.offer.origin.session_id,
            version=leg.sdp_version,
            codecs=(session.codec,),
            telephone_event=session.telephone_event,
            direction=direction,
        )
        leg.dialog, invite = leg.dialog.create_request(
            "INVITE",
            via=self._via(leg.destination.transport),
            branch=new_branch(),
            contact=self._contact(leg.destination.transport),
            body=offer.serialize().encode(),
            content_type="application/sdp",
        )
        leg.reinviting, leg.asking_hold = True, hold
        transaction = self.stack.send_request(invite, leg.destination)
        self._legs[id(transaction)] = (call, leg)
        return True

    def _reinvite_answered(self, call: SipCall, leg: AgentLeg, response: Response) -> None:
        """Our re-INVITE's response: a 2xx (each retransmission too) gets its ACK with the
        re-INVITE's CSeq (13.2.2.4) and the phone is held or resumed as asked; a 491 (the
        phone's re-INVITE crossed ours) is tried again after a while (14.1); a 481 or 408
        ends the dialog and the call (12.2.1.2); any other failure leaves the session as it
        was (RFC 3264 8)."""
        status = response.status
        if status < 200:
            return
        if status < 300 and leg.dialog is not None:
            ack = leg.dialog.create_ack(
                response.cseq.number,
                via=self._via(leg.destination.transport),
                branch=new_branch(),
            )
            self.stack.send_stateless(ack, leg.destination)
        current = leg.dialog is not None and response.cseq.number == leg.dialog.local_seq
        if not leg.reinviting or not current:
            return  # a retransmitted 2xx, or a late answer to an earlier one
        leg.reinviting = False
        if status < 300:
            leg.on_hold = leg.asking_hold
            self._tell_phone(call, leg)  # the engine may have changed its mind meanwhile
        elif status == 491 and not leg.ended:
            # We sent the INVITE that made the dialog: its Call-ID is ours (2.1-4 s).
            delay = retry_delay(owner=True, rng=self.rng)
            leg.retry = asyncio.get_running_loop().call_later(delay, self._retry, call, leg)
        elif status in (408, 481):
            self._dialog_lost(call, leg, bye=status == 408)
        else:
            refused = "call %s: agent %s refused our re-INVITE: %d"
            log.info(refused, call.call_id, leg.agent_id, status)

    def _dialog_lost(self, call: SipCall, leg: AgentLeg, *, bye: bool) -> None:
        """RFC 3261 12.2.1.2: a 481 or a 408 (or no answer) to our re-INVITE ends the dialog:
        the phone has lost the call (481: no BYE, it knows no dialog) or cannot be reached,
        so the agent's side of the call is gone and the call ends."""
        if leg.ended:
            return
        log.info("call %s: agent %s's phone lost the dialog", call.call_id, leg.agent_id)
        if bye:
            self._end_agent_leg(leg)
        else:
            leg.ended = True
        gone = ev.CallHungUp(call_id=call.call_id, party=ev.Party.SYSTEM, reason="agent_lost")
        self.post(call.tenant_id, gone)

    def _retry(self, call: SipCall, leg: AgentLeg) -> None:
        """Our 491'd re-INVITE again, unless the hold it asked for is no longer wanted (the
        engine changed its mind, or the phone's own re-INVITE brought the same state)."""
        leg.retry = None
        self._tell_phone(call, leg)

    def on_failure(self, transaction: object) -> None:
        found = self._legs.get(id(transaction))
        if found is None:
            return
        call, leg = found
        if leg.answered:
            leg.reinviting = False
            self._dialog_lost(call, leg, bye=True)  # our re-INVITE timed out (as a 408)
            return
        if not leg.ended and not leg.answered and not leg.cancel_wanted:
            leg.ended = True
            self.post(
                call.tenant_id,
                ev.OfferRejected(call_id=call.call_id, agent_id=leg.agent_id, reason="unreachable"),
            )
