"""The legs of a SIP call as the B2BUA keeps them, and where an agent's phone is reached."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from helpline.sip import ids
from helpline.sip.client_transaction import ClientTransaction
from helpline.sip.dialog import Dialog
from helpline.sip.headers import Headers
from helpline.sip.message import Request, Response
from helpline.sip.sdp import AudioSession, SessionDescription
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.uri import parse_uri
from helpline.telephony.sip.media import CallMedia
from helpline.telephony.sip.transport import Source, parse_source


def new_tag() -> str:
    return ids.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + ids.token_hex(8)


def phone_destination(contact: str, source_text: str) -> Source | None:
    """Where to send a phone's INVITE. A Contact whose host is the address the REGISTER came
    from names the phone itself (it may take calls on another port than it registered
    from); any other host is private, behind NAT, so the request goes back through the flow
    the REGISTER opened (as Kamailio's nathelper decides, by comparing the two)."""
    source = parse_source(source_text)
    if source is None:
        return None
    try:
        uri = parse_uri(contact)
    except ValueError:
        return source
    if uri.host.strip("[]") != source.host:
        return source
    transport = (uri.transport or source.transport).upper()
    if transport not in ("UDP", "TCP"):
        return source
    return Source(transport, source.host, uri.port or 5060)


@dataclass(eq=False)
class CallerLeg:
    transaction: ServerTransaction
    invite: Request
    source: Source
    tag: str
    offer: SessionDescription | None = None
    answered: bool = False  # our 2xx went out
    acked: bool = False
    ended: bool = False
    bye_after_ack: bool = False
    dialog: Dialog | None = None
    ok: Response | None = None


@dataclass(eq=False)
class AgentLeg:
    agent_id: str
    invite: Request
    transaction: ClientTransaction
    destination: Source
    offer: SessionDescription
    provisional: bool = False
    cancel_wanted: bool = False
    answered: bool = False
    ended: bool = False
    dialog: Dialog | None = None
    session: AudioSession | None = None  # what its answer agreed: where its RTP goes
    sdp_version: int = 1  # our o= version in this dialog: each new offer or answer grows it
    on_hold: bool = False  # held as the phone knows it: its re-INVITE's, or ours (RFC 3264 8.4)
    reinviting: bool = False  # our re-INVITE awaits its final response (one at a time, 14.1)
    asking_hold: bool = False  # what that re-INVITE asks: on_hold once it gets a 2xx
    retry: asyncio.TimerHandle | None = None  # ours got 491: tried again after a while (14.1)


@dataclass(eq=False)
class SipCall:
    tenant_id: str
    call_id: str
    caller: CallerLeg
    media: CallMedia | None = None
    session: AudioSession | None = None  # what leg A agreed: leg B gets the same codec
    bridged: str | None = None  # the agent whose phone the caller is joined to
    recorded: bool = False
    held: bool = False
    saying_goodbye: bool = False  # a Hangup's prompt is playing: the BYE follows it
    audio_serial: int = 0  # which audio command is current: a slow render must not win late
    media_seen: tuple[int, float] = (0, 0.0)  # (datagrams received, when that count changed)
    agents: dict[str, AgentLeg] = field(default_factory=dict)
    ended: bool = False
    forget: asyncio.TimerHandle | None = None
    answer_wanted: bool = False  # asked before the media sockets were open
    offers_waiting: list[str] = field(default_factory=list)


def agent_invite(
    binding_contact: str, *, caller_user: str, host: str, via: str, contact: str, sdp: bytes
) -> Request:
    """A new INVITE to an agent's phone (RFC 3261 8.1.1): its own Call-ID and tags, the
    caller's number as the From user (what the phone shows), our SDP offer."""
    headers = Headers()
    headers.add("Via", f"{via};branch={new_branch()}")
    headers.add("Max-Forwards", "70")
    headers.add("From", f"<sip:{caller_user}@{host}>;tag={new_tag()}")
    headers.add("To", f"<{binding_contact}>")
    headers.add("Call-ID", ids.token_hex(12) + "@helpline")
    headers.add("CSeq", "1 INVITE")
    headers.add("Contact", contact)
    headers.add("Content-Type", "application/sdp")
    return Request("INVITE", binding_contact, headers, sdp)


_DTMF_KEYS = frozenset("0123456789*#ABCD")


def info_digits(info: Request) -> str | None:
    """The key of a DTMF INFO ("Signal=5" in application/dtmf-relay, or "5" in
    application/dtmf); "" for a key we do not take (A-D, flash); None for another body."""
    kind = (info.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    text = info.body.decode("ascii", "replace")
    if kind == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                key = value.strip()
                return key if key in _DTMF_KEYS - set("ABCD") else ""
        return ""
    if kind == "application/dtmf":
        key = text.strip()
        return key if key in _DTMF_KEYS - set("ABCD") else ""
    return None
