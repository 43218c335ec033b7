"""Outbound SIP legs, the data: trunks calls leave through, credentials, the legs we start
as a UAC, the INVITE that starts one, and what a final status means for the engine (issue 7
point 3). `outbound_dialer.Dialer` sends and follows them; `outbound_calls` wires them to
the engine's commands."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from helpline.sip.dialog import Dialog
from helpline.sip.headers import Headers
from helpline.sip.message import Request
from helpline.sip.sdp import AudioSession, SessionDescription
from helpline.telephony.sip.transport import Source, transport_param


class LegOutcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    ENDED = "ended"  # the far end hung up after answering


# Final statuses other than 2xx and 401/407 (RFC 3261 21.4-21.6); the rest are FAILED.
STATUS_OUTCOMES = {
    486: LegOutcome.BUSY,  # Busy Here
    600: LegOutcome.BUSY,  # Busy Everywhere
    408: LegOutcome.NO_ANSWER,  # Request Timeout
    480: LegOutcome.NO_ANSWER,  # Temporarily Unavailable
    487: LegOutcome.NO_ANSWER,  # Request Terminated (our CANCEL)
}
MAX_CHALLENGES = 3  # a proxy and a registrar may both challenge; beyond that, a loop


def outcome_of(status: int) -> LegOutcome:
    """What a final non-2xx response (other than a challenge) means for the leg."""
    return STATUS_OUTCOMES.get(status, LegOutcome.FAILED)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundTrunk:
    """Where a tenant's outbound calls go, and the credentials its carrier wants."""

    name: str
    tenant_id: str
    host: str
    port: int = 5060
    transport: str = "UDP"
    username: str | None = None
    password: str | None = None
    realm: str | None = None
    from_domain: str | None = None
    prefix: str = ""

    @property
    def destination(self) -> Source:
        return Source(self.transport, self.host, self.port)

    def request_uri(self, number: str) -> str:
        suffix = transport_param(self.transport)
        return f"sip:{self.prefix}{number}@{self.host}:{self.port}{suffix}"


def parse_proxy(proxy: str) -> tuple[str, int]:
    host, _, port = proxy.partition(":")
    return host, int(port) if port else 5060


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    realm: str | None = None  # None: any realm


Report = Callable[["OutboundLeg", LegOutcome], None]


@dataclass(eq=False)
class OutboundLeg:
    target: Source  # where the INVITE and every in-dialog request go (the proxy, a phone)
    invite: Request  # the latest INVITE sent (after a challenge, the one with credentials)
    offer: SessionDescription
    report: Report
    credentials: Credentials | None
    transaction: object = None  # the latest INVITE's client transaction
    transactions: list[object] = field(default_factory=list)  # every INVITE's (challenges)
    provisional: bool = False
    answered: bool = False
    ended: bool = False  # we or they ended it; no more reports
    reported: bool = False  # its one outcome before the answer, or `answered`, is out
    cancel_wanted: bool = False
    dialog: Dialog | None = None
    session: AudioSession | None = None  # from the 2xx (or early, from a 183)
    challenges: set[str] = field(default_factory=set)  # nonces answered
    timer: asyncio.TimerHandle | None = None
    # whoever terminates the leg's media (an RTP endpoint of ours): a re-INVITE's new
    # session (moved address, other codec, hold) is theirs to follow
    on_session: Callable[[AudioSession], None] | None = None

    @property
    def call_id(self) -> str:
        return self.invite.call_id


def build_invite(
    *,
    uri: str,
    to: str,  # the header's value
    from_user: str,
    from_host: str,
    via: str,
    contact: str,
    sdp: bytes,
    call_id: str | None = None,
    from_tag: str | None = None,
    cseq: int = 1,
    authorization: tuple[str, str] | None = None,
) -> Request:
    """An INVITE outside any dialog (RFC 3261 8.1.1); again with the same Call-ID and tag and
    a higher CSeq when it answers a challenge (8.1.3.5, 22.2)."""
    headers = Headers()
    headers.add("Via", f"{via};branch=z9hG4bK{secrets.token_hex(8)}")
    headers.add("Max-Forwards", "70")
    headers.add("From", f"<sip:{from_user}@{from_host}>;tag={from_tag or secrets.token_hex(6)}")
    headers.add("To", to)
    headers.add("Call-ID", call_id or secrets.token_hex(12) + "@helpline")
    headers.add("CSeq", f"{cseq} INVITE")
    headers.add("Contact", contact)
    if authorization is not None:
        headers.add(*authorization)
    headers.add("Content-Type", "application/sdp")
    return Request("INVITE", uri, headers, sdp)
