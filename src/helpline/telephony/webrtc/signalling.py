"""The phone websocket's conversation (issue 6): how a page joins the `webrtc` adapter.

Messages are JSON objects with a `type`. Non-trickle: the page waits for its ICE gathering
to complete, then sends one offer holding every candidate.

A web caller (the `/call` page):
    -> {"type": "dial", "to": "+1800...", "from": "web", "sdp": OFFER, "dtmf": "message"}
       ("from" is what the page claims: kept on the call, unverified; the call's number is
       "web". The offer is checked first: helpline.telephony.webrtc.offers)
    <- {"type": "answer", "sdp": ANSWER, "call_id": ...}
    -> {"type": "dtmf", "digits": "1"}       keys from the page's keypad (aiortc has no
                                              telephone-event, so RTCDTMFSender cannot work)
    -> {"type": "hangup"}
    <- {"type": "ended", "call_id", "reason"}
A page that does not say `"dtmf": "message"` gets in-band (Goertzel) detection instead.

An agent's softphone: the websocket's life is the agent's presence; its media line is set up
once and carries every call:
    -> {"type": "offer", "sdp": OFFER}
    <- {"type": "answer", "sdp": ANSWER}
    -> {"type": "dtmf", "digits": "5"}       the keypad: its tones mixed into what the caller
                                              hears (Q.23 pairs: an IVR further on hears them)
    <- {"type": "media_failed"}              the line died: the page offers a new one
A new offer replaces the line only once it is answered: a bad one leaves the old working.
Errors answer {"type": "error", "message": ...} and leave the conversation open.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from helpline.core import events as ev
from helpline.telephony.webrtc.adapter import AgentLine, Channel, WebCall, WebRtcTelephony
from helpline.telephony.webrtc.inband import inband_detector
from helpline.telephony.webrtc.legs import MediaLeg
from helpline.telephony.webrtc.offers import BadOffer, check_offer

__all__ = ["agent_session", "caller_session", "inband_detector"]

log = logging.getLogger("helpline.webrtc")

DIGITS = frozenset("0123456789*#ABCD")
Messages = AsyncIterator[dict[str, Any]]
MAX_FAILED_DIALS = 3  # then the conversation is closed (1008): a page probing, not a caller
WEB_CALLER = "web"  # a browser caller's from_number: the page's own claim is not a number


def _digits(message: dict[str, Any]) -> str | None:
    digits = str(message.get("digits", ""))
    if not digits or len(digits) > 32 or not set(digits) <= DIGITS:
        return None
    return digits


async def caller_session(
    phone: WebRtcTelephony,
    tenant_id: str,
    channel: Channel,
    messages: Messages,
    allowed_numbers: Callable[[], set[str]],
    *,
    allow_private: bool = False,
) -> str | None:
    """A web caller: one call per conversation; a dropped page is the caller hanging up.

    Returns why the conversation must be closed as a policy violation (too many failed dials:
    someone probing numbers or offers), or None when it simply ended.
    """
    call: WebCall | None = None
    failed = 0
    try:
        async for message in messages:
            kind = message.get("type")
            if kind == "dial" and call is None:
                problem = _dial_problem(message, allowed_numbers())
                if problem is None:
                    call = await _start_call(
                        phone,
                        tenant_id=tenant_id,
                        channel=channel,
                        message=message,
                        allow_private=allow_private,
                    )
                else:
                    await channel.send({"type": "error", "message": problem})
                if call is None:
                    failed += 1
                    if failed >= MAX_FAILED_DIALS:
                        return f"{MAX_FAILED_DIALS} failed dials"
            elif kind == "dtmf" and call is not None and not call.ended:
                digits = _digits(message)
                if digits is None:
                    await channel.send({"type": "error", "message": "digits: 0-9, *, # or A-D"})
                    continue
                phone.emit(tenant_id, ev.DigitsPressed(call_id=call.call_id, digits=digits))
            elif kind == "hangup":
                break
            else:
                await channel.send({"type": "error", "message": f"type: {kind!r} not expected"})
    finally:
        if call is not None and not call.ended:
            phone.emit(
                tenant_id,
                ev.CallHungUp(call_id=call.call_id, party=ev.Party.CUSTOMER, reason="caller_left"),
            )
            await phone.finish(call, "caller_left")
    return None


def _dial_problem(message: dict[str, Any], hotlines: set[str]) -> str | None:
    to = str(message.get("to", ""))
    if to not in hotlines:
        return f"to: {to[:40]!r} is not a hotline"
    sdp = message.get("sdp")
    if not isinstance(sdp, str) or not sdp:
        return "sdp: an offer is required"
    return None


async def _start_call(
    phone: WebRtcTelephony,
    *,
    tenant_id: str,
    channel: Channel,
    message: dict[str, Any],
    allow_private: bool,
) -> WebCall | None:
    """Answer the page's offer, then the call arrives; None (and an error) for a bad offer."""
    try:
        sdp = check_offer(str(message["sdp"]), allow_private=allow_private)
    except BadOffer as error:
        await channel.send({"type": "error", "message": str(error)})
        return None
    call_id = f"web-{uuid.uuid4().hex[:16]}"
    on_digit = None
    if message.get("dtmf") != "message":  # keys in band: the leg's media detect them
        on_digit = partial(_emit_digit, phone, tenant_id, call_id)
    leg = phone.new_leg(call_id, on_digit=on_digit)
    # the page says who it is, but nobody vouches for it: kept as what it claimed, never as
    # the caller's number (routing, records and CRM pop-ups trust from_number) (review S2)
    claimed = str(message.get("from") or "")[:40] or None
    call = WebCall(
        tenant_id=tenant_id, call_id=call_id, leg=leg, channel=channel, claimed_from=claimed
    )
    phone.hear_caller(call)
    try:
        answer = await leg.answer(sdp)
    except Exception:  # aiortc refuses what it cannot parse or negotiate
        log.info("call %s: an unusable offer", call_id, exc_info=True)
        await leg.close()
        # its text stays in the log: an anonymous page learns nothing of our stack
        await channel.send({"type": "error", "message": "sdp: not a usable offer"})
        return None
    phone.calls[(tenant_id, call_id)] = call
    leg.on_failed = partial(_caller_media_failed, phone, call)
    await channel.send({"type": "answer", "sdp": answer, "call_id": call_id})
    to = str(message["to"])
    phone.emit(tenant_id, ev.CallArrived(call_id=call_id, from_number=WEB_CALLER, to_number=to))
    return call


async def _caller_media_failed(phone: WebRtcTelephony, call: WebCall) -> None:
    """The caller's media died (network gone, ICE failed): the call ends, never stuck."""
    if call.ended:
        return
    log.info("call %s: the caller's media failed", call.call_id)
    phone.emit(
        call.tenant_id,
        ev.CallHungUp(call_id=call.call_id, party=ev.Party.CUSTOMER, reason="media_failed"),
    )
    await phone.finish(call, "media_failed")


def _emit_digit(phone: WebRtcTelephony, tenant_id: str, call_id: str, digit: str) -> None:
    phone.emit(tenant_id, ev.DigitsPressed(call_id=call_id, digits=digit))


async def agent_session(
    phone: WebRtcTelephony, tenant_id: str, agent_id: str, channel: Channel, messages: Messages
) -> None:
    """An agent's softphone: online while connected; its media line on request."""
    line = phone.agent_connected(tenant_id, agent_id)
    leg: MediaLeg | None = None
    try:
        async for message in messages:
            kind = message.get("type")
            if kind == "offer" and isinstance(message.get("sdp"), str):
                new = await _agent_leg(phone, line, channel, str(message["sdp"]))
                if new is None:
                    continue  # the line it has keeps working (review R2)
                old, leg, line.leg = leg, new, new
                if old is not None:
                    await old.close()  # replaced only once the new one is answered
                phone.connect_line(line)
            elif kind == "dtmf":
                digits = _digits(message)
                if digits is None or not phone.agent_keys(line, digits):
                    await channel.send({"type": "error", "message": "digits: no call to send to"})
            elif kind == "ping":
                await channel.send({"type": "pong"})
            else:
                await channel.send({"type": "error", "message": f"type: {kind!r} not expected"})
    finally:
        if leg is not None and line.leg is leg:
            line.leg = None
            await leg.close()
        phone.agent_disconnected(line)


async def _agent_leg(
    phone: WebRtcTelephony, line: AgentLine, channel: Channel, sdp: str
) -> MediaLeg | None:
    """A new media line for the softphone, answered; None (and an error) if it is unusable."""
    try:
        checked = check_offer(sdp, allow_private=True)  # an agent's softphone is ours
    except BadOffer as error:
        await channel.send({"type": "error", "message": str(error)})
        return None
    leg = phone.new_leg(f"agent-{line.agent_id}")
    try:
        answer = await leg.answer(checked)
    except Exception:  # aiortc refuses what it cannot parse or negotiate
        log.info("agent %s: an unusable offer", line.agent_id, exc_info=True)
        await leg.close()
        await channel.send({"type": "error", "message": "sdp: not a usable offer"})
        return None
    phone.hear_agent(line, leg)
    leg.on_failed = partial(_agent_media_failed, line, leg, channel)
    await channel.send({"type": "answer", "sdp": answer})
    return leg


async def _agent_media_failed(line: AgentLine, leg: MediaLeg, channel: Channel) -> None:
    """The softphone's media died: drop the line and tell the page, which offers a new one
    (its call, if any, carries on: the agent's presence grace covers the gap)."""
    if line.leg is leg:
        line.leg = None
    await leg.close()
    try:
        await channel.send({"type": "media_failed"})
    except Exception:
        log.debug("agent %s: the softphone is gone", line.agent_id)
