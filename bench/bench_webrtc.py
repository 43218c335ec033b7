"""Bridged browser calls through the `webrtc` adapter: server CPU per leg and packet loss
(issue 6, "Performance": goal under 8 % of a core per bridged leg).

The server runs in a child process (`helpline`'s app under uvicorn, SQLite in a temporary
folder), so its CPU time is its own (read from /proc). This process is the load: for each
step, N agents open the softphone's phone websocket and media line, N web callers dial a
number that goes straight to a queue, each agent answers the call offered to it, and every
client sends a tone (callers 700 Hz, agents 1400 Hz) paced in real time, 20 ms a frame. A
bridged call is two legs on the server (the caller's and the agent's): each decodes what its
browser sends and encodes what its browser hears.

Measured over a window once every call is connected and warmed up:
- server CPU per leg = server process CPU time / wall time / (2 N);
- loss = 1 - audible frames received / frames expected (50 a second on each of the 2 N
  receiving clients). A frame is audible when its RMS is above a silence threshold: a packet
  lost between a client and the server, or late at the server, reaches the other side as
  silence, so this counts loss end to end, not only on the last hop.

The anchor, in the same run: the same aiortc clients (same tone tracks, same counting) in N
direct peer-to-peer calls without the server, in a child process measuring its own CPU time.
Each peer there also decodes one stream and encodes one, like a server leg, so "server /
anchor" says how far the server's leg is from bare aiortc on this machine at this moment,
which holds on a noisy shared machine better than the absolute figure.

Run: `python bench/bench_webrtc.py` (about two minutes); `--calls 1 --seconds 2` is the smoke
size. Recording is off (the queue does not record); prompts are not played (no IVR).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import uvicorn
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from rich.console import Console
from rich.table import Table

from helpline.api.app import create_app
from helpline.settings import Settings
from helpline.store import Store, create_database
from helpline.telephony.webrtc import allow_loopback, fast_audio_level

RATE = 48000
FRAME = 960  # 20 ms at 48 kHz
FRAMES_PER_S = RATE / FRAME
GOAL_PCT = 8.0
LINE = "+18005550111"
WARMUP_S = 2.0
AUDIBLE_RMS = 500.0  # the tones are sent at amplitude 8000 (RMS about 5700); silence is 0
CONNECT_TIMEOUT_S = 30.0
PACE_TOLERANCE = 0.02  # frames received over the window vs real time


# -- the clients (aiortc, as a browser would be) --------------------------------------------------


class Tone(MediaStreamTrack):
    """A sine wave in 20 ms frames, paced in real time, with continuous timestamps."""

    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self.sent = 0  # samples
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.started is None:
            self.started = time.monotonic()
        else:
            wait = self.started + self.sent / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        t = np.arange(self.sent, self.sent + FRAME)
        samples = (np.sin(2 * np.pi * self.frequency * t / RATE) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += FRAME
        return frame


@dataclass
class Counter:
    """Frames one client received, and how many of them carried sound."""

    frames: int = 0
    audible: int = 0


async def _count(track: MediaStreamTrack, counter: Counter) -> None:
    with contextlib.suppress(Exception):  # the track ends when its connection closes
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.AudioFrame)
            samples = frame.to_ndarray().astype(np.float64)
            counter.frames += 1
            counter.audible += float(np.sqrt(np.mean(samples * samples))) > AUDIBLE_RMS


async def peer(frequency: float, counter: Counter) -> RTCPeerConnection:
    pc = RTCPeerConnection()
    pc.addTrack(Tone(frequency))
    tasks: list[asyncio.Task[None]] = []
    pc.on("track", lambda track: tasks.append(asyncio.create_task(_count(track, counter))))
    return pc


async def _offer(pc: RTCPeerConnection) -> str:
    await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate first
    return str(pc.localDescription.sdp)


def _total(counters: list[Counter]) -> Counter:
    return Counter(sum(c.frames for c in counters), sum(c.audible for c in counters))


# -- the server (a child process) ---------------------------------------------------------------


def _center(agents: int) -> dict[str, Any]:
    ids = [f"a{i}" for i in range(agents)]
    return {
        "name": "WebRTC bench",
        "numbers": [{"number": LINE, "queue": "q"}],
        "queues": [{"id": "q", "name": "Q", "groups": ["g"], "wait_agent_answer_timeout": "60s"}],
        "groups": [{"id": "g", "name": "G", "agents": ids}],
        "agents": [{"id": i, "name": i, "email": f"{i}@bench.example"} for i in ids],
    }


async def _seed(database_url: str, agents: int) -> tuple[str, str, str]:
    """A tenant with `agents` agents: (tenant id, "key_id:secret", application token)."""
    engine = await create_database(database_url)
    await engine.dispose()
    store = await Store.open(database_url)
    tenant_id = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        async with store.transaction() as tx:
            await tx.tenants.create_tenant("WebRTC bench", tenant_id=tenant_id)
            key = await tx.tenants.create_api_key(tenant_id, "bench")
            token = await tx.tenants.create_app_token(tenant_id, "bench")
            await tx.configs.put_config(tenant_id, _center(agents))
    finally:
        await store.close()
    return tenant_id, f"{key.key_id}:{key.secret}", token.token


# every bench caller is on this machine: loopback candidates, one source, no limits
OPEN_TO_BENCH_CALLERS: dict[str, Any] = {
    "web_allow_private_candidates": True,
    "web_caller_per_minute": 0,
    "web_caller_max_per_source": 100_000,
    "web_caller_max_calls": 100_000,
}


def run_app(settings: Settings, announce: Callable[[int], None]) -> None:
    """Serve the app of `settings` on a free HTTP port until this process is ended;
    `announce` the port once the server listens."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", loop="auto"
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        announce(server.servers[0].sockets[0].getsockname()[1])
        await task

    asyncio.run(run())


def _serve(database_url: str, media_dir: str, report: Connection, media_workers: int) -> None:
    settings = Settings(
        database_url=database_url,
        jwt_secret="bench",
        media_dir=media_dir,
        sip_port=None,
        media_workers=media_workers,
        **OPEN_TO_BENCH_CALLERS,
    )
    run_app(settings, report.send)


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (proc(5); field 3 is the first)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def _processes(root: int) -> list[int]:
    """`root` and every process under it (the server's media workers), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry)] = int(_stat(int(entry))[1])  # field 4: the parent's pid
    found, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _cpu_seconds(root: int) -> float:
    """utime + stime (proc(5) fields 14 and 15) summed over the server and its workers."""
    try:
        import psutil  # type: ignore[import-not-found]  # noqa: PLC0415 (optional)
    except ImportError:
        psutil = None
    total = 0.0
    for pid in _processes(root):
        with contextlib.suppress(OSError, IndexError):
            if psutil is not None:
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
            else:
                fields = _stat(pid)
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# -- one step: N bridged calls through the server ------------------------------------------------


@dataclass
class Step:
    workers: int  # the server's media workers (0: media in the server process)
    calls: int
    seconds: float
    cpu_s: float
    expected: float
    received: int
    audible: int
    processes: int = 1  # how many processes' CPU was summed (the server and its workers)

    @property
    def legs(self) -> int:
        return 2 * self.calls

    @property
    def per_leg_pct(self) -> float:
        return 100 * self.cpu_s / self.seconds / self.legs

    @property
    def loss(self) -> float:
        return max(0.0, 1 - self.audible / self.expected)

    @property
    def saturated(self) -> bool:
        """The clients did not get frames at the real-time pace (late, then in a burst): the
        machine is out of CPU, and the window measured starved processes, not a leg's cost."""
        return abs(self.received / self.expected - 1) > PACE_TOLERANCE


class Bench:
    def __init__(self, url: str, tenant_id: str, key: str, app_token: str) -> None:
        self.url = url
        self.ws_url = url.replace("http://", "ws://")
        self.tenant_id = tenant_id
        key_id, secret = key.split(":", 1)
        self.admin = httpx.AsyncClient(base_url=url, auth=(key_id, secret), timeout=10)
        self.app_token = app_token
        self.sessions: list[str] = []

    async def login(self, agents: int) -> None:
        for i in range(agents):
            body = {"email": f"a{i}@bench.example", "app_token": self.app_token}
            response = await self.admin.post("/v1/auth/login", json=body)
            response.raise_for_status()
            self.sessions.append(response.json()["session"])

    async def _signal(
        self,
        path: str,
        message: dict[str, Any],
        pc: RTCPeerConnection,
        hello: dict[str, Any] | None = None,
    ) -> Any:
        socket = await websockets.connect(f"{self.ws_url}{path}")
        if hello is not None:
            await socket.send(json.dumps(hello))
        await socket.send(json.dumps(message))
        reply = json.loads(await socket.recv())
        if reply.get("type") != "answer":
            raise RuntimeError(f"{path}: {reply}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        return socket

    async def _answer_all(self, sessions: list[str], calls: int) -> None:
        """Each agent answers what rings on it, until `calls` calls are connected."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            while time.monotonic() < deadline:
                items = (await self.admin.get("/v1/calls?limit=100")).json()["items"]
                if sum(c["state"] == "connected" for c in items) >= calls:
                    return
                for i, session in enumerate(sessions):
                    auth = {"authorization": f"Bearer {session}"}
                    for call in items:
                        if call["state"] == "offering" and f"a{i}" in call["offered_to"]:
                            await http.post(f"/v1/calls/{call['call_id']}/answer", headers=auth)
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{calls} calls did not all connect in {CONNECT_TIMEOUT_S} s")

    async def step(self, calls: int, seconds: float, server_pid: int, workers: int = 0) -> Step:
        counters = [Counter() for _ in range(2 * calls)]
        pcs: list[RTCPeerConnection] = []
        sockets: list[Any] = []
        sessions = self.sessions[:calls]
        try:
            for i, session in enumerate(sessions):
                pc = await peer(1400, counters[i])
                pcs.append(pc)
                message = {"type": "offer", "sdp": await _offer(pc)}
                hello = {"authorization": f"Bearer {session}"}  # the softphone's first message
                sockets.append(await self._signal("/web/phone", message, pc, hello))
            for i in range(calls):
                pc = await peer(700, counters[calls + i])
                pcs.append(pc)
                message = {
                    "type": "dial",
                    "to": LINE,
                    "from": f"+1555{i:07d}",
                    "sdp": await _offer(pc),
                    "dtmf": "message",
                }
                path = f"/web/phone?tenant={self.tenant_id}"
                sockets.append(await self._signal(path, message, pc))
            await self._answer_all(sessions, calls)
            await asyncio.sleep(WARMUP_S)
            before, cpu0, t0 = _total(counters), _cpu_seconds(server_pid), time.monotonic()
            await asyncio.sleep(seconds)
            after, cpu1, t1 = _total(counters), _cpu_seconds(server_pid), time.monotonic()
            processes = len(_processes(server_pid))
        finally:
            for socket in sockets:
                with contextlib.suppress(Exception):
                    await socket.close()
            for pc in pcs:
                await pc.close()
        await self._settled()
        return Step(
            workers=workers,
            calls=calls,
            seconds=t1 - t0,
            cpu_s=cpu1 - cpu0,
            expected=2 * calls * FRAMES_PER_S * (t1 - t0),
            received=after.frames - before.frames,
            audible=after.audible - before.audible,
            processes=processes,
        )

    async def _settled(self) -> None:
        """Every call of the step has ended (the callers' pages closed)."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline:
            items = (await self.admin.get("/v1/calls?limit=100")).json()["items"]
            if not items:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("the step's calls did not end")


# -- the anchor: the same clients, peer to peer, in a child process ----------------------------


def _anchor(calls: int, seconds: float, report: Connection) -> None:
    allow_loopback()
    fast_audio_level()

    async def run() -> Step:
        counters = [Counter() for _ in range(2 * calls)]
        pcs: list[RTCPeerConnection] = []
        for i in range(calls):
            caller = await peer(700, counters[2 * i])
            agent = await peer(1400, counters[2 * i + 1])
            pcs += [caller, agent]
            offer = await _offer(caller)
            await agent.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await agent.setLocalDescription(await agent.createAnswer())
            answer = agent.localDescription.sdp
            await caller.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.sleep(WARMUP_S + 1.0)  # ICE and DTLS, then the same warm-up
        before, cpu0, t0 = _total(counters), time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        after, cpu1, t1 = _total(counters), time.process_time(), time.monotonic()
        for pc in pcs:
            await pc.close()
        return Step(
            workers=0,
            calls=calls,
            seconds=t1 - t0,
            cpu_s=cpu1 - cpu0,
            expected=2 * calls * FRAMES_PER_S * (t1 - t0),
            received=after.frames - before.frames,
            audible=after.audible - before.audible,
        )

    report.send(asyncio.run(run()))


def anchor(calls: int, seconds: float) -> Step:
    context = mp.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_anchor, args=(calls, seconds, sender), daemon=True)
    child.start()
    try:
        if not receiver.poll(seconds + CONNECT_TIMEOUT_S):
            raise RuntimeError("the peer-to-peer anchor did not finish")
        step: Step = receiver.recv()
        return step
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()


# -- the run ----------------------------------------------------------------------------------


async def measure(
    counts: list[int], seconds: float, with_anchor: bool = True, media_workers: int = 0
) -> list[Any]:
    """Rows of (server step, anchor step or None), one per count of concurrent calls, for a
    server with `media_workers` media worker processes (0: media in the server process)."""
    allow_loopback()
    fast_audio_level()
    folder = Path(tempfile.mkdtemp(prefix="bench-webrtc-"))
    database_url = f"sqlite+aiosqlite:///{folder / 'helpline.db'}"
    tenant_id, key, app_token = await _seed(database_url, max(counts))
    context = mp.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    server = context.Process(
        target=_serve,
        args=(database_url, str(folder / "media"), sender, media_workers),
        daemon=False,  # a daemonic process may not start children: the media workers
    )
    server.start()
    rows: list[Any] = []
    try:
        if not receiver.poll(CONNECT_TIMEOUT_S):
            raise RuntimeError("the server did not start")
        port = receiver.recv()
        assert server.pid is not None
        bench = Bench(f"http://127.0.0.1:{port}", tenant_id, key, app_token)
        try:
            await bench.login(max(counts))
            for calls in counts:
                step = await bench.step(calls, seconds, server.pid, media_workers)
                base = await asyncio.to_thread(anchor, calls, seconds) if with_anchor else None
                rows.append((step, base))
        finally:
            await bench.admin.aclose()
    finally:
        server.terminate()  # its workers see their channel close and exit
        server.join(10)
    return rows


def table(rows: list[Any]) -> Table:
    title = f"Bridged WebRTC calls: server CPU per leg (goal < {GOAL_PCT:g} % of a core)"
    out = Table(title=title)
    columns = ("media", "calls", "legs", "seconds", "server % / leg", "loss", "frames rcvd/exp")
    for name in columns:
        out.add_column(name, justify="right")
    for name in ("p2p anchor % / leg", "anchor loss", "server / anchor", "goal"):
        out.add_column(name, justify="right")
    for step, base in rows:
        ratio = f"{step.per_leg_pct / base.per_leg_pct:.2f}" if base and base.per_leg_pct else "-"
        out.add_row(
            f"{step.workers} workers" if step.workers else "in-process",
            str(step.calls),
            str(step.legs),
            f"{step.seconds:.1f}",
            f"{step.per_leg_pct:.2f}",
            f"{100 * step.loss:.2f} %",
            f"{step.received}/{step.expected:.0f}",
            f"{base.per_leg_pct:.2f}" if base else "-",
            f"{100 * base.loss:.2f} %" if base else "-",
            ratio,
            "saturated" if step.saturated else "met" if step.per_leg_pct < GOAL_PCT else "missed",
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,2,4,8,12", help="concurrent calls per step")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per step")
    parser.add_argument("--no-anchor", action="store_true", help="skip the peer-to-peer anchor")
    parser.add_argument(
        "--media-workers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="the server's media workers for the second run (default: the cores); the "
        "in-process server (0) is always measured first, as the anchor",
    )
    args = parser.parse_args()
    counts = [int(n) for n in str(args.calls).split(",") if n.strip()]
    modes = [0] if args.media_workers <= 0 else [0, args.media_workers]
    rows: list[Any] = []
    for workers in modes:
        anchored = not args.no_anchor and workers == 0  # the clients' own cost: once
        rows += asyncio.run(measure(counts, args.seconds, anchored, media_workers=workers))
    console = Console(width=170)
    console.print(table(rows))
    console.print(
        f"{os.cpu_count()} cores. CPU is the server's and its media workers' together (their "
        "/proc times, psutil when installed). The clients run in this process (one core at "
        "most, so they saturate first); the anchor is the same clients peer to peer. "
        "'saturated': the clients did not receive at real-time pace (the machine ran out of "
        "CPU), so that step's CPU figure is not a leg's cost."
    )


if __name__ == "__main__":
    main()
