"""The dialer of outbound SIP legs: INVITEs we send as a UAC, through a carrier's trunk or to
a phone (issue 7 point 3: callout, click-to-call, callback, routing type 2, IVR external).

A leg is one INVITE dialog we start. `Dialer.dial` sends it; responses come back through
`on_response`, and the leg ends in exactly one `LegOutcome` given to its callback:

- 401/407: answered once per challenge with digest credentials (RFC 3261 22.2, 22.3): a new
  INVITE with the same Call-ID and From tag, CSeq one higher, a new branch (8.1.3.5). A
  second challenge of a nonce we already answered means the credentials are wrong: failed.
- 1xx: ringing (183 with SDP: early media, accepted and kept). 2xx: ACKed (13.2.2.4, every
  retransmission too) and `answered`, with the agreed `AudioSession`.
- 486/600: busy. 408/480/487, no final answer within the leg's timeout (then CANCELled, 9.1,
  once a provisional came), or a transaction that timed out: no_answer. Any other 3xx-6xx,
  or a transport failure: failed (`STATUS_OUTCOMES` is the table).
- After the answer a BYE from the far end is `ended`; `hang_up` ends a leg in any state
  (CANCEL before the answer, BYE after it; a 2xx that races the CANCEL gets ACK then BYE).
- The far end's re-INVITE is answered with our session (`_reinvite`); before our INVITE
  was answered it gets 491 (glare, RFC 3261 14.2). Our 2xx to it is resent until its ACK
  (13.3.1.4, `reinvites.AwaitedAcks`); with none in 64*T1 the leg gets our BYE and `ended`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets

from helpline.sip.auth import DigestParseError, answer_challenge
from helpline.sip.client_transaction import build_cancel
from helpline.sip.dialog import Dialog, DialogError
from helpline.sip.message import Request, Response, make_response
from helpline.sip.sdp import (
    AudioSession,
    SdpError,
    SessionDescription,
    accept_answer,
    make_answer,
    parse_sdp,
)
from helpline.sip.server_transaction import ServerTransaction
from helpline.telephony.sip.outbound import (
    MAX_CHALLENGES,
    Credentials,
    LegOutcome,
    OutboundLeg,
    Report,
    build_invite,
    outcome_of,
)
from helpline.telephony.sip.reinvites import AwaitedAcks, crossing
from helpline.telephony.sip.stack import SipStack
from helpline.telephony.sip.transport import Source, transport_param

log = logging.getLogger("helpline.sip")


class Dialer:
    """Sends outbound INVITEs and is the transaction user of their responses and of the
    requests within their dialogs (`on_*` answer True for what was theirs)."""

    def __init__(self, stack: SipStack, *, host: str) -> None:
        self.stack = stack
        self.host = host
        self._by_transaction: dict[int, OutboundLeg] = {}
        self._by_call_id: dict[str, OutboundLeg] = {}
        self.acks = AwaitedAcks(stack, stack.layer.timers)  # our 2xx answers to re-INVITEs
        self.rng = random.Random()

    def _via(self, transport: str) -> str:
        return f"SIP/2.0/{transport} {self.host}:{self.stack.transports.port_for(transport)};rport"

    def contact(self, transport: str) -> str:
        port, suffix = self.stack.transports.port_for(transport), transport_param(transport)
        return f"<sip:helpline@{self.host}:{port}{suffix}>"

    def dial(
        self,
        *,
        target: Source,
        uri: str,
        from_user: str,
        from_host: str | None,
        offer: SessionDescription,
        timeout: float,
        report: Report,
        credentials: Credentials | None = None,
    ) -> OutboundLeg:
        invite = build_invite(
            uri=uri,
            to=f"<{uri.split(';', maxsplit=1)[0]}>",
            from_user=from_user or "anonymous",
            from_host=from_host or self.host,
            via=self._via(target.transport),
            contact=self.contact(target.transport),
            sdp=offer.serialize().encode(),
        )
        leg = OutboundLeg(target, invite, offer, report, credentials)
        self._by_call_id[invite.call_id] = leg
        try:
            self._send(leg)
        except Exception:  # e.g. uvloop will not resolve a trunk's name for a datagram
            self.forget(leg)
            raise
        leg.timer = asyncio.get_running_loop().call_later(timeout, self._timed_out, leg)
        return leg

    def _send(self, leg: OutboundLeg) -> None:
        leg.transaction = self.stack.send_request(leg.invite, leg.target)
        leg.transactions.append(leg.transaction)
        self._by_transaction[id(leg.transaction)] = leg

    def _report(self, leg: OutboundLeg, outcome: LegOutcome) -> None:
        if leg.timer is not None:
            leg.timer.cancel()
        if outcome is not LegOutcome.ANSWERED:
            leg.ended = True
        if leg.reported and outcome is not LegOutcome.ENDED:
            return
        leg.reported = True
        leg.report(leg, outcome)

    def _timed_out(self, leg: OutboundLeg) -> None:
        if leg.answered or leg.ended:
            return
        self._cancel(leg)
        self._report(leg, LegOutcome.NO_ANSWER)

    def _cancel(self, leg: OutboundLeg) -> None:
        """CANCEL once a provisional response came (9.1); before that, when one comes."""
        leg.ended = True
        if leg.provisional:
            self.stack.send_request(build_cancel(leg.invite), leg.target)
        else:
            leg.cancel_wanted = True

    def hang_up(self, leg: OutboundLeg) -> None:
        """End the leg from our side, whatever its state; it reports nothing more."""
        if leg.timer is not None:
            leg.timer.cancel()
        leg.reported = True
        if leg.answered and not leg.ended:
            leg.ended = True
            self._bye(leg)
        elif not leg.answered and not leg.ended:
            self._cancel(leg)

    def _bye(self, leg: OutboundLeg) -> None:
        if leg.dialog is None:
            return
        self.acks.drop(leg.call_id)  # our 2xx to its re-INVITE: no more resending
        leg.dialog, bye = leg.dialog.create_request(
            "BYE", via=self._via(leg.target.transport), branch="z9hG4bK" + secrets.token_hex(8)
        )
        self.stack.send_request(bye, leg.target)

    # -- the transaction user -------------------------------------------------------------

    def on_response(self, transaction: object, response: Response) -> bool:
        leg = self._by_transaction.get(id(transaction)) if transaction is not None else None
        if leg is None:
            leg = self._by_call_id.get(response.call_id)
        if leg is None:
            return False
        if response.cseq.method != "INVITE" or response.cseq.number != leg.invite.cseq.number:
            return True  # a BYE's or CANCEL's answer, or a late one to a challenged INVITE
        status = response.status
        if status < 200:
            self._provisional(leg, response)
        elif status < 300:
            self._answered(leg, response)
        elif status in (401, 407) and not leg.ended:
            self._challenged(leg, response)
        elif not leg.answered:
            self._report(leg, outcome_of(status))
        return True

    def _provisional(self, leg: OutboundLeg, response: Response) -> None:
        leg.provisional = True
        if leg.cancel_wanted:
            leg.cancel_wanted = False
            self.stack.send_request(build_cancel(leg.invite), leg.target)
            return
        if response.body and leg.session is None:  # early media (RFC 3960): kept, not needed
            with contextlib.suppress(SdpError):
                leg.session = accept_answer(leg.offer, parse_sdp(response.body))

    def _answered(self, leg: OutboundLeg, ok: Response) -> None:
        if leg.dialog is None:
            try:
                leg.dialog = Dialog.as_uac(leg.invite, ok)
            except DialogError:
                log.info("outbound %s: a 2xx without a To tag", leg.call_id)
                return
        ack = leg.dialog.create_ack(
            leg.invite.cseq.number,
            via=self._via(leg.target.transport),
            branch="z9hG4bK" + secrets.token_hex(8),
        )
        self.stack.send_stateless(ack, leg.target)  # every 2xx gets its ACK (13.2.2.4)
        if leg.answered:
            return
        leg.answered = True
        if leg.ended:  # answered after we gave up: hang up at once (15)
            self._bye(leg)
            return
        if ok.body:
            try:
                leg.session = accept_answer(leg.offer, parse_sdp(ok.body))
            except SdpError as error:
                log.info("outbound %s: unusable SDP answer: %s", leg.call_id, error)
                self._give_up(leg)
                return
        elif leg.session is None:
            # Our INVITE carried the offer, so its 2xx must carry the answer (RFC 3261
            # 13.2.1; an early answer in a 183 would do, RFC 3264 / 3960): no media to join.
            log.info("outbound %s: a 2xx without an SDP answer", leg.call_id)
            self._give_up(leg)
            return
        self._report(leg, LegOutcome.ANSWERED)

    def _give_up(self, leg: OutboundLeg) -> None:
        """An answered leg we cannot use: BYE it now (not when the engine hangs up)."""
        leg.ended = True
        self._bye(leg)
        self._report(leg, LegOutcome.FAILED)

    def _challenged(self, leg: OutboundLeg, response: Response) -> None:
        """22.2/22.3: the same request again, with credentials for the challenge."""
        proxy = response.status == 407
        header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        challenge = response.headers.get(header) or ""
        credentials = leg.credentials
        nonce = _param(challenge, "nonce")
        realm = _param(challenge, "realm")
        if (
            credentials is None
            or not nonce
            or nonce in leg.challenges
            or len(leg.challenges) >= MAX_CHALLENGES
            or (credentials.realm is not None and realm != credentials.realm)
        ):
            self._report(leg, LegOutcome.FAILED)
            return
        leg.challenges.add(nonce)
        try:
            value = answer_challenge(
                challenge,
                username=credentials.username,
                password=credentials.password,
                method="INVITE",
                uri=leg.invite.uri,
                cnonce=secrets.token_hex(8),
                nc=1,
            )
        except DigestParseError:
            self._report(leg, LegOutcome.FAILED)
            return
        old = leg.invite
        leg.invite = build_invite(
            uri=old.uri,
            to=old.headers.get("To") or "",
            from_user=old.from_.sip_uri.user or "anonymous",
            from_host=old.from_.sip_uri.host,
            via=self._via(leg.target.transport),
            contact=old.headers.get("Contact") or self.contact(leg.target.transport),
            sdp=old.body,
            call_id=old.call_id,
            from_tag=old.from_.tag,
            cseq=old.cseq.number + 1,
            authorization=("Proxy-Authorization" if proxy else "Authorization", value),
        )
        leg.provisional = False
        self._send(leg)

    def on_request(self, transaction: ServerTransaction | None, request: Request) -> bool:
        leg = self._by_call_id.get(request.call_id)
        if leg is None:
            return False
        if transaction is None:  # an ACK: to a re-INVITE's 2xx, ours again
            if request.method == "ACK" and self.acks.ack(request) and request.body:
                self._answer_in_ack(leg, request)
            return True
        if request.method == "BYE":
            self.stack.respond(transaction, make_response(request, 200))
            self.acks.drop(leg.call_id)
            if leg.answered and not leg.ended:
                leg.ended = True
                self._report(leg, LegOutcome.ENDED)
        elif request.method == "INVITE":
            self._reinvite(leg, transaction, request)
        else:  # INFO, UPDATE without SDP, OPTIONS: nothing of ours changes
            self.stack.respond(transaction, make_response(request, 200))
        return True

    def _reinvite(self, leg: OutboundLeg, transaction: ServerTransaction, invite: Request) -> None:
        """A carrier's re-INVITE (a session refresh, RFC 4028, or a codec change): 200 with
        our session as it stands, answering its offer on the same port (RFC 3264 8); with
        no offer in it, our offer again (its answer comes in the ACK, which we need not
        read: the relay latches where the packets come from)."""
        self.acks.arrived(invite)
        if leg.ended and leg.answered:
            self.stack.respond(transaction, make_response(invite, 481))  # our BYE is out
            return
        # our INVITE still awaits its final answer (no re-INVITE of ours is ever pending)
        refused = crossing(
            invite, ours_pending=not leg.answered, theirs_pending=False, rng=self.rng
        )
        if refused is not None:
            self.stack.respond(transaction, refused)
            return
        port = leg.offer.media[0].port if leg.offer.media else 0
        sdp, session = leg.offer, None
        if invite.body:
            try:
                sdp, session = make_answer(
                    parse_sdp(invite.body),
                    self.host,
                    port,
                    session_id=leg.offer.origin.session_id,
                    version=leg.offer.origin.version + 1,
                )
            except SdpError as error:
                self.stack.respond(transaction, make_response(invite, error.status))
                return
        ok = make_response(invite, 200)
        ok.headers.add("Contact", self.contact(leg.target.transport))
        ok.headers.add("Content-Type", "application/sdp")
        response = Response(200, "OK", ok.headers, sdp.serialize().encode())
        source = self.stack.source_of(transaction)
        self.stack.respond(transaction, response)
        reliable = source.reliable if source is not None else leg.target.reliable
        self.acks.answered(
            transaction, response, reliable=reliable, on_no_ack=lambda: self._no_ack(leg)
        )
        if session is not None:
            self._new_session(leg, session)

    def _no_ack(self, leg: OutboundLeg) -> None:
        """No ACK for our 2xx to its re-INVITE in 64*T1: the session ends (13.3.1.4)."""
        if leg.ended:
            return
        leg.ended = True
        self._bye(leg)
        self._report(leg, LegOutcome.ENDED)

    def _answer_in_ack(self, leg: OutboundLeg, ack: Request) -> None:
        """An offerless re-INVITE got our offer again; its answer comes in the ACK."""
        try:
            session = accept_answer(leg.offer, parse_sdp(ack.body))
        except SdpError as error:
            log.info("outbound %s: unusable SDP answer in an ACK: %s", leg.call_id, error)
            return
        self._new_session(leg, session)

    def _new_session(self, leg: OutboundLeg, session: AudioSession) -> None:
        """Media moved (new c=/m= address), another codec or hold: our endpoint on the
        leg, if one terminates it (`on_session`), re-targets; a relay re-latches itself."""
        leg.session = session
        if leg.on_session is not None and not leg.ended:
            leg.on_session(session)

    def on_failure(self, transaction: object) -> bool:
        leg = self._by_transaction.get(id(transaction))
        if leg is None:
            return False
        if not leg.answered and not leg.ended:
            self._report(leg, LegOutcome.NO_ANSWER)  # Timer B: nobody answered (17.1.1.2)
        return True

    def forget(self, leg: OutboundLeg) -> None:
        """Drop the leg's routes a while after it ended (late retransmissions are answered
        until then)."""
        self._by_call_id.pop(leg.call_id, None)
        self.acks.drop(leg.call_id)
        for transaction in leg.transactions:
            self._by_transaction.pop(id(transaction), None)
        if leg.timer is not None:
            leg.timer.cancel()

    def close(self) -> None:
        for leg in list(self._by_call_id.values()):
            self.forget(leg)
        self.acks.close()


def _param(challenge: str, name: str) -> str | None:
    for part in challenge.split(","):
        key, _, value = part.strip().partition("=")
        if key.split()[-1:] == [name] or key == name:
            return value.strip().strip('"')
    return None
