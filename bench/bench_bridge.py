"""Bridged SIP <-> WebRTC calls: server CPU per call (issues 6 and 7).

The server runs in a child process (the app under uvicorn with SIP on, as `helpline serve
--sip-port` runs it; SQLite in a temporary folder), so its CPU time is its own (/proc). This
process is the load. For each step of N calls: N agents open the softphone's phone websocket
and media line (aiortc, sending a 1400 Hz tone); N SIP callers come in from the trunk's
address (127.0.0.2) to a number that goes straight to a queue, each sending 20 ms PCMU
packets of a 700 Hz tone; each agent answers the call offered to it. On the server each such
call is one SIP endpoint (G.711 decode, encode, the packet clock), the 8 <-> 48 kHz
resamplers, and one aiortc leg (Opus decode and encode).

The anchor, in the same run and the same server process: N browser <-> browser calls, as
`bench_webrtc.py` makes them (two aiortc legs each). "bridge / webrtc" is the CPU of a
SIP <-> browser call over that of a browser <-> browser call, measured minutes apart on the
same machine, which holds on a noisy shared machine better than either absolute figure.

Loss: frames (browser side) or packets (SIP side) that carried no sound over the window, out
of the 50 a second each receiving side expects.

Run: `python bench/bench_bridge.py` (about a minute); `--calls 1 --seconds 2` is the smoke.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import random
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench_webrtc import (
    CONNECT_TIMEOUT_S,
    LINE,
    OPEN_TO_BENCH_CALLERS,
    WARMUP_S,
    Bench,
    Counter,
    _cpu_seconds,
    _offer,
    _seed,
    _total,
    peer,
    run_app,
)
from helpline.media.g711 import ulaw_decode, ulaw_encode
from helpline.media.rtp import RtpPacket, parse_rtp
from helpline.settings import Settings
from helpline.sip.message import Response, parse_message
from helpline.telephony.webrtc import allow_loopback, fast_audio_level

TRUNK_HOST = "127.0.0.2"
AUDIBLE_RMS = 500.0
PACKETS_PER_S = 50


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


def _serve(database_url: str, media_dir: str, tenant_id: str, report: Connection) -> None:
    sip_port = _free_port()
    settings = Settings(
        database_url=database_url,
        jwt_secret="bench",
        media_dir=media_dir,
        sip_port=sip_port,
        sip_host="127.0.0.1",
        sip_trunks=[{"name": "bench", "tenant_id": tenant_id, "addresses": [TRUNK_HOST]}],
        **OPEN_TO_BENCH_CALLERS,
    )
    run_app(settings, lambda port: report.send((port, sip_port)))


# -- a trunk's caller: SIP over UDP, PCMU both ways ------------------------------------------


class _Sip(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = None
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait(parse_message(data))


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = None
        self.counter = Counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = parse_rtp(data)
        if packet.payload_type != 0:
            return
        samples = ulaw_decode(packet.payload).astype(np.float64)
        self.counter.frames += 1
        self.counter.audible += float(np.sqrt(np.mean(samples * samples))) > AUDIBLE_RMS


@dataclass
class SipCaller:
    sip: _Sip
    rtp: _Rtp
    server: tuple[str, int]
    call_id: str
    uri: str = ""
    to_header: str = ""
    sender: asyncio.Task[None] | None = None

    @classmethod
    async def dial(cls, sip_port: int, number: str) -> SipCaller:
        loop = asyncio.get_running_loop()
        _, sip = await loop.create_datagram_endpoint(_Sip, local_addr=(TRUNK_HOST, 0))
        _, rtp = await loop.create_datagram_endpoint(_Rtp, local_addr=(TRUNK_HOST, 0))
        caller = cls(sip, rtp, ("127.0.0.1", sip_port), uuid.uuid4().hex)
        await caller._invite(number)
        return caller

    def _request(self, method: str, cseq: int, uri: str, body: str = "") -> bytes:
        host, port = self.sip.transport.get_extra_info("sockname")[:2]
        to = self.to_header or f"<{uri}>"
        content = "Content-Type: application/sdp\r\n" if body else ""
        return (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:+15550001111@{host}>;tag=b{self.call_id[:6]}\r\n"
            f"To: {to}\r\nCall-ID: {self.call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:bench@{host}:{port}>\r\n{content}"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    async def _invite(self, number: str) -> None:
        self.uri = f"sip:{number}@{self.server[0]}:{self.server[1]}"
        rtp_port = self.rtp.transport.get_extra_info("sockname")[1]
        sdp = (
            f"v=0\r\no=bench 1 1 IN IP4 {TRUNK_HOST}\r\ns=-\r\nc=IN IP4 {TRUNK_HOST}\r\n"
            f"t=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        self.sip.transport.sendto(self._request("INVITE", 1, self.uri, sdp), self.server)
        while True:
            message = await asyncio.wait_for(self.sip.inbox.get(), CONNECT_TIMEOUT_S)
            if isinstance(message, Response) and message.status >= 200:
                break
        if message.status != 200:
            raise RuntimeError(f"the INVITE got {message.status}")
        self.to_header = message.headers.get("To") or ""
        body = message.body.decode()
        host = next(x.split()[2] for x in body.splitlines() if x.startswith("c=IN IP4"))
        port = int(next(x.split()[1] for x in body.splitlines() if x.startswith("m=audio")))
        self.sip.transport.sendto(self._request("ACK", 1, self.uri), self.server)
        self.sender = asyncio.ensure_future(self._talk((host, port)))

    async def _talk(self, remote: tuple[str, int]) -> None:
        rng = random.Random()
        ssrc, sequence, timestamp = rng.getrandbits(32), rng.getrandbits(16), 0
        t = np.arange(8000) / 8000
        second = ulaw_encode((np.sin(2 * np.pi * 700 * t) * 8000).astype(np.int16))
        start, sent = time.monotonic(), 0
        while True:
            at = (sent % PACKETS_PER_S) * 160
            packet = RtpPacket(
                payload_type=0,
                sequence=sequence,
                timestamp=timestamp,
                ssrc=ssrc,
                payload=second[at : at + 160],
            )
            self.rtp.transport.sendto(packet.serialize(), remote)
            sent += 1
            sequence, timestamp = (sequence + 1) % 65536, (timestamp + 160) % 2**32
            await asyncio.sleep(max(0.0, start + sent / PACKETS_PER_S - time.monotonic()))

    def hang_up(self) -> None:
        if self.sender is not None:
            self.sender.cancel()
        self.sip.transport.sendto(self._request("BYE", 2, self.uri), self.server)

    def close(self) -> None:
        self.sip.transport.close()
        self.rtp.transport.close()


@dataclass
class Step:
    kind: str
    calls: int
    seconds: float
    cpu_s: float
    received: int
    audible: int

    @property
    def per_call_pct(self) -> float:
        return 100 * self.cpu_s / self.seconds / self.calls

    @property
    def loss(self) -> float:
        expected = 2 * self.calls * PACKETS_PER_S * self.seconds
        return max(0.0, 1 - self.audible / expected)


async def bridge_step(bench: Bench, sip_port: int, calls: int, seconds: float, pid: int) -> Step:
    counters = [Counter() for _ in range(calls)]
    pcs: list[Any] = []
    sockets: list[Any] = []
    callers: list[SipCaller] = []
    sessions = bench.sessions[:calls]
    try:
        for i, session in enumerate(sessions):
            pc = await peer(1400, counters[i])
            pcs.append(pc)
            message = {"type": "offer", "sdp": await _offer(pc)}
            hello = {"authorization": f"Bearer {session}"}
            sockets.append(await bench._signal("/web/phone", message, pc, hello))
        for _ in range(calls):
            callers.append(await SipCaller.dial(sip_port, LINE))
        await bench._answer_all(sessions, calls)
        await asyncio.sleep(WARMUP_S)

        def total() -> Counter:
            return _total(counters + [c.rtp.counter for c in callers])

        before, cpu0, t0 = total(), _cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        after, cpu1, t1 = total(), _cpu_seconds(pid), time.monotonic()
    finally:
        for caller in callers:
            caller.hang_up()
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        for pc in pcs:
            await pc.close()
    await bench._settled()
    for caller in callers:
        caller.close()
    return Step(
        "sip-webrtc",
        calls,
        t1 - t0,
        cpu1 - cpu0,
        after.frames - before.frames,
        after.audible - before.audible,
    )


async def measure(counts: list[int], seconds: float) -> list[tuple[Step, Step]]:
    allow_loopback()
    fast_audio_level()
    folder = Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    database_url = f"sqlite+aiosqlite:///{folder / 'helpline.db'}"
    tenant_id, key, app_token = await _seed(database_url, max(counts))
    context = mp.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    server = context.Process(
        target=_serve, args=(database_url, str(folder / "media"), tenant_id, sender), daemon=True
    )
    server.start()
    rows: list[tuple[Step, Step]] = []
    try:
        if not receiver.poll(CONNECT_TIMEOUT_S):
            raise RuntimeError("the server did not start")
        port, sip_port = receiver.recv()
        assert server.pid is not None
        bench = Bench(f"http://127.0.0.1:{port}", tenant_id, key, app_token)
        try:
            await bench.login(max(counts))
            for calls in counts:
                bridged = await bridge_step(bench, sip_port, calls, seconds, server.pid)
                web = await bench.step(calls, seconds, server.pid)
                anchor = Step("webrtc", calls, web.seconds, web.cpu_s, web.received, web.audible)
                rows.append((bridged, anchor))
        finally:
            await bench.admin.aclose()
    finally:
        server.terminate()
        server.join(10)
    return rows


def table(rows: list[tuple[Step, Step]]) -> Table:
    out = Table(title="Bridged SIP <-> WebRTC calls: server CPU per call (% of a core)")
    for name in ("calls", "seconds", "sip-webrtc % / call", "loss", "webrtc-webrtc % / call"):
        out.add_column(name, justify="right")
    out.add_column("anchor loss", justify="right")
    out.add_column("bridge / webrtc", justify="right")
    for bridged, anchor in rows:
        ratio = bridged.per_call_pct / anchor.per_call_pct if anchor.per_call_pct else 0.0
        out.add_row(
            str(bridged.calls),
            f"{bridged.seconds:.1f}",
            f"{bridged.per_call_pct:.2f}",
            f"{100 * bridged.loss:.2f} %",
            f"{anchor.per_call_pct:.2f}",
            f"{100 * anchor.loss:.2f} %",
            f"{ratio:.2f}",
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,2,4", help="concurrent calls per step: 1,2,4")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per step")
    args = parser.parse_args()
    counts = [int(n) for n in args.calls.split(",")]
    Console().print(table(asyncio.run(measure(counts, args.seconds))))


if __name__ == "__main__":
    main()
