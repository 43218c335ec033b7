"""SIP legs joined to browser legs through the media layer (issues 6 and 7).

Two directions, both through `helpline.telephony.bridge` (G.711 at 8 kHz on the SIP side,
48 kHz aiortc frames on the browser side, converted with numpy):

- A trunk's caller bridged to an agent on the browser softphone (`BrowserLines`, which the
  B2BUA calls from `audio.CallerAudio._join`): the caller's endpoint stays on its socket and
  is joined to the agent's line (`WebRtcTelephony.join_line`). Its RFC 4733 and in-band keys
  keep reaching the engine; a recorded call is recorded by that endpoint, caller left.
- A browser caller (the /call page) whose other party is reached over SIP (`WebSipLegs`,
  after the other adapters in `SipTelephony.execute`):
  - `Bridge` to an agent whose leg `OutboundCalls` dialled (a registered SIP phone, or the
    agent's number through the trunk, routing type 2): our endpoint takes the agent-side
    relay socket the agent's SDP answer points at, and is joined to the caller's call;
  - `DialExternal` (IVR external action, transfer to a number): the number is dialled
    through the tenant's trunk from a socket of our own and joined once it answers; its
    failure or hang-up ends the call (`CallHungUp`, party system, `external_<outcome>`), as
    for a trunk's caller (`outbound_trunk_calls`).
  No RTP from the SIP leg for `media_timeout` seconds ends the call too (comfort noise and
  RFC 4733 events count; not while the leg is on hold either way: then no RTP is expected).
  A re-INVITE from the SIP side (moved media, another codec, hold) re-targets our endpoint
  (`OutboundLeg.on_session`). A dial that cannot even start ends the call `external_failed`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.ports import TelephonyCommand
from helpline.telephony.bridge.links import CallerLink, LineLink
from helpline.telephony.rtp.endpoint import RtpEndpoint
from helpline.telephony.rtp.relay import Address
from helpline.telephony.sip.agent_legs import Post
from helpline.telephony.sip.legs import SipCall
from helpline.telephony.sip.outbound import LegOutcome, OutboundLeg
from helpline.telephony.sip.outbound_calls import OutboundCalls
from helpline.telephony.sip.outbound_trunk_calls import CUSTOMER_ANSWER_TIMEOUT_S
from helpline.telephony.webrtc.adapter import WebCall, WebRtcTelephony

log = logging.getLogger("helpline.sip")

Web = Callable[[], WebRtcTelephony | None]
SWEEP_EVERY_S = 1.0


class BrowserLines:
    """`audio.BrowserAgents`: a SIP caller to (and from) the bridged agent's browser line."""

    def __init__(self, web: Web) -> None:
        self.web = web

    def join(self, call: SipCall, record_to: Path | None) -> bool:
        web, media, agent_id = self.web(), call.media, call.bridged
        if web is None or media is None or agent_id is None:
            return False
        line = web.lines.get((call.tenant_id, agent_id))
        if line is None or line.call_id != call.call_id or line.call is not None:
            return False  # a sandbox agent, or the Bridge has not reached the line
        endpoint = media.to_browser(record_to=record_to)
        if endpoint is None:
            return False  # the caller's media are not agreed yet: the ACK joins them
        return web.join_line(call.tenant_id, call.call_id, agent_id, LineLink(endpoint))

    def part(self, call: SipCall) -> None:
        web = self.web()
        if web is not None:
            web.part_line(call.tenant_id, call.call_id)


class _Idle(asyncio.DatagramProtocol):
    """Our socket for a number still ringing: what comes early is dropped."""


@dataclass(eq=False)
class WebSipLeg:
    """A browser caller's call joined (or about to be) to a SIP leg."""

    call: WebCall
    endpoint: RtpEndpoint | None = None
    link: CallerLink | None = None
    external: OutboundLeg | None = None  # a number we dialled: ours to hang up
    agent: OutboundLeg | None = None  # an agent's leg `OutboundCalls` dialled (not ours)
    transport: asyncio.DatagramTransport | None = None  # its socket (ours to close)
    # an agent's leg: the relay socket our endpoint borrowed, and the relay's own protocol
    borrowed: tuple[asyncio.DatagramTransport, asyncio.DatagramProtocol] | None = None
    closed: bool = False
    media_seen: tuple[int, float] = (0, 0.0)  # (packets received, since when)


class WebSipLegs:
    """The engine's commands for browser callers whose other party is on SIP."""

    def __init__(
        self,
        outbound: OutboundCalls,
        web: Web,
        post: Post,
        *,
        media_host: str,
        media_timeout: float = 60.0,
    ) -> None:
        self.outbound = outbound
        self.web = web
        self.post = post
        self.media_host = media_host
        self.media_timeout = media_timeout
        self.rng = random.Random()
        self.joined: dict[tuple[str, str], WebSipLeg] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        outbound.b2bua.browser = BrowserLines(web)

    async def execute(self, tenant_id: str, command: TelephonyCommand) -> None:
        key = (tenant_id, command.call_id)
        if isinstance(command, cmd.Hangup):
            self._unlink(key)
            return
        web = self.web()
        call = web.calls.get(key) if web is not None else None
        if call is None or call.ended:
            return
        if isinstance(command, cmd.Bridge):
            self._unlink(key)
            self._join_agent(call, command.agent_id)
        elif isinstance(command, cmd.DialExternal):
            self._unlink(key)
            self._dial_external(call, command)
        elif isinstance(command, cmd.PlayPrompt | cmd.PlayQueueAudio | cmd.StartVoicemail):
            self._unlink(key)  # a transfer to a queue: the SIP agent's part is over

    # -- a browser caller's agent on SIP -----------------------------------------------------

    def _join_agent(self, call: WebCall, agent_id: str) -> None:
        out = self.outbound.calls.get((call.tenant_id, call.call_id))
        if out is None or out.agent_id != agent_id or out.agent is None:
            return  # the agent is on a browser (the webrtc adapter joined it) or the sandbox
        session, transport = out.agent.session, out.relay.transport("a")
        if not out.agent.answered or session is None or transport is None:
            return
        # Our endpoint terminates the agent's RTP on the socket its SDP answer was given
        # (the relay had it: `OutboundCalls._bridge`), so its media timeout is ours now.
        out.bridged = False
        endpoint = RtpEndpoint(session, rng=self.rng)
        transport.set_protocol(endpoint)
        endpoint.connection_made(transport)
        endpoint.start()
        joined = WebSipLeg(call, endpoint, borrowed=(transport, out.relay.protocol("a")))
        joined.link = CallerLink(call, endpoint, own_source=False)
        joined.agent = out.agent
        out.agent.on_session = endpoint.update  # the phone's re-INVITEs are ours to follow
        self._keep(joined)

    # -- a browser caller to a number through the trunk ---------------------------------------

    def _dial_external(self, call: WebCall, command: cmd.DialExternal) -> None:
        key = (call.tenant_id, call.call_id)
        out = self.outbound.calls.get(key)
        if out is not None and out.agent is not None:
            self.outbound.dialer.hang_up(out.agent)  # a blind transfer: the SIP agent is done
        trunk = self.outbound.trunks.get(call.tenant_id)
        if trunk is None:
            log.info("call %s: no outbound trunk for %s", call.call_id, command.number)
            self._hung_up(call, "external_failed")
            return
        joined = WebSipLeg(call)
        self.joined[key] = joined
        self._spawn(self._dial(joined, command.number))

    async def _dial(self, joined: WebSipLeg, number: str) -> None:
        """A dial that fails before any SIP outcome (no RTP port, a trunk whose name the
        loop will not resolve for a datagram, ...) must still end the call: the caller
        would otherwise wait in silence, with no leg to time out."""
        try:
            await self._dial_number(joined, number)
        except Exception:
            log.exception("call %s: dialling %s failed", joined.call.call_id, number)
            call = joined.call
            if joined.closed or call.ended:
                return
            key = (call.tenant_id, call.call_id)
            if self.joined.get(key) is joined:
                self._unlink(key)  # its socket, and a leg that may have started
            elif joined.transport is not None:
                joined.transport.close()
            self._hung_up(call, "external_failed")

    async def _dial_number(self, joined: WebSipLeg, number: str) -> None:
        call = joined.call
        trunk = self.outbound.trunks[call.tenant_id]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Idle, local_addr=(self.media_host, 0))
        joined.transport = transport
        if joined.closed:
            transport.close()
            return
        port = cast(Address, transport.get_extra_info("sockname"))[1]

        def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
            if joined.closed or joined.external is not leg or call.ended:
                return
            if outcome is LegOutcome.ANSWERED and leg.session is not None:
                endpoint = RtpEndpoint(leg.session, rng=self.rng)
                transport.set_protocol(endpoint)
                endpoint.connection_made(transport)
                endpoint.start()
                joined.endpoint = endpoint
                joined.link = CallerLink(call, endpoint, own_source=True)
                leg.on_session = endpoint.update  # the far end's re-INVITEs
                self._keep(joined)
                return
            reason = "external_ended" if outcome is LegOutcome.ENDED else f"external_{outcome}"
            self._hung_up(call, reason)

        joined.external = self.outbound.via_trunk(
            trunk,
            number,
            from_user="anonymous",  # a browser caller has no number (signalling.WEB_CALLER)
            offer_port=port,
            session=None,
            timeout=CUSTOMER_ANSWER_TIMEOUT_S,
            report=report,
        )

    # -- joins and their end -----------------------------------------------------------------

    def _keep(self, joined: WebSipLeg) -> None:
        call = joined.call
        self.joined[(call.tenant_id, call.call_id)] = joined
        joined.media_seen = (0, asyncio.get_running_loop().time())
        if self._sweeper is None:
            self._schedule_sweep()

    def _unlink(self, key: tuple[str, str]) -> None:
        joined = self.joined.pop(key, None)
        if joined is None or joined.closed:
            return
        joined.closed = True
        if joined.link is not None:
            joined.link.close()
        for leg in (joined.agent, joined.external):
            if leg is not None:
                leg.on_session = None  # the relay's again (it re-latches by itself), or over
        if joined.endpoint is not None:
            joined.endpoint.pause()
        if joined.borrowed is not None and not joined.borrowed[0].is_closing():
            transport, relay = joined.borrowed  # the relay's again, as `OutboundCalls` left it
            transport.set_protocol(relay)
            relay.connection_made(transport)
        if joined.external is not None:
            self.outbound.dialer.hang_up(joined.external)
            self.outbound.forget_later(joined.external)
        if joined.transport is not None:
            joined.transport.close()

    def _hung_up(self, call: WebCall, reason: str) -> None:
        hung_up = ev.CallHungUp(call_id=call.call_id, party=ev.Party.SYSTEM, reason=reason)
        self.post(call.tenant_id, hung_up)

    def _schedule_sweep(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_EVERY_S, self._sweep)

    def _sweep(self) -> None:
        """End the joined calls whose SIP leg sent no RTP for `media_timeout` seconds (a far
        end gone without a BYE must not hold the browser caller forever)."""
        now = asyncio.get_running_loop().time()
        for key, joined in list(self.joined.items()):
            endpoint = joined.endpoint
            if endpoint is None or joined.closed:
                continue
            count, since = joined.media_seen
            heard = endpoint.packets_received  # every packet from the peer: CN, events too
            if heard != count or endpoint.session.direction != "sendrecv":
                joined.media_seen = (heard, now)  # on hold either way: no RTP is expected
            elif now - since >= self.media_timeout:
                log.info("call %s: no RTP from the SIP leg for %.0f s", key[1], now - since)
                self._unlink(key)
                self._hung_up(joined.call, "media_timeout")
        self._sweeper = None
        if self.joined:
            self._schedule_sweep()

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for key in list(self.joined):
            self._unlink(key)
        for task in list(self._tasks):
            task.cancel()
