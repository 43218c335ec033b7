"""RTP relay capacity on one core (issue 7, "Performance": report legs per core).

Two processes: the server (uvloop, in a `multiprocessing` child) and the load generator
(this process). The server is single-threaded, so it uses one core at most at any time; it
is not pinned to one, as on a machine shared with other work a pinned process waits for its
core while another is idle. The generator runs N legs (sharing 64 UDP sockets: see
`Generator`), each sending one 172-octet RTP packet (12-octet header + 20 ms of G.711) every
20 ms, i.e. 50 packets per second, spread over the interval in 5 ms batches.
Legs pair up into calls: leg 2k talks to `RtpRelay` side A, leg 2k+1 to side B of the same
relay, which forwards each packet to the other leg of its call (both latched before the
measurement starts). N rises until packets are lost (over 0.5 %), the server forwards less
than it is offered (it falls behind: loss follows in a longer run), or its core is
saturated (over 95 % busy).

As the anchor, the same generator drives a bare uvloop datagram echo (one socket per leg,
each datagram sent straight back): the most a Python UDP forwarder can do on this machine,
measured in the same run. The issue's figure for that is 100,000 packets per second on one
core (2,000 legs at 50 packets/s).

Printed per step, all measured by the generator over the same window: packets/s offered,
packets/s forwarded (received back), the server's CPU share (from /proc), the loss over the
whole run, the generator's own CPU share, legs per core (forwarded packets per second / CPU
share / 50) and the server's CPU time per forwarded packet. On a machine shared with other
work the generator or the server may not get its core; the line then says so, and the CPU
time per packet is the figure that still holds.

Run: `python bench/bench_rtp.py` (about two minutes); `--legs 20 --seconds 0.5` is the
smoke size.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from helpline.telephony.rtp import RtpRelay

HOST = "127.0.0.1"
RATE = 50  # packets per second per leg (20 ms ptime)
BATCHES = 4  # sends spread over the 20 ms interval
WARMUP = 0.5
LOSS_LIMIT = 0.005
CPU_LIMIT = 0.95
SOCKETS = 64  # the generator's sockets, shared by its legs


class Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def serve(mode: str, peers: list[tuple[str, int]], pipe: Connection) -> None:
    """Open the relays (or echo sockets) for the generator's legs, report ports, measure."""
    loop = asyncio.get_running_loop()
    ports: list[int] = []
    if mode == "relay":
        relays = []
        for a, b in zip(peers[::2], peers[1::2], strict=True):
            relay = await RtpRelay.open(HOST, peers=(a, b))
            relays.append(relay)
            ports += [relay.port("a"), relay.port("b")]
    else:
        echoes = []
        for _ in peers:
            transport, echo = await loop.create_datagram_endpoint(Echo, local_addr=(HOST, 0))
            echoes.append(echo)
            ports.append(transport.get_extra_info("sockname")[1])

    pipe.send(ports)
    await loop.run_in_executor(None, pipe.recv)  # serve until the generator is done


def server_main(mode: str, peers: list[tuple[str, int]], pipe: Connection) -> None:
    uvloop.run(serve(mode, peers, pipe))


class Generator:
    """The legs' traffic from `SOCKETS` plain non-blocking sockets, paced with time.sleep.

    Plain sockets cost the generator about a microsecond per packet each way, a third of a
    uvloop protocol's, so one Python process can offer more than the server can take. Leg
    i sends from socket i % SOCKETS: a relay latches each of its two sides to whatever
    address sends to it, so legs may share a source address without sharing a relay side.
    """

    def __init__(self, legs: int) -> None:
        self.sockets = []
        for _ in range(min(legs, SOCKETS)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((HOST, 0))
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            self.sockets.append(sock)
        self.peers = [self.sockets[i % len(self.sockets)].getsockname() for i in range(legs)]
        self.received = 0
        self._buffer = bytearray(2048)

    def drain(self) -> None:
        for sock in self.sockets:
            while True:
                try:
                    sock.recv_into(self._buffer)
                except BlockingIOError:
                    break
                self.received += 1

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def generate(legs: int, seconds: float, mode: str) -> dict[str, float]:
    generator = Generator(legs)
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(
        target=server_main, args=(mode, generator.peers, child)
    )
    server.start()
    ports = parent.recv()
    targets = [
        (generator.sockets[i % len(generator.sockets)].sendto, _packet(i), (HOST, port))
        for i, port in enumerate(ports)
    ]
    batches = [targets[i::BATCHES] for i in range(BATCHES)]
    interval = 1 / RATE / BATCHES
    assert server.pid is not None
    start = due = time.monotonic()
    window = (start + WARMUP, start + WARMUP + seconds)
    ticks = sent = 0
    # (sent, received, server CPU seconds, own CPU seconds) at the window's start and end:
    # all read here, so a server too busy to look at a clock cannot shrink its own window.
    marks: list[tuple[int, int, float, float]] = []
    while (now := time.monotonic()) < window[1] + 0.1:  # a little past the window: no gap
        if len(marks) < 2 and now >= window[len(marks)]:
            marks.append((sent, generator.received, cpu_seconds(server.pid), time.process_time()))
        batch = batches[ticks % BATCHES]
        for sendto, packet, target in batch:
            sendto(packet, target)
        sent += len(batch)
        ticks += 1
        generator.drain()
        due += interval
        time.sleep(max(0.0, due - time.monotonic()))
    still = 0
    while generator.received < sent and still < 5:  # the last packets (later when busy)
        time.sleep(0.1)
        before = generator.received
        generator.drain()
        still = still + 1 if generator.received == before else 0
    parent.send("done")
    server.join()
    generator.close()
    (sent0, received0, cpu0, own0), (sent1, received1, cpu1, own1) = marks
    return {
        "offered": (sent1 - sent0) / seconds,
        "pps": (received1 - received0) / seconds,
        "cpu": (cpu1 - cpu0) / seconds,
        "loss": max(0.0, 1 - generator.received / sent),
        "gen_cpu": (own1 - own0) / seconds,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; fields 14 and 15 of its stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _packet(leg: int) -> bytes:
    """An RTP packet (version 2, PCMU) with the leg number as its SSRC, 20 ms of silence."""
    return bytes([0x80, 0]) + bytes(6) + leg.to_bytes(4, "big") + b"\xff" * 160


def step(legs: int, seconds: float, mode: str) -> dict[str, float]:
    """One measurement: this process generates the load, a child process serves."""
    return generate(legs, seconds, mode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--legs", type=int, nargs="+", default=[1000, 2000, 3000, 4000, 6000, 8000])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--modes", nargs="+", default=["echo", "relay"])
    args = parser.parse_args()
    print(
        f"{'server':6} {'legs':>6} {'offered':>9} {'packets/s':>10} {'cpu':>5} {'loss':>7} "
        f"{'gen cpu':>7} {'legs/core':>9} {'us/pkt':>6}"
    )
    for mode in args.modes:
        best = 0.0
        for legs in args.legs:
            r = step(legs, args.seconds, mode)
            per_core = r["pps"] / max(r["cpu"], 1e-9) / RATE
            behind = r["gen_cpu"] > CPU_LIMIT or r["offered"] < 0.95 * legs * RATE
            lossy = r["loss"] > LOSS_LIMIT
            # A server that forwards less than it is offered is falling behind: its socket
            # buffers fill, and loss follows in a longer run.
            saturated = r["cpu"] > CPU_LIMIT or r["pps"] < 0.95 * r["offered"]
            note = "  (loss)" if lossy else ""
            if saturated:
                note += (
                    "  (server core saturated)"
                    if r["cpu"] > CPU_LIMIT
                    else "  (server fell behind)"
                )
            if behind:  # the machine is shared: the step still shows the server's cost
                note += "  (generator fell behind the offered load)"
            print(
                f"{mode:6} {legs:>6} {r['offered']:>9,.0f} {r['pps']:>10,.0f} {r['cpu']:>5.0%} "
                f"{r['loss']:>7.2%} {r['gen_cpu']:>7.0%} {per_core:>9,.0f}"
                f" {1e6 * r['cpu'] / max(r['pps'], 1):>6.2f}{note}",
                flush=True,
            )
            if lossy or saturated:
                break
            best = max(best, r["pps"])
        print(
            f"{mode:6} most forwarded without loss: {best:,.0f} packets/s "
            f"({best / RATE:,.0f} legs at {RATE} packets/s)\n",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
