"""The B2BUA: a trunk's call (leg A) in the engine, agents' phones (legs B) rung for it.

Leg A: an INVITE from a trunk to a hotline number is a `CallArrived`; it gets 100 Trying
(its transaction's own), 180 Ringing at once, and 200 OK with our SDP answer when the
engine first gives it something to hear (a prompt, the queue, an agent: issue 7 point 3).
We retransmit that 2xx over UDP until the ACK (RFC 3261 13.3.1.4), as our 2xx to a re-INVITE
in either leg, one way for all (`acks`, `reinvites.AwaitedAcks`). A BYE, or a CANCEL before
the answer (487 to the INVITE, 9.2), is a `CallHungUp` from the customer.

Legs B (`agent_legs.AgentSide`): `OfferCall` rings an agent's registered SIP phone.
`Hangup` ends every leg. The media (`media.CallMedia`, driven by `audio.CallerAudio`): the
caller's RTP ends in our endpoint (prompts, music, digits) until `Bridge` joins it to the
agent's phone, relayed packet by packet (the B leg is offered the A leg's codec, so packets
pass untouched) or, when recorded, through our endpoints. No RTP from either side for
`media_timeout` seconds ends the call (BYE to every leg, `CallHungUp` "media_timeout"):
a phone that vanished without a BYE must not hold a call, and an agent, forever.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from pathlib import Path

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.sip import ids
from helpline.sip.dialog import Dialog
from helpline.sip.message import Request, Response, make_response
from helpline.sip.registrar import Registrar
from helpline.sip.sdp import (
    SdpError,
    accept_answer,
    make_answer,
    make_offer,
    parse_sdp,
)
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import DEFAULT_TIMERS
from helpline.sip.uri import parse_uri
from helpline.telephony.sip.agent_legs import AgentSide, Post
from helpline.telephony.sip.audio import CallerAudio, Recordings
from helpline.telephony.sip.in_dialog import InDialogRequests
from helpline.telephony.sip.legs import AgentLeg, CallerLeg, SipCall, new_tag
from helpline.telephony.sip.media import CallMedia
from helpline.telephony.sip.reinvites import AwaitedAcks
from helpline.telephony.sip.stack import SipStack
from helpline.telephony.sip.transport import Source
from helpline.telephony.webrtc.prompts import PromptLibrary

log = logging.getLogger("helpline.sip")

HANGUP_STATUS = {"unknown_number": 404}  # the engine's reason -> leg A's final response
T1 = DEFAULT_TIMERS.t1
# (tenant id, call id, WAV path, duration in seconds): store it, point the record at it
RecordingSink = Callable[[str, str, Path, float], Awaitable[None]]


class B2BUA(AgentSide, CallerAudio, InDialogRequests):
    """Leg A here, legs B in `AgentSide`, media in `CallerAudio`; the maps find a call from
    any of its messages."""

    def __init__(
        self,
        stack: SipStack,
        registrar: Registrar,
        post: Post,
        *,
        host: str,
        media_host: str,
        prompts: Callable[[], PromptLibrary],
        recordings: Recordings,
        on_recording: Callable[[], RecordingSink | None] = lambda: None,
        media_timeout: float = 60.0,
    ) -> None:
        self.prompts = prompts
        self.recordings = recordings
        self.browser = None  # set by the browser bridge when the webrtc adapter is behind us
        self.on_recording = on_recording
        self.media_timeout = media_timeout
        self.rng = random.Random()
        self._samples = {}
        self.stack = stack
        self.registrar = registrar
        self.post = post
        self.host = host  # what we put in Via, Contact and SDP
        self.media_host = media_host  # where the RTP sockets bind
        self.calls: dict[tuple[str, str], SipCall] = {}
        self._by_sip_call_id: dict[str, SipCall] = {}  # both legs' Call-IDs
        self._by_invite: dict[int, SipCall] = {}  # leg A's INVITE transaction
        self._legs: dict[int, tuple[SipCall, AgentLeg]] = {}  # leg B's INVITE transactions
        self._tasks: set[asyncio.Task[None]] = set()
        self.acks = AwaitedAcks(stack, stack.layer.timers)  # our 2xx answers to re-INVITEs
        self._forgetting: set[asyncio.TimerHandle] = set()
        self.completed = 0

    # -- leg A: the trunk's INVITE ---------------------------------------------------------

    def on_invite(
        self, tenant_id: str, transaction: ServerTransaction, invite: Request, source: Source
    ) -> None:
        if transaction.state.value != "proceeding" or id(transaction) in self._by_invite:
            return
        caller = CallerLeg(transaction, invite, source, new_tag())
        call = SipCall(tenant_id, "sip-" + ids.token_hex(10), caller)
        try:
            caller.offer = parse_sdp(invite.body) if invite.body else None
        except SdpError as error:
            self._refuse(caller, error.status)
            return
        self.calls[(tenant_id, call.call_id)] = call
        self._by_sip_call_id[invite.call_id] = call
        self._by_invite[id(transaction)] = call
        self.stack.respond(transaction, self._response(caller, 180))
        # The engine hears of the call at once (a caller who cancels at once still gets a
        # record); the media sockets open meanwhile, and what needs them waits for them.
        to = parse_uri(invite.uri).user or ""
        from_user = invite.from_.sip_uri.user or ""
        self.post(
            tenant_id, ev.CallArrived(call_id=call.call_id, from_number=from_user, to_number=to)
        )
        self._spawn(self._open_media(call))

    async def _open_media(self, call: SipCall) -> None:
        def digit(key: str) -> None:
            if not call.ended:
                self.post(call.tenant_id, ev.DigitsPressed(call_id=call.call_id, digits=key))

        try:
            media = await CallMedia.open(self.media_host, rng=self.rng, on_digit=digit)
        except OSError:
            log.exception("call %s: no RTP ports", call.call_id)
            if not call.caller.answered:
                self._refuse(call.caller, 503)
            self._hung_up(call, ev.Party.SYSTEM, "no_media")
            return
        if call.ended or call.caller.ended:
            media.close()
            return
        call.media = media
        if call.answer_wanted:
            self._answer(call)
        for agent_id in call.offers_waiting:
            self._offer(call, agent_id)
        call.offers_waiting.clear()

    def _response(self, caller: CallerLeg, status: int) -> Response:
        return make_response(caller.invite, status, to_tag=caller.tag)

    def _refuse(self, caller: CallerLeg, status: int) -> None:
        caller.ended = True
        self.stack.respond(caller.transaction, self._response(caller, status))

    def _answer(self, call: SipCall) -> None:
        """200 OK with our SDP (an answer, or an offer when the INVITE had none)."""
        caller = call.caller
        if caller.answered or caller.ended:
            return
        if call.media is None:
            call.answer_wanted = True
            return
        port = call.media.caller_port
        session_id = ids.random_below_2_31()
        try:
            if caller.offer is not None:
                sdp, call.session = make_answer(
                    caller.offer, self.host, port, session_id=session_id, version=1
                )
            else:
                sdp = make_offer(self.host, port, session_id=session_id, version=1)
                caller.offer = sdp  # its answer comes in the ACK (13.2.1)
        except SdpError as error:
            self._refuse(caller, error.status)
            self._hung_up(call, ev.Party.SYSTEM, "media_refused")
            return
        ok = self._response(caller, 200)
        ok.headers.add("Contact", self._contact(caller.source.transport))
        ok.headers.add("Content-Type", "application/sdp")
        caller.ok = Response(ok.status, ok.reason, ok.headers, sdp.serialize().encode())
        caller.answered = True
        caller.dialog = Dialog.as_uas(caller.invite, caller.tag)
        self.stack.respond(caller.transaction, caller.ok)
        call.media_seen = (0, self.stack.clock())
        if call.session is not None:
            call.media.caller_session(call.session)
        # resent until its ACK, as our 2xx to a re-INVITE is; none in 64*T1 ends the call
        on_no_ack = partial(self._caller_never_acked, call)
        reliable = caller.source.reliable
        self.acks.answered(caller.transaction, caller.ok, reliable=reliable, on_no_ack=on_no_ack)

    def _caller_never_acked(self, call: SipCall) -> None:
        """No ACK for our 2xx in 64*T1 (13.3.1.4): the dialog is ended with a BYE."""
        call.caller.acked = True
        self._bye_caller(call)
        self._hung_up(call, ev.Party.SYSTEM, "no_ack")

    def on_ack(self, ack: Request) -> None:
        self.acks.ack(ack)  # our 2xx to it, to an INVITE or a re-INVITE in either leg, stops
        call = self._by_sip_call_id.get(ack.call_id)
        if call is None or ack.call_id != call.caller.invite.call_id:
            return
        if ack.cseq.number != call.caller.invite.cseq.number:
            return  # for a re-INVITE's 2xx
        caller = call.caller
        # the answer to our offer (the INVITE had none) is taken from the ACK even when the
        # dialog already counts as confirmed: it is in this ACK and nowhere else (13.2.1)
        if ack.body and call.session is None and caller.offer is not None and call.media:
            try:
                call.session = accept_answer(caller.offer, parse_sdp(ack.body))
                call.media.caller_session(call.session)
                if call.bridged is not None and not call.held:
                    self._join(call)  # a Bridge that came before these media were agreed
            except SdpError:
                log.info("call %s: the ACK's SDP answer is unusable", call.call_id)
        if not caller.acked:  # else a retransmission, or late: we gave up and sent our BYE
            self._caller_confirmed(call)

    def _caller_confirmed(self, call: SipCall) -> None:
        """The caller has our 2xx: its ACK came, or a re-INVITE it could only send once our
        2xx reached it (14.1); a BYE we held back until then goes now (15)."""
        caller = call.caller
        caller.acked = True
        if caller.bye_after_ack:
            self._bye_caller(call)

    def on_cancel(self, invite_transaction: ServerTransaction) -> None:
        call = self._by_invite.get(id(invite_transaction))
        if call is None or call.caller.answered or call.caller.ended:
            return
        self._refuse(call.caller, 487)
        self._hung_up(call, ev.Party.CUSTOMER, "")

    def on_bye(self, transaction: ServerTransaction, bye: Request) -> None:
        call = self._by_sip_call_id.get(bye.call_id)
        if call is None:
            self.stack.respond(transaction, make_response(bye, 481, to_tag=new_tag()))
            return
        self.stack.respond(transaction, make_response(bye, 200))
        self.acks.drop(bye.call_id)
        if bye.call_id == call.caller.invite.call_id:
            call.caller.ended = True
            self._hung_up(call, ev.Party.CUSTOMER, "")
            return
        for leg in call.agents.values():
            if leg.invite.call_id == bye.call_id and not leg.ended:
                leg.ended = True
                self.post(call.tenant_id, ev.CallHungUp(call_id=call.call_id, party=ev.Party.AGENT))

    def _hung_up(self, call: SipCall, party: ev.Party, reason: str) -> None:
        if not call.ended:
            hung_up = ev.CallHungUp(call_id=call.call_id, party=party, reason=reason)
            self.post(call.tenant_id, hung_up)

    # -- the engine's commands ---------------------------------------------------------------

    def execute(self, tenant_id: str, command: cmd.Command) -> None:
        call = self.calls.get((tenant_id, getattr(command, "call_id", "")))
        if call is None or call.ended:
            return
        if self._moves_away(call, command):
            self._release_bridged(call)
        if isinstance(command, self.AUDIO_COMMANDS):
            self._answer(call)
            self._audio_command(call, command)
        elif isinstance(command, cmd.OfferCall):
            self._offer(call, command.agent_id)
        elif isinstance(command, cmd.CancelOffer):
            if command.agent_id in call.offers_waiting:
                call.offers_waiting.remove(command.agent_id)
            leg = call.agents.get(command.agent_id)
            if leg is not None:
                self._end_agent_leg(leg)
        elif isinstance(command, cmd.Hangup) and not self._goodbye(call, command):
            self._hang_up(call, command.reason)

    @staticmethod
    def _moves_away(call: SipCall, command: cmd.Command) -> bool:
        """The engine took the call from the agent it was bridged to (a blind transfer to an
        agent, a queue or a number): no command says so, the next one for the call shows it."""
        bridged = call.bridged
        if bridged is None:
            return False
        if isinstance(command, cmd.OfferCall | cmd.Bridge):
            return command.agent_id != bridged
        away = cmd.PlayPrompt | cmd.PlayQueueAudio | cmd.DialExternal | cmd.StartVoicemail
        return isinstance(command, away)

    def _release_bridged(self, call: SipCall) -> None:
        """The agent's leg gets its BYE (marked ended first, so a BYE of its own that crosses
        ours is no `CallHungUp`), and the caller is alone until the next bridge: the old
        phone's audio stops reaching the caller at once."""
        leg = call.agents.get(call.bridged or "")
        call.bridged, call.held = None, False
        if leg is not None:
            self._end_agent_leg(leg)
        self._caller_alone(call)
        if call.media is not None:
            call.media.stop_playback()

    def _hang_up(self, call: SipCall, reason: str) -> None:
        call.ended = True
        caller = call.caller
        if not caller.answered and not caller.ended:
            self._refuse(caller, HANGUP_STATUS.get(reason, 480))
        elif not caller.ended:
            caller.ended = True
            if caller.acked:
                self._bye_caller(call)
            else:
                caller.bye_after_ack = True  # no BYE before the ACK (RFC 3261 15)
        for leg in call.agents.values():
            self._end_agent_leg(leg)
        self.completed += 1
        # its Call-IDs stay known a while, for the BYEs' answers and late retransmissions
        handle = asyncio.get_running_loop().call_later(64 * T1, self._forget, call)
        self._forgetting.add(handle)
        call.forget = handle
        self._close_media(call)
        # Its sockets' objects, buffers and endpoints go now, not with the call 32 s later:
        # at 400 calls/s they were 13,000 calls' worth of objects every full collection
        # walked. An ended call has nothing to play or bridge, which a None media means to
        # every user of it (an offer or answer waiting for media is moot once ended).
        call.media = None
        self.calls.pop((call.tenant_id, call.call_id), None)

    def _bye_caller(self, call: SipCall) -> None:
        caller = call.caller
        caller.ended = True
        self._bye(caller.dialog, caller.source)

    def _forget(self, call: SipCall) -> None:
        if call.forget is not None:
            self._forgetting.discard(call.forget)
        self.calls.pop((call.tenant_id, call.call_id), None)
        self._by_sip_call_id.pop(call.caller.invite.call_id, None)
        self._by_invite.pop(id(call.caller.transaction), None)
        self.acks.drop(call.caller.invite.call_id)
        for leg in call.agents.values():
            self._by_sip_call_id.pop(leg.invite.call_id, None)
            self._legs.pop(id(leg.transaction), None)
            self.acks.drop(leg.invite.call_id)
            if leg.retry is not None:
                leg.retry.cancel()
        self._close_media(call)

    def _close_media(self, call: SipCall) -> None:
        """Close the call's sockets; a recording goes to the sink, as the WebRTC adapter's."""
        self._voicemail_over(call)  # a message being taken ends with the media
        media = call.media
        if media is None:
            return
        duration = media.close()
        sink = self.on_recording()
        path = media.recording
        if duration is None or path is None or sink is None:
            return

        async def deliver() -> None:
            await sink(call.tenant_id, call.call_id, path, duration)

        self._spawn(deliver())

    def sweep_media(self, now: float) -> None:
        """End the answered calls with no RTP from either side for `media_timeout` seconds."""
        for call in list(self.calls.values()):
            if call.media is None or not call.caller.answered or call.ended:
                continue
            count, since = call.media_seen
            received = call.media.received()
            if received != count:
                call.media_seen = (received, now)
            elif now - since >= self.media_timeout:
                log.info("call %s: no RTP for %.0f s, ended", call.call_id, now - since)
                self._hung_up(call, ev.Party.SYSTEM, "media_timeout")
                self._hang_up(call, "media_timeout")

    # -- housekeeping ---------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # said now, with the call's traceback: not when the task is collected, if ever
            log.error("SIP: a call's task failed", exc_info=error)

    def close(self) -> None:
        for call in list(self.calls.values()):
            self._forget(call)
        for task in list(self._tasks):
            task.cancel()
        for handle in self._forgetting:
            handle.cancel()
        self._forgetting.clear()
        self.acks.close()
