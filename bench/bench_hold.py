"""Callers waiting with hold music, per core (issue 7 point 4, "Performance").

    python bench/bench_hold.py                      # 250, 500, 1,000 and 2,000 legs
    python bench/bench_hold.py --legs 100 --seconds 1   # the smoke size

At a peak most of a contact center's calls are callers in a queue hearing music: each is a
leg whose RTP we make, a 20 ms G.711 packet 50 times a second. This runs N real
`RtpEndpoint`s (their own UDP sockets, on uvloop, the shared packet clock) looping the hold
music to a sink socket for `--seconds`, and measures this process's CPU time per packet sent.

The anchor, in the same run: the same N sockets sending a ready-made 172-octet datagram each
from one timer every 20 ms: the least a Python sender can do per packet (a `sendto`). The
ratio is what the endpoint's own work (the playback, the encoding, the RTP header, the
clock) costs on top of that.

Printed per size: packets per second sent (of the 50 per leg due), CPU share of one core,
microseconds of CPU per packet, and legs per core (one core's worth of packets, at 50 a
second per leg).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvloop
from rich.console import Console
from rich.table import Table

from helpline.media.tones import resample
from helpline.sip.sdp import AudioSession
from helpline.telephony.rtp import RtpEndpoint
from helpline.telephony.webrtc.prompts import synth_music

HOST = "127.0.0.1"
PACKETS_PER_S = 50  # 20 ms packets
WARM_UP_S = 0.5


@dataclass(frozen=True)
class Result:
    legs: int
    packets_per_s: float
    cpu_share: float

    @property
    def us_per_packet(self) -> float:
        return 1e6 * self.cpu_share / self.packets_per_s if self.packets_per_s else 0.0

    @property
    def legs_per_core(self) -> float:
        return 1e6 / (self.us_per_packet * PACKETS_PER_S) if self.us_per_packet else 0.0


def _sink(loop: asyncio.AbstractEventLoop) -> tuple[socket.socket, list[int]]:
    """A socket that reads and counts whatever comes (so no sender sees a full buffer)."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sink.bind((HOST, 0))
    sink.setblocking(False)
    received = [0]

    def drain() -> None:
        try:
            while True:
                sink.recv(2048)
                received[0] += 1
        except BlockingIOError:
            pass

    loop.add_reader(sink.fileno(), drain)
    return sink, received


async def _measure(seconds: float, sent: Callable[[], int]) -> tuple[float, float]:
    await asyncio.sleep(WARM_UP_S)
    first, cpu, wall = sent(), time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - wall
    return (sent() - first) / wall, (time.process_time() - cpu) / wall


async def endpoints(legs: int, seconds: float) -> Result:
    """N endpoints looping the hold music, as queued callers hear it."""
    loop = asyncio.get_running_loop()
    sink, _ = _sink(loop)
    music = resample(synth_music(), 48000, 8000)
    session = AudioSession(HOST, sink.getsockname()[1], "PCMU", 0, 101, 20, "sendrecv")
    rng = random.Random(1)
    opened = []
    try:
        for _ in range(legs):
            endpoint = await RtpEndpoint.open(session, HOST, 0, rng=rng)
            endpoint.play(music, loop=True)
            opened.append(endpoint)
        rate, share = await _measure(seconds, lambda: sum(e.packets_sent for e in opened))
    finally:
        for endpoint in opened:
            endpoint.close()
        loop.remove_reader(sink.fileno())
        sink.close()
    return Result(legs, rate, share)


async def bare_sendto(legs: int, seconds: float) -> Result:
    """The anchor: N sockets, one ready-made datagram each per 20 ms tick, one timer."""
    loop = asyncio.get_running_loop()
    sink, _ = _sink(loop)
    target = sink.getsockname()
    transports = []
    for _ in range(legs):
        transport, _protocol = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(HOST, 0)
        )
        transports.append(transport)
    packet = bytes(172)
    sent = [0]
    due = [loop.time()]

    def tick() -> None:
        for transport in transports:
            transport.sendto(packet, target)
        sent[0] += len(transports)
        due[0] += 1 / PACKETS_PER_S
        handle[0] = loop.call_at(due[0], tick)

    handle = [loop.call_at(due[0], tick)]
    try:
        rate, share = await _measure(seconds, lambda: sent[0])
    finally:
        handle[0].cancel()
        for transport in transports:
            transport.close()
        loop.remove_reader(sink.fileno())
        sink.close()
    return Result(legs, rate, share)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--legs", type=int, nargs="+", default=[250, 500, 1000, 2000])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per size")
    args = parser.parse_args()
    console = Console()
    table = Table(title="callers on hold music: RTP endpoints vs bare sendto (uvloop)")
    for column in ("legs", "sender", "packets/s", "due", "CPU", "µs/packet", "legs/core"):
        table.add_column(column, justify="right")
    with console.status("measuring") as status:
        for legs in args.legs:
            status.update(f"{legs} legs: bare sendto")
            anchor = uvloop.run(bare_sendto(legs, args.seconds))
            status.update(f"{legs} legs: RTP endpoints")
            ours = uvloop.run(endpoints(legs, args.seconds))
            for name, result in (("sendto", anchor), ("endpoint", ours)):
                table.add_row(
                    str(legs), name, f"{result.packets_per_s:,.0f}",
                    f"{legs * PACKETS_PER_S:,}", f"{result.cpu_share:.0%}",
                    f"{result.us_per_packet:.1f}", f"{result.legs_per_core:,.0f}",
                )  # fmt: skip
            ratio = ours.us_per_packet / anchor.us_per_packet if anchor.us_per_packet else 0
            table.add_row("", "ratio", "", "", "", f"x{ratio:.2f}", "", end_section=True)
    console.print(table)


if __name__ == "__main__":
    main()
