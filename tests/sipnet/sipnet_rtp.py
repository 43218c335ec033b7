"""A carrier's caller in Python for the media tests: SIP over `RawPeer` from the trunk's
address, and a real RTP socket beside it that keeps every packet it receives and can send
a tone, paced like a phone (20 ms of G.711 µ-law per packet)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sipnet_support import TRUNK_HOST, RawPeer, raw_request

from helpline.core import events as ev
from helpline.media.g711 import ulaw_decode, ulaw_encode
from helpline.media.rtp import RtpPacket, parse_rtp
from helpline.sip.message import Request, Response
from helpline.telephony.sip import SipTelephony

RATE = 8000
FRAME = 160


def dominant(samples: npt.NDArray[np.int16], rate: int = RATE) -> float:
    """The strongest frequency above 150 Hz (a tone's)."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = freqs > 150
    return float(freqs[band][np.argmax(spectrum[band])])


def tone(frequency: float, seconds: float, amplitude: int = 8000) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * frequency * t) * amplitude).astype(np.int16)


@dataclass
class Received:
    at: float  # monotonic arrival time
    packet: RtpPacket


class RtpSocket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.packets: list[Received] = []
        self.sources: set[tuple[str, int]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sources.add(addr)
        self.packets.append(Received(time.monotonic(), parse_rtp(data)))

    @property
    def port(self) -> int:
        """The local port this socket is bound to."""
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def audio(self, since: float = 0.0) -> npt.NDArray[np.int16]:
        """The PCMU audio received (after `since`), decoded, in arrival order."""
        chunks = [
            ulaw_decode(r.packet.payload)
            for r in self.packets
            if r.packet.payload_type == 0 and r.at >= since
        ]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    async def send_pcmu(
        self,
        remote: tuple[str, int],
        samples: npt.NDArray[np.int16],
        *,
        seed: int | str,
        loop: bool = True,
    ) -> None:
        """Send `samples` (again and again with `loop`) to `remote` as PCMU packets paced
        like a phone; SSRC, first sequence number and timestamp drawn from `seed`."""
        assert self.transport is not None
        rng = random.Random(seed)
        ssrc, seq, ts = rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32)
        start, sent, position = time.monotonic(), 0, 0
        while True:
            if position + FRAME > len(samples):
                if not loop:
                    return
                position = 0
            payload = ulaw_encode(samples[position : position + FRAME])
            position += FRAME
            packet = RtpPacket(
                payload_type=0, sequence=seq, timestamp=ts, ssrc=ssrc, payload=payload
            )
            self.transport.sendto(packet.serialize(), remote)
            seq, ts, sent = (seq + 1) % 65536, (ts + FRAME) % 2**32, sent + 1
            await asyncio.sleep(max(0.0, start + sent * FRAME / RATE - time.monotonic()))


@dataclass
class RtpCaller:
    """INVITE (offering PCMU and telephone-event 101) to `number`; ACK; BYE; RTP both ways."""

    sip: RawPeer
    rtp: RtpSocket
    server_port: int
    number: str
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    remote: tuple[str, int] | None = None  # the media address of our answer's SDP
    to_header: str = ""
    _sender: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, server_port: int, number: str) -> RtpCaller:
        loop = asyncio.get_running_loop()
        sip = await RawPeer.open(TRUNK_HOST, server_port)
        _, rtp = await loop.create_datagram_endpoint(RtpSocket, local_addr=(TRUNK_HOST, 0))
        return cls(sip, rtp, server_port, number)

    @property
    def rtp_port(self) -> int:
        return self.rtp.port

    @property
    def uri(self) -> str:
        return f"sip:{self.number}@127.0.0.1:{self.server_port}"

    async def call(self) -> Response:
        sdp = (
            "v=0\r\n"
            f"o=caller 1 1 IN IP4 {TRUNK_HOST}\r\ns=-\r\nc=IN IP4 {TRUNK_HOST}\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
        )
        invite = raw_request(
            self.sip,
            "INVITE",
            self.uri,
            call_id=self.call_id,
            from_user="+15550002222",
            extra="Content-Type: application/sdp\r\n",
            body=sdp,
        )
        self.sip.send(invite)
        ok = await self.sip.expect(200, timeout=10)
        assert isinstance(ok, Response)
        self.to_header = ok.headers.get("To") or ""
        for line in ok.body.decode().splitlines():
            if line.startswith("m=audio"):
                port = int(line.split()[1])
            if line.startswith("c=IN IP4"):
                host = line.split()[2]
        self.remote = (host, port)
        self.sip.send(self._in_dialog("ACK", 1))
        return ok

    def _in_dialog(self, method: str, cseq: int) -> bytes:
        host, port = self.sip.address
        return (
            f"{method} {self.uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:+15550002222@{host}>;tag=f{self.call_id[:6]}\r\n"
            f"To: {self.to_header}\r\nCall-ID: {self.call_id}\r\nCSeq: {cseq} {method}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    async def hang_up(self) -> None:
        self.stop_sending()
        self.sip.send(self._in_dialog("BYE", 2))
        await self.sip.expect(200)

    async def expect_bye(self, timeout: float) -> Request:
        bye = await self.sip.expect("BYE", timeout=timeout)
        assert isinstance(bye, Request)
        return bye

    def send_audio(self, samples: npt.NDArray[np.int16], *, loop: bool = True) -> None:
        """Send `samples` (again and again with `loop`) as paced PCMU packets."""
        self._sender = asyncio.ensure_future(self._send(samples, loop))

    def stop_sending(self) -> None:
        if self._sender is not None:
            self._sender.cancel()

    async def _send(self, samples: npt.NDArray[np.int16], loop: bool) -> None:
        assert self.remote is not None
        await self.rtp.send_pcmu(self.remote, samples, seed=7, loop=loop)

    def audio(self, since: float = 0.0) -> npt.NDArray[np.int16]:
        """The PCMU audio received (after `since`), decoded, in arrival order."""
        return self.rtp.audio(since)

    def close(self) -> None:
        self.stop_sending()
        self.sip.close()
        if self.rtp.transport is not None:
            self.rtp.transport.close()


IVR_PROMPT = "For sales, press 1. For support, press 2."
GOODBYE = "Goodbye."  # key 9's: the caller hears it, then gets the BYE
QUICK_PROMPT = "Hello."  # the quick tree's: its 2 s key timeout runs from the prompt's end
MEDIA_CENTER: dict[str, Any] = {
    "name": "SIP media center",
    "numbers": [
        {"number": "200", "enable_ivr": True, "ivr_tree": "keys"},  # waits for a key
        {"number": "201", "enable_ivr": True, "ivr_tree": "quick"},  # 2 s after the prompt
        {"number": "100", "queue": "support"},
        {"number": "300", "queue": "recorded"},
    ],
    "ivr_trees": [
        {
            "id": tree,
            "root": "menu",
            "nodes": [
                {
                    "id": "menu",
                    "prompt": prompt,
                    "timeout": timeout,
                    "max_retries": 0,
                    "keys": {
                        "1": {"queue": "sales"},
                        "2": {"queue": "support"},
                        "9": {"kind": "hangup", "prompt": GOODBYE},
                    },
                    "default": {"queue": "sales"},
                }
            ],
        }
        for tree, prompt, timeout in (("keys", IVR_PROMPT, "20s"), ("quick", QUICK_PROMPT, "2s"))
    ],
    "queues": [
        {"id": "sales", "groups": ["team"], "greeting": "Please hold.", "hold_music": "default"},
        {"id": "support", "groups": ["team"], "wait_agent_answer_timeout": "10s"},
        {"id": "recorded", "groups": ["team"], "recording": "record"},
    ],
    "groups": [{"id": "team", "agents": ["alice", "bob"]}],
    "agents": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
}


def observe(sip: SipTelephony) -> list[tuple[float, ev.Event]]:
    """Every event the B2BUA posts to the engine, with when (it still reaches the engine)."""
    seen: list[tuple[float, ev.Event]] = []
    post = sip.b2bua.post

    def tap(tenant_id: str, event: ev.Event) -> None:
        seen.append((time.monotonic(), event))
        post(tenant_id, event)

    sip.b2bua.post = tap
    return seen
