"""An agent's SIP phone in Python for the transfer and hold tests: SIP over `RawPeer`
(registered with digest as the agent), a real RTP socket beside it that keeps every packet
it receives and sends a tone paced like a phone, and re-INVITEs (hold, resume) of its own."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sipnet_rtp import RtpSocket
from sipnet_support import PHONE_HOST, RawPeer, raw_register, reply

from helpline.sip.message import Request, Response, parse_message
from helpline.sip.sdp import parse_sdp


class SeeingPeer(RawPeer):
    """A `RawPeer` that also keeps the method of every request it received, in order (what
    `expect` skipped included)."""

    def __init__(self) -> None:
        super().__init__()
        self.methods: list[str] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, Request):
            self.methods.append(message.method)
        super().datagram_received(data, addr)


def phone_sdp(port: int, direction: str = "sendrecv", host: str = PHONE_HOST) -> str:
    return (
        f"v=0\r\no=phone 1 {int(time.monotonic() * 1000)} IN IP4 {host}\r\ns=-\r\n"
        f"c=IN IP4 {host}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        f"a={direction}\r\n"
    )


@dataclass
class RtpPhone:
    agent: str
    sip: SeeingPeer
    rtp: RtpSocket
    remote: tuple[str, int] | None = None  # where our INVITE's SDP said to send RTP
    invite: Request | None = None
    to_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    cseq: int = 1
    media_host: str = PHONE_HOST  # what our SDP says (where our RTP socket is bound)
    _sender: asyncio.Task[None] | None = None

    @classmethod
    async def carrier(cls, host: str) -> RtpPhone:
        """A far end behind the outbound trunk: not registered, it answers the INVITEs the
        trunk's proxy address receives (set `sip.server` to the server's port once known)."""
        loop = asyncio.get_running_loop()
        sip = await SeeingPeer.open(host, 0)
        _, rtp = await loop.create_datagram_endpoint(RtpSocket, local_addr=(host, 0))
        return cls("customer", sip, rtp, media_host=host)

    @classmethod
    async def register(cls, server_port: int, agent: str) -> RtpPhone:
        loop = asyncio.get_running_loop()
        sip = await SeeingPeer.open(PHONE_HOST, server_port)
        _, rtp = await loop.create_datagram_endpoint(RtpSocket, local_addr=(PHONE_HOST, 0))
        final = await raw_register(sip, agent)
        assert final.status == 200, final.status
        return cls(agent, sip, rtp)

    @property
    def rtp_port(self) -> int:
        return self.rtp.port

    async def answer(self, timeout: float = 10.0) -> Request:
        """The next INVITE: 180, then 200 with our SDP; the ACK awaited."""
        invite = await self.sip.expect("INVITE", timeout=timeout)
        assert isinstance(invite, Request)
        self.invite = invite
        offer = parse_sdp(invite.body)
        self.remote = (offer.address(offer.media[0]), offer.media[0].port)
        self.sip.send(reply(invite, 180, tag=self.to_tag))
        self.sip.send(
            reply(invite, 200, tag=self.to_tag, body=phone_sdp(self.rtp_port, host=self.media_host))
        )
        await self.sip.expect("ACK", timeout=timeout)
        return invite

    async def expect_bye(self, timeout: float = 5.0) -> Request:
        bye = await self.sip.expect("BYE", timeout=timeout)
        assert isinstance(bye, Request)
        self.sip.send(reply(bye, 200, tag=self.to_tag))
        return bye

    def _in_dialog(self, method: str, *, body: str = "") -> bytes:
        """A request of ours in the dialog the server's INVITE made (we are its UAS: our
        From is its To, with our tag; RFC 3261 12.2.1.1)."""
        assert self.invite is not None
        self.cseq += 1
        host, port = self.sip.address
        contact = self.invite.headers.get("Contact") or ""
        uri = contact.strip().lstrip("<").split(">")[0]
        extra = "Content-Type: application/sdp\r\n" if body else ""
        return (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: {self.invite.headers.get('To')};tag={self.to_tag}\r\n"
            f"To: {self.invite.headers.get('From')}\r\n"
            f"Call-ID: {self.invite.call_id}\r\nCSeq: {self.cseq} {method}\r\n"
            f"Contact: <sip:{self.agent}@{host}:{port}>\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    async def accept_reinvite(self, timeout: float = 5.0) -> str:
        """The server's next re-INVITE answered 200 with the mirrored direction (RFC 3264
        6.1); its ACK awaited, with the re-INVITE's CSeq number; the offer's direction."""
        invite = await self.sip.expect("INVITE", timeout=timeout)
        assert isinstance(invite, Request) and invite.call_id == self.invite_call_id
        offer = parse_sdp(invite.body)
        direction = offer.direction(offer.media[0])
        mirrored = {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)
        body = phone_sdp(self.rtp_port, mirrored, host=self.media_host)
        self.sip.send(reply(invite, 200, tag=self.to_tag, body=body))
        ack = await self.sip.expect("ACK", timeout=timeout)
        assert isinstance(ack, Request) and ack.cseq.number == invite.cseq.number
        return direction

    @property
    def invite_call_id(self) -> str:
        assert self.invite is not None
        return self.invite.call_id

    async def hang_up(self) -> None:
        self.stop_sending()
        self.sip.send(self._in_dialog("BYE"))
        await self.sip.expect(200)

    async def reinvite(self, direction: str, *, host: str = PHONE_HOST) -> Response:
        """A re-INVITE with our SDP in `direction` (RFC 3264 8.4: sendonly or inactive for
        hold; host 0.0.0.0 is RFC 2543's hold); the 200's ACK sent; the 200 returned."""
        self.sip.send(self._in_dialog("INVITE", body=phone_sdp(self.rtp_port, direction, host)))
        ok = await self.sip.expect(200, timeout=5)
        assert isinstance(ok, Response) and ok.cseq.method == "INVITE"
        ack = self._in_dialog("ACK").replace(
            f"CSeq: {self.cseq} ACK".encode(), f"CSeq: {ok.cseq.number} ACK".encode()
        )
        self.cseq -= 1  # the ACK takes the INVITE's CSeq number (13.2.2.4)
        self.sip.send(ack)
        return ok

    def send_audio(self, samples: npt.NDArray[np.int16]) -> None:
        """Send `samples`, looped, as paced PCMU packets to the server's SDP address."""
        self.stop_sending()
        self._sender = asyncio.ensure_future(self._send(samples))

    def stop_sending(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None

    async def _send(self, samples: npt.NDArray[np.int16]) -> None:
        assert self.remote is not None
        await self.rtp.send_pcmu(self.remote, samples, seed=self.agent)

    def audio(self, since: float = 0.0) -> npt.NDArray[np.int16]:
        return self.rtp.audio(since)

    def close(self) -> None:
        self.stop_sending()
        self.sip.close()
        if self.rtp.transport is not None:
            self.rtp.transport.close()
