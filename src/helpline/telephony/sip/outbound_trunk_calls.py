"""Outbound legs for a trunk's inbound call (issue 7 point 3), the part of `OutboundCalls`
that works beside the B2BUA (`calls.B2BUA`), on the call's agent-side RTP socket:

- `OfferCall` with routing type 2 rings the agent's number through the trunk, offering the
  caller's codec; once answered the leg is handed to the B2BUA as an `AgentLeg`, which
  bridges it, CANCELs and BYEs it, and hears its BYE, as it does a SIP phone's.
- `DialExternal` (IVR external action, transfer to a number) dials the number through the
  trunk and joins the caller's media to it; an agent's phone that was on the call gets its
  BYE (a blind transfer); the external leg's failure or hang-up ends the call (`CallHungUp`,
  party system, reason `external_<outcome>`).

Both wait for the caller's media sockets (opened as the call arrives) in a task of their
own: the runtime carries out an engine's commands one after another.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass, field

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.model import RoutingType
from helpline.sip.client_transaction import ClientTransaction
from helpline.sip.sdp import AudioSession, SessionDescription, make_offer
from helpline.telephony.sip.agent_legs import Post
from helpline.telephony.sip.calls import B2BUA
from helpline.telephony.sip.legs import AgentLeg, SipCall
from helpline.telephony.sip.outbound import (
    Credentials,
    LegOutcome,
    OutboundLeg,
    OutboundTrunk,
    Report,
)
from helpline.telephony.sip.outbound_dialer import Dialer

log = logging.getLogger("helpline.sip")

CUSTOMER_ANSWER_TIMEOUT_S = 60.0  # DialCustomer and DialExternal carry no timeout of their own
OFFER_SLACK_S = 2.0  # the engine's own offer timer CANCELs first; this is a backstop
MEDIA_WAIT_S = 5.0
FORGET_AFTER_S = 32.0  # 64*T1: late retransmissions of an ended leg are still recognised


@dataclass(eq=False)
class Pending:
    """Legs of trunk calls still ringing (routing type 2 offers) or joined (external)."""

    offers: dict[tuple[str, str, str], OutboundLeg] = field(default_factory=dict)
    # which offer of (tenant, call, agent) is current: one cancelled while the caller's
    # media were still opening must not ring afterwards
    serials: dict[tuple[str, str, str], int] = field(default_factory=dict)
    external: dict[tuple[str, str], OutboundLeg] = field(default_factory=dict)


class TrunkLegs:
    def __init__(self, dialer: Dialer, b2bua: B2BUA, post: Post, *, host: str) -> None:
        self.dialer = dialer
        self.b2bua = b2bua
        self.post = post
        self.host = host
        self.pending = Pending()
        self._tasks: set[asyncio.Task[None]] = set()
        self._later: set[asyncio.TimerHandle] = set()

    def _next_serial(self, tenant_id: str, call_id: str, agent_id: str) -> int:
        key = (tenant_id, call_id, agent_id)
        serial = self.pending.serials[key] = self.pending.serials.get(key, 0) + 1
        return serial

    @staticmethod
    def _by_phone(command: cmd.OfferCall) -> bool:
        return command.routing_type is RoutingType.PHONE and bool(command.phone_number)

    def via_trunk(
        self,
        trunk: OutboundTrunk,
        number: str,
        *,
        from_user: str,
        offer_port: int,
        session: AudioSession | None,
        timeout: float,
        report: Report,
    ) -> OutboundLeg:
        uri = trunk.request_uri(number)
        credentials = None
        if trunk.username is not None and trunk.password is not None:
            credentials = Credentials(trunk.username, trunk.password, trunk.realm)
        return self.dialer.dial(
            target=trunk.destination,
            uri=uri,
            from_user=from_user,
            from_host=trunk.from_domain,
            offer=self._offer(offer_port, session),
            timeout=timeout,
            report=report,
            credentials=credentials,
        )

    def _offer(self, port: int, session: AudioSession | None) -> SessionDescription:
        """PCMU, PCMA and telephone-event; or, to join a leg already agreed, its codec only
        (so the relay passes packets untouched)."""
        return make_offer(
            self.host,
            port,
            session_id=secrets.randbelow(2**31),
            version=1,
            codecs=(session.codec,) if session else ("PCMU", "PCMA"),
            telephone_event=session.telephone_event if session else 101,
        )

    # -- a trunk's inbound call -------------------------------------------------------------------

    async def _media_of(self, call: SipCall) -> bool:
        waited = 0.0
        while call.media is None and not call.ended and waited < MEDIA_WAIT_S:
            await asyncio.sleep(0.01)
            waited += 0.01
        return call.media is not None and not call.ended

    async def _offer_inbound(
        self, call: SipCall, command: cmd.OfferCall, trunk: OutboundTrunk, serial: int
    ) -> None:
        if not await self._media_of(call) or call.media is None or command.phone_number is None:
            return
        key = (call.tenant_id, call.call_id, command.agent_id)
        if self.pending.serials.get(key) != serial:
            return  # cancelled, or offered again, while we waited
        agent_id = command.agent_id

        def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
            if self.pending.offers.get(key) is not leg or call.ended:
                return
            del self.pending.offers[key]
            if outcome is LegOutcome.ANSWERED:
                self._hand_over(call, agent_id, leg)
                self.post(call.tenant_id, ev.OfferAnswered(call_id=call.call_id, agent_id=agent_id))
                return
            reason = "busy" if outcome is LegOutcome.BUSY else outcome.value
            rejected = ev.OfferRejected(call_id=call.call_id, agent_id=agent_id, reason=reason)
            self.post(call.tenant_id, rejected)
            self.forget_later(leg)

        old = self.pending.offers.pop(key, None)
        if old is not None:
            self.dialer.hang_up(old)
        self.pending.offers[key] = self.via_trunk(
            trunk,
            command.phone_number,
            from_user=call.caller.invite.from_.sip_uri.user or "anonymous",
            offer_port=call.media.agent_port,
            session=call.session,
            timeout=command.timeout_s + OFFER_SLACK_S,
            report=report,
        )

    def _hand_over(self, call: SipCall, agent_id: str, leg: OutboundLeg) -> None:
        """The answered leg becomes the B2BUA's, as an agent's phone leg is: it bridges it,
        and BYEs it (or hears its BYE) from now on."""
        transaction = leg.transaction
        assert isinstance(transaction, ClientTransaction)
        agent = AgentLeg(agent_id, leg.invite, transaction, leg.target, leg.offer)
        agent.provisional = agent.answered = True
        agent.dialog, agent.session = leg.dialog, leg.session
        call.agents[agent_id] = agent
        self.b2bua._by_sip_call_id[leg.call_id] = call
        self.dialer.forget(leg)

    async def _dial_external(
        self, call: SipCall, command: cmd.DialExternal, trunk: OutboundTrunk
    ) -> None:
        if not await self._media_of(call) or call.media is None:
            return
        key = (call.tenant_id, call.call_id)

        def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
            if self.pending.external.get(key) is not leg or call.ended:
                return
            if outcome is LegOutcome.ANSWERED and leg.session is not None and call.media:
                # The agent-side socket may have latched the agent's phone (a transfer):
                # from now on it is the number's (`set_peer` alone keeps a latched address).
                peer = (leg.session.remote_address, leg.session.remote_port)
                call.media.relay.relatch("b", peer)
                call.media.bridge(leg.session, record_to=None)
                return
            reason = "external_ended" if outcome is LegOutcome.ENDED else f"external_{outcome}"
            self.post(
                call.tenant_id,
                ev.CallHungUp(call_id=call.call_id, party=ev.Party.SYSTEM, reason=reason),
            )

        old = self.pending.external.pop(key, None)
        if old is not None:
            self.dialer.hang_up(old)
        call.media.caller_alone()
        # A blind transfer: the agent who was on the call is done with it (their phone's
        # leg gets its BYE; the engine has already released the agent).
        call.bridged = None
        for agent_leg in call.agents.values():
            if agent_leg.answered and not agent_leg.ended:
                self.b2bua._end_agent_leg(agent_leg)
        self.pending.external[key] = self.via_trunk(
            trunk,
            command.number,
            from_user=call.caller.invite.from_.sip_uri.user or "anonymous",
            offer_port=call.media.agent_port,
            session=call.session,
            timeout=CUSTOMER_ANSWER_TIMEOUT_S,
            report=report,
        )

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        """What waits (for the caller's media sockets) must not hold up the engine's other
        commands, which the runtime carries out one after another."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget_later(self, leg: OutboundLeg) -> None:
        handle: asyncio.TimerHandle

        def forget() -> None:
            self._later.discard(handle)
            self.dialer.forget(leg)

        handle = asyncio.get_running_loop().call_later(FORGET_AFTER_S, forget)
        self._later.add(handle)
