"""Agent lines over SIP (seed 003, "How Call Center Connect Works from the Agent Perspective").

An `OpenAgentLine` to a phone number goes out through the tenant's trunk like the other
outbound agent legs (`outbound_calls`); without a number, to the agent's registered SIP
phone. The line has a `CallMedia` of its own: socket A faces the agent's phone, socket B
whoever the agent talks to. Answered, the agent hears its agent id (espeak-ng through the
WebRTC adapter's `PromptLibrary`, taken down to 8 kHz), looping, until `HoldAgentLine`; then
hold music. The campaign dialer's callout (`OfferCall.agent_line`) is answered on the line at
once while it waits on hold music (no INVITE to the agent: `OfferAnswered`); the line is no
presence, so any other offer rings the agent's phone as without a line. Its `DialCustomer`
dials the customer through the trunk on socket B, offering the line's codec so the relay
passes packets untouched; `Bridge` plays a beep to the agent, then joins A and B in the
relay (RFC 4961 latching as for any bridged call), or, recorded, in our endpoints for that
call only (`outbound_recording`). When the customer leaves, socket A is our endpoint again
and silent (the agent fills in its screen) until `HoldAgentLine`.

The agent's BYE ends the line: a call on it loses its agent (`CallHungUp`, party agent) and
`AgentLineClosed` goes to the line listener. `CloseAgentLine` plays its farewell (at most
`FAREWELL_LIMIT_S`), then BYEs the phone. Lines whose phone is neither on a trunk nor a
registered SIP phone are left to the adapters behind us (the sandbox carrier).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.media.g711 import Pcm
from helpline.ports import PostLineEvent, TelephonyCommand
from helpline.sip.registrar import account_username
from helpline.telephony.sip.agent_legs import Post
from helpline.telephony.sip.agent_line_audio import (
    BEEP,
    FAREWELL_LIMIT_S,
    LineAudio,
    SipLine,
    finish_recording,
    play,
)
from helpline.telephony.sip.legs import phone_destination
from helpline.telephony.sip.media import CallMedia
from helpline.telephony.sip.outbound import LegOutcome, OutboundLeg
from helpline.telephony.sip.outbound_calls import OutboundCalls
from helpline.telephony.sip.outbound_recording import OutboundRecording
from helpline.telephony.sip.outbound_trunk_calls import CUSTOMER_ANSWER_TIMEOUT_S
from helpline.telephony.virtual_lines import LineState
from helpline.telephony.webrtc.prompts import PromptLibrary

log = logging.getLogger("helpline.sip")


class SipAgentLines:
    """The agent lines the SIP adapter carries; `execute` first, for every command."""

    def __init__(
        self,
        outbound: OutboundCalls,
        post: Post,
        *,
        prompts: Callable[[], PromptLibrary],
    ) -> None:
        self.outbound = outbound
        self.post = post
        self.audio = LineAudio(prompts)
        self.listener: PostLineEvent | None = None
        self.lines: dict[tuple[str, str], SipLine] = {}  # (tenant, agent)
        self._tasks: set[asyncio.Task[object]] = set()

    # -- commands ----------------------------------------------------------------------------------

    async def execute(self, tenant_id: str, command: TelephonyCommand) -> bool:
        """Carry the command if it concerns one of our lines; True: nobody else may see it."""
        if isinstance(command, cmd.OpenAgentLine):
            return await self._open(tenant_id, command)
        line = self._line_of(tenant_id, getattr(command, "call_id", ""))
        if isinstance(command, cmd.HoldAgentLine | cmd.CloseAgentLine):
            if line is None:
                return False
            if isinstance(command, cmd.HoldAgentLine):
                if line.state in (LineState.ANNOUNCING, LineState.WRAP_UP):
                    line.move(LineState.HOLD)
                    self._spawn(self._play_music(line))
            else:
                self._spawn(self._close(line, command))
            return True
        if isinstance(command, cmd.OfferCall):
            return self._offer(tenant_id, command)
        attached = self._attached(tenant_id, getattr(command, "call_id", ""))
        if attached is None:
            return False
        if isinstance(command, cmd.DialCustomer):
            self._dial_customer(attached, command)
            return True
        if isinstance(command, cmd.Bridge):
            if command.agent_id != attached.agent_id:
                # transferred to another agent: the customer's leg is the line's (socket B)
                # and cannot follow the call to another phone, so the call ends here rather
                # than be left bridged to nobody
                self._call_left(attached)
                ended = ev.CallHungUp(
                    call_id=command.call_id, party=ev.Party.SYSTEM, reason="left_agent_line"
                )
                self.post(tenant_id, ended)
                return True
            if attached.move(LineState.TALKING):
                self._spawn(self._beep_then_bridge(attached, record=command.record))
            return True
        if isinstance(command, cmd.Hangup):
            self._call_left(attached)
        return False

    def _offer(self, tenant_id: str, command: cmd.OfferCall) -> bool:
        """Only the campaign dialer's callout (`agent_line`) is answered on the line, and
        only while it waits on hold music: the line is no presence, any other offer rings the
        agent's phone as it would without a line. Not waiting: refused (the agent was not
        reached). No line of ours: the adapters behind us may have one (a sandbox device)."""
        if not command.agent_line:
            return False
        waiting = self.lines.get((tenant_id, command.agent_id))
        if waiting is None:
            return False
        if waiting.move(LineState.CONNECTING):
            waiting.attached = command.call_id
            answered = ev.OfferAnswered(call_id=command.call_id, agent_id=waiting.agent_id)
            self.post(tenant_id, answered)
        else:
            refused = ev.OfferRejected(call_id=command.call_id, agent_id=waiting.agent_id)
            self.post(tenant_id, refused)
        return True

    def _line_of(self, tenant_id: str, call_id: str) -> SipLine | None:
        return next(
            (
                line
                for line in self.lines.values()
                if line.tenant_id == tenant_id and line.command.call_id == call_id
            ),
            None,
        )

    def _attached(self, tenant_id: str, call_id: str) -> SipLine | None:
        return next(
            (
                line
                for line in self.lines.values()
                if line.tenant_id == tenant_id and call_id and line.attached == call_id
            ),
            None,
        )

    async def _open(self, tenant_id: str, command: cmd.OpenAgentLine) -> bool:
        outbound = self.outbound
        trunk = outbound.trunks.get(tenant_id)
        phone, contact = None, ""
        if command.phone_number is None:
            clock = outbound.b2bua.stack.clock()
            username = account_username(tenant_id, command.agent_id)
            bindings = outbound.registrar.bindings(username, clock)
            if bindings:
                contact = bindings[0].contact
                phone = phone_destination(contact, bindings[0].source)
            if phone is None:
                return False  # a sandbox device or a softphone: the adapters behind us
        elif trunk is None:
            return False
        old = self.lines.get((tenant_id, command.agent_id))
        if old is not None:
            await self._close(
                old, cmd.CloseAgentLine(call_id=old.command.call_id, reason="replaced")
            )
        try:
            media = await CallMedia.open(
                outbound.media_host, rng=random.Random(), on_digit=lambda _digit: None
            )
        except OSError:
            log.exception("agent line %s: no RTP ports", command.call_id)
            self._report(
                tenant_id,
                ev.AgentLineFailed(
                    call_id=command.call_id, agent_id=command.agent_id, reason="failed"
                ),
            )
            return True
        line = SipLine(tenant_id, command, media)
        self.lines[(tenant_id, command.agent_id)] = line
        offer = outbound._offer(media.caller_port, None)  # the trunk legs' SDP
        shown = command.caller_id or "helpline"
        if phone is not None:
            line.leg = outbound.dialer.dial(
                target=phone,
                uri=contact,
                from_user=shown,
                from_host=None,
                offer=offer,
                timeout=command.ring_timeout_s,
                report=self._line_report(line),
            )
        else:
            assert trunk is not None and command.phone_number is not None
            line.leg = outbound.via_trunk(  # as the other outbound agent legs
                trunk,
                command.phone_number,
                from_user=shown,
                offer_port=media.caller_port,
                session=None,
                timeout=command.ring_timeout_s,
                report=self._line_report(line),
            )
        return True

    # -- what the legs report ------------------------------------------------------------------

    def _line_report(self, line: SipLine) -> Callable[[OutboundLeg, LegOutcome], None]:
        def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
            if leg is not line.leg or line.state is LineState.ENDED:
                return
            if outcome is LegOutcome.ANSWERED and leg.session is not None:
                line.move(LineState.ANNOUNCING)
                line.media.caller_session(leg.session)
                self._spawn(self._play(line, self._speak(line.command.announcement), loop=True))
                self._report(
                    line.tenant_id,
                    ev.AgentLineAnswered(call_id=line.command.call_id, agent_id=line.agent_id),
                )
            elif outcome is LegOutcome.ENDED:
                self._end(line, ev.Party.AGENT, "hung_up")
            elif outcome is LegOutcome.ANSWERED:  # answered with no SDP we could agree
                self._end(line, ev.Party.SYSTEM, "failed")
            else:
                self._end(line, ev.Party.AGENT, outcome.value)

        return report

    def _dial_customer(self, line: SipLine, command: cmd.DialCustomer) -> None:
        trunk = self.outbound.trunks.get(line.tenant_id)
        agent = line.leg
        call_id = command.call_id
        if trunk is None or agent is None:
            self.post(line.tenant_id, ev.CustomerDialFailed(call_id=call_id, reason="failed"))
            return

        def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
            if leg is not line.customer or line.attached != call_id:
                return
            event: ev.Event
            if outcome is LegOutcome.ANSWERED:
                event = ev.CustomerAnswered(call_id=call_id)
            elif outcome is LegOutcome.ENDED:
                event = ev.CallHungUp(call_id=call_id, party=ev.Party.CUSTOMER)
            else:
                event = ev.CustomerDialFailed(call_id=call_id, reason=outcome.value)
            self.post(line.tenant_id, event)

        line.customer = self.outbound.via_trunk(
            trunk,
            command.number,
            from_user=command.caller_id or "anonymous",
            offer_port=line.media.agent_port,
            session=agent.session,
            timeout=CUSTOMER_ANSWER_TIMEOUT_S,
            report=report,
        )

    def _call_left(self, line: SipLine) -> None:
        """The call on the line ended: its customer leg goes, the agent stays on the line."""
        call_id, line.attached = line.attached, None
        self._finish_recording(line, call_id)
        if line.customer is not None:
            self.outbound.dialer.hang_up(line.customer)
            self.outbound.forget_later(line.customer)
            line.customer = None
        line.serial += 1
        line.media.caller_alone()
        if line.state is LineState.TALKING:
            line.move(LineState.WRAP_UP)  # silence: the agent fills in its screen
            line.media.stop_playback()
        elif line.state is LineState.CONNECTING:
            line.move(LineState.HOLD)  # the customer never answered: the music goes on

    def _end(self, line: SipLine, party: ev.Party, reason: str) -> None:
        answered = line.state is not LineState.RINGING
        line.state = LineState.ENDED
        self.lines.pop((line.tenant_id, line.agent_id), None)
        attached, line.attached = line.attached, None
        self._finish_recording(line, attached)
        for leg in (line.customer, line.leg):
            if leg is not None:
                self.outbound.dialer.hang_up(leg)
                self.outbound.forget_later(leg)
        line.media.close()
        if attached is not None:
            self.post(line.tenant_id, ev.CallHungUp(call_id=attached, party=party, reason=reason))
        call_id, agent_id = line.command.call_id, line.agent_id
        if answered:
            closed = ev.AgentLineClosed(
                call_id=call_id, agent_id=agent_id, party=party, reason=reason
            )
            self._report(line.tenant_id, closed)
        else:
            failed = ev.AgentLineFailed(call_id=call_id, agent_id=agent_id, reason=reason)
            self._report(line.tenant_id, failed)

    def _report(self, tenant_id: str, event: ev.AgentLineEvent) -> None:
        if self.listener is None:
            log.warning("agent line event with no listener: %s", event)
            return
        self.listener(tenant_id, event)

    # -- audio -------------------------------------------------------------------------------------

    async def _speak(self, text: str) -> Pcm:
        return await self.audio.speak(text)

    async def _play(
        self, line: SipLine, samples: Coroutine[object, object, Pcm], *, loop: bool
    ) -> asyncio.Future[None] | None:
        return await play(line, samples, loop=loop)

    async def _play_music(self, line: SipLine) -> None:
        await self._play(line, self.audio.music(), loop=True)

    async def _beep_then_bridge(self, line: SipLine, *, record: bool) -> None:
        async def beep() -> Pcm:
            return BEEP

        call_id = line.attached
        played = await self._play(line, beep(), loop=False)
        if played is not None:
            await played
        customer, agent = line.customer, line.leg
        if line.state is not LineState.TALKING or line.attached != call_id or call_id is None:
            return  # the call left the line during the beep
        if customer is None or customer.session is None:
            return
        line.media.bridge(customer.session, record_to=None)  # relayed, socket A to socket B
        if record and agent is not None and agent.session is not None:
            # recorded: our endpoints take both relay sockets for this call only, as for any
            # recorded outbound call (`outbound_recording`); the line outlives the recording
            b2bua = self.outbound.b2bua
            line.recording = OutboundRecording(
                line.media.relay,
                agent=agent.session,
                customer=customer.session,
                path=b2bua.recordings(line.tenant_id, call_id),
                rng=b2bua.rng,
            )

    def _finish_recording(self, line: SipLine, call_id: str | None) -> None:
        delivery = finish_recording(line, call_id, self.outbound.b2bua.on_recording())
        if delivery is not None:
            self._spawn(delivery)

    async def _close(self, line: SipLine, command: cmd.CloseAgentLine) -> None:
        if line.state is LineState.ENDED:
            return
        if command.farewell and line.state is not LineState.RINGING:
            if line.attached is not None:  # the customer goes first; the agent hears goodbye
                hung_up = ev.CallHungUp(
                    call_id=line.attached, party=ev.Party.SYSTEM, reason=command.reason
                )
                self.post(line.tenant_id, hung_up)
                self._call_left(line)
            played = await self._play(line, self._speak(command.farewell), loop=False)
            if played is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(played, FAREWELL_LIMIT_S)
        if line.is_open():  # the agent may have hung up meanwhile
            self._end(line, ev.Party.SYSTEM, command.reason)

    def _spawn(self, coroutine: Coroutine[object, object, object]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """The adapter stops: no phone is left on a line nobody serves any more."""
        for line in list(self.lines.values()):
            for leg in (line.customer, line.leg):
                if leg is not None:
                    self.outbound.dialer.hang_up(leg)
            line.recording = None
            line.media.close()
        self.lines.clear()
        for task in list(self._tasks):
            task.cancel()
