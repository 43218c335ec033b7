"""The engine's outbound commands carried over SIP legs (issue 7 point 3), beside the B2BUA.

Which calls (the tenant's trunk is the one with a `proxy` and its `tenant_id`):

- A call that started here, not at a trunk (callout, callback): `OfferCall` rings the agent
  through the trunk (routing type 2, `phone_number`) or on the agent's registered SIP phone
  (routing type 1); once that leg answered, `DialCustomer` dials the customer through the
  trunk, offering the agent's codec so the relay passes packets untouched; `Bridge` joins
  the two in an `RtpRelay` (leg A: the agent, leg B: the customer), or, when it says
  `record`, terminates both in our endpoints and writes the stereo WAV whose URL the record
  gets (`outbound_recording`). The virtual carrier does not see that `DialCustomer` (it
  would answer it itself).
  A transfer to a number (`DialExternal`) ends the agent's leg and dials the number in its
  place, on the same relay socket.
- A trunk's inbound call: routing type 2 offers and `DialExternal` (`outbound_trunk_calls`).

Outcomes become events: `OfferAnswered`/`OfferRejected`, `CustomerAnswered`/
`CustomerDialFailed(busy|no_answer|failed)`, and `CallHungUp` when an answered leg hangs up
or when a bridged call's relay has had no RTP from either side for `media_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.sip.registrar import Registrar, account_username
from helpline.telephony.rtp.relay import RtpRelay
from helpline.telephony.sip.agent_legs import Post
from helpline.telephony.sip.calls import B2BUA
from helpline.telephony.sip.legs import phone_destination
from helpline.telephony.sip.outbound import LegOutcome, OutboundLeg, OutboundTrunk, Report
from helpline.telephony.sip.outbound_dialer import Dialer
from helpline.telephony.sip.outbound_recording import OutboundRecording
from helpline.telephony.sip.outbound_trunk_calls import (
    CUSTOMER_ANSWER_TIMEOUT_S,
    OFFER_SLACK_S,
    TrunkLegs,
)
from helpline.telephony.sip.stack import SipStack
from helpline.telephony.sip.transport import Source

log = logging.getLogger("helpline.sip")

MEDIA_TIMEOUT_S = 60.0  # as the B2BUA's default (SipConfig.media_timeout)
SWEEP_EVERY_S = 1.0


@dataclass(eq=False)
class OutCall:
    """A call with no trunk caller (callout, callback) whose legs are all ours."""

    tenant_id: str
    call_id: str
    relay: RtpRelay
    agent_id: str | None = None
    agent: OutboundLeg | None = None  # relay leg "a"
    customer: OutboundLeg | None = None  # relay leg "b"
    ended: bool = False
    bridged: bool = False
    recording: OutboundRecording | None = None  # a recorded bridge: endpoints, not the relay
    media_seen: tuple[int, float] = (0, 0.0)  # (datagrams in on either socket, since when)


class OutboundCalls(TrunkLegs):
    """The engine's commands, as far as they concern outbound legs; `execute` first."""

    def __init__(
        self,
        stack: SipStack,
        b2bua: B2BUA,
        registrar: Registrar,
        post: Post,
        *,
        host: str,
        trunks: tuple[OutboundTrunk, ...],
        media_host: str | None = None,  # where the RTP sockets bind; default: host
    ) -> None:
        super().__init__(Dialer(stack, host=host), b2bua, post, host=host)
        self.registrar = registrar
        self.media_host = media_host or host
        self.trunks = {trunk.tenant_id: trunk for trunk in trunks}
        self.calls: dict[tuple[str, str], OutCall] = {}
        # No RTP from either leg of a bridged call for this long ends it (both far ends gone
        # without a BYE), as the B2BUA does for its calls: no call is left up forever.
        self.media_timeout = MEDIA_TIMEOUT_S
        self._sweeper: asyncio.TimerHandle | None = None

    # -- the engine's commands -------------------------------------------------------------

    async def execute(self, tenant_id: str, command: cmd.Command) -> bool:
        """Carry the command's SIP part; True when the adapters behind us must not see it."""
        call_id = getattr(command, "call_id", "")
        out = self.calls.get((tenant_id, call_id))
        inbound = self.b2bua.calls.get((tenant_id, call_id))
        trunk = self.trunks.get(tenant_id)
        if isinstance(command, cmd.OfferCall):
            if inbound is not None:
                if trunk is not None and self._by_phone(command):
                    serial = self._next_serial(tenant_id, call_id, command.agent_id)
                    self._spawn(self._offer_inbound(inbound, command, trunk, serial))
            else:
                await self._offer_outbound(tenant_id, command, trunk)
        elif isinstance(command, cmd.CancelOffer):
            self._next_serial(tenant_id, call_id, command.agent_id)
            self._cancel_offer(tenant_id, command, out)
        elif isinstance(command, cmd.DialCustomer):
            if out is not None and out.agent is not None and out.agent.answered and trunk:
                self._dial_customer(out, command, trunk)
                return True
            if out is not None and out.agent is not None and not out.agent.answered:
                # the agent answered elsewhere (a browser): the SIP phone stops ringing
                self.dialer.hang_up(out.agent)
        elif isinstance(command, cmd.DialExternal) and trunk is not None:
            if inbound is not None:
                self._spawn(self._dial_external(inbound, command, trunk))
            elif out is not None and out.customer is not None and out.customer.answered:
                self._transfer_customer(out, command, trunk)
        elif isinstance(command, cmd.Bridge) and out is not None:
            self._bridge(out, record=command.record)
        elif isinstance(command, cmd.Hangup):
            self._hang_up(tenant_id, call_id, out)
        return False

    # -- callout and callback: every leg is ours ------------------------------------------------

    async def _offer_outbound(
        self, tenant_id: str, command: cmd.OfferCall, trunk: OutboundTrunk | None
    ) -> None:
        phone: Source | None = None
        contact = ""
        if not self._by_phone(command):
            bindings = self.registrar.bindings(
                account_username(tenant_id, command.agent_id), self.b2bua.stack.clock()
            )
            if not bindings:
                return  # not on a SIP phone: another adapter's, or the answer timeout's
            contact = bindings[0].contact
            phone = phone_destination(contact, bindings[0].source)
            if phone is None:
                return
        elif trunk is None:
            return
        out = self.calls.get((tenant_id, command.call_id))
        if out is None:
            try:
                relay = await RtpRelay.open(self.media_host)
            except OSError:
                log.exception("call %s: no RTP ports for the agent's leg", command.call_id)
                return  # the engine's answer timeout moves the call on
            out = OutCall(tenant_id, command.call_id, relay)
            self.calls[(tenant_id, command.call_id)] = out
        if out.agent is not None:
            self.dialer.hang_up(out.agent)
        out.agent_id = command.agent_id
        shown = command.display or command.from_number or "anonymous"
        report = self._agent_report(out, command.agent_id)
        timeout = command.timeout_s + OFFER_SLACK_S
        if phone is not None:
            out.agent = self.dialer.dial(
                target=phone,
                uri=contact,
                from_user=shown,
                from_host=None,
                offer=self._offer(out.relay.port("a"), None),
                timeout=timeout,
                report=report,
            )
        elif trunk is not None and command.phone_number:
            out.agent = self.via_trunk(
                trunk,
                command.phone_number,
                from_user=shown,
                offer_port=out.relay.port("a"),
                session=None,
                timeout=timeout,
                report=report,
            )

    def _agent_report(self, out: OutCall, agent_id: str) -> Report:
        def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
            if out.ended or out.agent is not leg:
                return
            event: ev.Event
            if outcome is LegOutcome.ANSWERED:
                event = ev.OfferAnswered(call_id=out.call_id, agent_id=agent_id)
            elif outcome is LegOutcome.ENDED:
                event = ev.CallHungUp(call_id=out.call_id, party=ev.Party.AGENT)
            else:
                reason = "busy" if outcome is LegOutcome.BUSY else outcome.value
                event = ev.OfferRejected(call_id=out.call_id, agent_id=agent_id, reason=reason)
            self.post(out.tenant_id, event)

        return report

    def _dial_customer(self, out: OutCall, command: cmd.DialCustomer, trunk: OutboundTrunk) -> None:
        agent = out.agent
        assert agent is not None

        def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
            if out.ended or out.customer is not leg:
                return
            event: ev.Event
            if outcome is LegOutcome.ANSWERED:
                event = ev.CustomerAnswered(call_id=out.call_id)
            elif outcome is LegOutcome.ENDED:
                event = ev.CallHungUp(call_id=out.call_id, party=ev.Party.CUSTOMER)
            else:
                event = ev.CustomerDialFailed(call_id=out.call_id, reason=outcome.value)
            self.post(out.tenant_id, event)

        out.customer = self.via_trunk(
            trunk,
            command.number,
            from_user=command.caller_id or "anonymous",
            offer_port=out.relay.port("b"),
            session=agent.session,
            timeout=CUSTOMER_ANSWER_TIMEOUT_S,
            report=report,
        )

    def _transfer_customer(
        self, out: OutCall, command: cmd.DialExternal, trunk: OutboundTrunk
    ) -> None:
        """A blind transfer of a callout's customer to a number: the agent's leg ends, the
        number is dialled on the agent's side of the relay with the customer's codec."""
        customer = out.customer
        assert customer is not None
        if out.agent is not None:
            self.dialer.hang_up(out.agent)
            self.forget_later(out.agent)
        out.agent_id = None

        def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
            if out.ended or out.agent is not leg:
                return
            if outcome is LegOutcome.ANSWERED and leg.session is not None:
                if out.recording is not None:  # recorded on: our endpoint faces the number
                    out.recording.agent.update(leg.session)
                    return
                peer = (leg.session.remote_address, leg.session.remote_port)
                out.relay.relatch("a", peer)  # the agent's phone latched it: the number now
                return
            reason = "external_ended" if outcome is LegOutcome.ENDED else f"external_{outcome}"
            hung_up = ev.CallHungUp(call_id=out.call_id, party=ev.Party.SYSTEM, reason=reason)
            self.post(out.tenant_id, hung_up)

        out.agent = self.via_trunk(
            trunk,
            command.number,
            from_user=customer.invite.from_.sip_uri.user or "anonymous",
            offer_port=out.relay.port("a"),
            session=customer.session,
            timeout=CUSTOMER_ANSWER_TIMEOUT_S,
            report=report,
        )

    def _bridge(self, out: OutCall, *, record: bool) -> None:
        """Each relay socket sends to its leg's SDP address until that leg's first packet
        latches it (symmetric RTP, RFC 4961); recorded, our endpoints take both sockets."""
        out.bridged = True
        out.media_seen = (_received(out), asyncio.get_running_loop().time())
        if self._sweeper is None:
            self._sweep()
        agent, customer = out.agent, out.customer
        agreed = agent and customer and agent.session and customer.session
        if record and out.recording is None and agreed:
            assert agent and customer and agent.session and customer.session
            out.recording = OutboundRecording(
                out.relay,
                agent=agent.session,
                customer=customer.session,
                path=self.b2bua.recordings(out.tenant_id, out.call_id),
                rng=self.b2bua.rng,
            )
            return
        if agent is not None and agent.session is not None:
            out.relay.set_peer("a", (agent.session.remote_address, agent.session.remote_port))
        if customer is not None and customer.session is not None:
            peer = (customer.session.remote_address, customer.session.remote_port)
            out.relay.set_peer("b", peer)

    def _cancel_offer(self, tenant_id: str, command: cmd.CancelOffer, out: OutCall | None) -> None:
        if out is not None and out.agent is not None and out.agent_id == command.agent_id:
            self.dialer.hang_up(out.agent)
            self.forget_later(out.agent)
        leg = self.pending.offers.pop((tenant_id, command.call_id, command.agent_id), None)
        if leg is not None:
            self.dialer.hang_up(leg)
            self.forget_later(leg)

    def _hang_up(self, tenant_id: str, call_id: str, out: OutCall | None) -> None:
        legs: list[OutboundLeg] = []
        if out is not None:
            out.ended = True
            legs += [leg for leg in (out.agent, out.customer) if leg is not None]
            self._finish_recording(out)
            out.relay.close()
            del self.calls[(tenant_id, call_id)]
        for key in [k for k in self.pending.offers if k[:2] == (tenant_id, call_id)]:
            legs.append(self.pending.offers.pop(key))
        for key in [k for k in self.pending.serials if k[:2] == (tenant_id, call_id)]:
            del self.pending.serials[key]
        external = self.pending.external.pop((tenant_id, call_id), None)
        if external is not None:
            legs.append(external)
        for leg in legs:
            self.dialer.hang_up(leg)
            self.forget_later(leg)

    def _finish_recording(self, out: OutCall) -> None:
        """The WAV is closed and handed to the sink, which stores it and points the call's
        record at it (`recording_url`), as for a B2BUA call (`calls.RecordingSink`)."""
        recording, out.recording = out.recording, None
        if recording is None:
            return
        duration = recording.close()
        sink = self.b2bua.on_recording()
        if duration is None or sink is None:
            return

        async def deliver() -> None:
            await sink(out.tenant_id, out.call_id, recording.path, duration)

        self._spawn(deliver())

    # -- housekeeping ----------------------------------------------------------------------

    def _sweep(self) -> None:
        """Every SWEEP_EVERY_S while there are calls: end the bridged ones gone silent."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for out in list(self.calls.values()):
            if not out.bridged or out.ended:
                continue
            count, since = out.media_seen
            received = _received(out)
            if received != count:
                out.media_seen = (received, now)
            elif now - since >= self.media_timeout:
                log.info("call %s: no RTP for %.0f s, ended", out.call_id, now - since)
                out.bridged = False  # one CallHungUp; the engine's Hangup closes the rest
                hung_up = ev.CallHungUp(
                    call_id=out.call_id, party=ev.Party.SYSTEM, reason="media_timeout"
                )
                self.post(out.tenant_id, hung_up)
        self._sweeper = loop.call_later(SWEEP_EVERY_S, self._sweep) if self.calls else None

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for out in self.calls.values():
            if out.recording is not None:
                out.recording.close()
            out.relay.close()
        self.calls.clear()
        for handle in self._later:
            handle.cancel()
        self._later.clear()
        for task in list(self._tasks):
            task.cancel()
        self.dialer.close()


def _received(out: OutCall) -> int:
    """Datagrams in on both sockets, forwarded or not (a leg not latched yet counts too),
    whoever had the sockets (the relay, or a recording's endpoints)."""
    a, b = out.relay.stats("a"), out.relay.stats("b")
    total = a.packets_in + a.dropped + b.packets_in + b.dropped
    return total + (out.recording.received() if out.recording is not None else 0)
