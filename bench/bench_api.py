"""`helpline serve` under load from a second process on loopback (issue 4, "Performance").

    python bench/bench_api.py                      # SQLite, and PostgreSQL when reachable
    python bench/bench_api.py --backends sqlite    # one backend
    python bench/bench_api.py --duration 10        # a shorter offer run (default 60 s)

For each backend a real `helpline serve` runs in a subprocess on a free 127.0.0.1 port over a
fresh database (a new SQLite file; a new PostgreSQL database, dropped afterwards), with a
tenant made by `helpline tenant create --json` and a center loaded over the API: one number
straight to one queue served by one group of `--agents` agents, each with a sandbox device
that answers after `--answer-delay` seconds. This process is the load generator:

1. `GET /v1/call-records/{id}` (a record that exists), closed loop, `--connections` keep-alive
   connections for `--api-seconds`: requests per second, p50, p99;
2. `POST /v1/sandbox/calls`, the same way (each request places a real call);
3. an open loop of `--rate` new sandbox calls per second for `--duration` seconds, each hung
   up through the sandbox `--talk` seconds after it was placed, while a websocket on
   `/v1/events` (the tenant's API key) receives every event: the time from the POST that
   placed a call to its `call.offered` event (p50, p99), by the event's `at` stamp and by
   its arrival at the websocket, and the latency of the place and hang-up requests.

The HTTP client is a minimal HTTP/1.1 keep-alive client on asyncio (what wrk does, without
its C speed; wrk is not installed here), so the generator costs little CPU; the table shows
the CPU used by the server and by this generator. The goal (p99 under 50 ms on a 2-core
machine) is printed beside the figures, never asserted. The exit status is 1 when a request
failed or answered non-2xx, or an offer was not seen; those counts are printed.
See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect

HOST = "127.0.0.1"
NUMBER = "+18005550000"
QUEUE = "bench"
GROUP = "agents"
TENANT = "bench"
GOAL_MS = 50.0
POSTGRES_URL = os.environ.get(
    "HELPLINE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IDLE_S = 2.0  # uvicorn closes idle keep-alive connections after 5 s: reuse them for less
REQUEST_TIMEOUT_S = 30.0  # a request unanswered this long counts as failed (TimeoutError)
BACKENDS = ("sqlite", "postgresql")


class BenchError(Exception):
    """The benchmark could not run (the server did not start, setup failed)."""


# -- a small HTTP/1.1 client ------------------------------------------------------------------


def http_request(method: str, path: str, auth: str, body: Any = None) -> bytes:
    """The bytes of one request; `body` is sent as JSON."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Authorization: {auth}"]
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    elif method in ("POST", "PUT"):
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class Connection:
    """One keep-alive connection: a request, then its whole response, in turn."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.keep_alive = True
        self.last_used = time.monotonic()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            return await self._request(raw)

    async def _request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            value = value.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding":
                chunked = b"chunked" in value
            elif key == b"connection":
                self.keep_alive = value != b"close"
        if chunked:
            body = await self._chunks()
        else:
            body = await self.reader.readexactly(length) if length else b""
        self.last_used = time.monotonic()
        return status, body

    async def _chunks(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Keep-alive connections for an open loop: reuse an idle one or open another."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[Connection] = []

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        conn = None
        while self.idle and conn is None:
            candidate = self.idle.pop()
            if time.monotonic() - candidate.last_used < IDLE_S:
                conn = candidate
            else:
                candidate.close()
        if conn is None:
            conn = await Connection.open(self.port)
        try:
            status, body = await conn.request(raw)
        except BaseException:
            conn.close()
            raise
        if conn.keep_alive:
            self.idle.append(conn)
        else:
            conn.close()
        return status, body

    async def call(self, method: str, path: str, auth: str, body: Any = None) -> Any:
        """A set-up request that must succeed; its JSON answer (None when empty)."""
        status, answer = await self.request(http_request(method, path, auth, body))
        if not 200 <= status < 300:
            raise BenchError(f"{method} {path} answered {status}: {answer[:300]!r}")
        return json.loads(answer) if answer else None

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# -- figures ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile `q` (0-100) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Sample:
    """Latencies (seconds) and outcomes of one kind of request or event."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0  # no answer at all (connection error)

    def add(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(seconds)

    @property
    def bad(self) -> int:
        """Failed requests and non-2xx answers."""
        return self.failures + sum(n for s, n in self.statuses.items() if not 200 <= s < 300)

    def describe_bad(self) -> str:
        codes = ", ".join(
            f"{s}: {n}" for s, n in sorted(self.statuses.items()) if not 200 <= s < 300
        )
        parts = [f"{self.bad} bad"]
        if codes:
            parts.append(f"non-2xx {codes}")
        if self.failures:
            parts.append(f"{self.failures} failed (no answer)")
        return "; ".join(parts)


@dataclass(frozen=True)
class Row:
    backend: str
    measure: str
    count: int  # requests or calls measured
    bad: int  # failed or non-2xx requests, or offers not seen
    seconds: float  # the measured window
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float | None  # fraction of one core used by the server in the window
    load_cpu: float  # fraction of one core used by this generator in the window

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.nan

    @property
    def meets_goal(self) -> bool:
        return self.p99_ms < GOAL_MS

    @property
    def closed_loop(self) -> bool:
        """A saturating closed loop: its latency is queueing, not a figure for the goal."""
        return self.measure.endswith("conn.")


def row(
    backend: str,
    measure: str,
    sample: Sample,
    *,
    seconds: float,
    cpu: tuple[float | None, float],
    bad: int | None = None,
) -> Row:
    ms = [1000.0 * s for s in sample.latencies]
    return Row(
        backend=backend,
        measure=measure,
        count=len(ms),
        bad=sample.bad if bad is None else bad,
        seconds=seconds,
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms) if ms else math.nan,
        server_cpu=cpu[0],
        load_cpu=cpu[1],
    )


@dataclass
class BackendResult:
    backend: str
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what makes the exit status 1
    notes: list[str] = field(default_factory=list)


class CpuMeter:
    """CPU time of the server process (from /proc, Linux) and of this process, over a window."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _server(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def mark(self) -> tuple[float, float | None, float]:
        return time.perf_counter(), self._server(), time.process_time()

    def since(self, start: tuple[float, float | None, float]) -> tuple[float | None, float]:
        wall, server, mine = start
        now_wall, now_server, now_mine = self.mark()
        elapsed = max(now_wall - wall, 1e-9)
        used = None if server is None or now_server is None else (now_server - server) / elapsed
        return used, (now_mine - mine) / elapsed


# -- the server under test --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}


def helpline_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "helpline.cli", *args]


def create_tenant(database: str, workdir: Path) -> dict[str, str]:
    """`helpline tenant create --json` on the fresh database: the tenant and its API key."""
    done = subprocess.run(
        helpline_command(
            "tenant", "create", "Bench", "--id", TENANT, "--json", "--database", database
        ),
        capture_output=True,
        text=True,
        cwd=workdir,
        env=_env(),
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"helpline tenant create failed: {done.stderr.strip()[-2000:]}")
    found: dict[str, str] = json.loads(done.stdout)
    return found


@contextlib.contextmanager
def running_server(database: str, port: int, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`helpline serve` in a subprocess; stopped (SIGTERM, then SIGKILL) on the way out."""
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        helpline_command("serve", "--host", HOST, "--port", str(port), "--database", database),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env=_env(),
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def server_log(workdir: Path, chars: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return (workdir / "server.log").read_text(errors="replace")[-chars:]
    return ""


async def wait_until_up(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"helpline serve exited with status {process.returncode}")
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            conn = await Connection.open(port)
            try:
                status, _ = await conn.request(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            finally:
                conn.close()
            if status == 200:
                return
        await asyncio.sleep(0.1)
    raise BenchError(f"helpline serve did not answer /health within {timeout:.0f} s")


async def postgres_reachable(url: str) -> bool:
    u = make_url(url)
    try:
        conn = await asyncpg.connect(
            host=u.host, port=u.port or 5432, user=u.username, password=u.password,
            database=u.database, timeout=3,
        )  # fmt: skip
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def _postgres_admin(url: str, sql: str) -> None:
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password,
        database=u.database, timeout=10,
    )  # fmt: skip
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    """The URL of an empty database of its own: a new SQLite file or PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    name = f"helpline_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_postgres_admin(postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_postgres_admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- the center -------------------------------------------------------------------------------


def agent_ids(agents: int) -> list[str]:
    return [f"agent{i:04d}" for i in range(agents)]


def center_document(agents: int) -> dict[str, Any]:
    """One number straight to one queue (no IVR), one group of `agents` agents."""
    ids = agent_ids(agents)
    return {
        "name": "Bench",
        "numbers": [{"number": NUMBER, "queue": QUEUE}],
        "queues": [{"id": QUEUE, "groups": [GROUP], "wait_agent_answer_timeout": "15s"}],
        "groups": [{"id": GROUP, "agents": ids}],
        "agents": [{"id": a, "name": a, "email": f"{a}@bench.example"} for a in ids],
    }


@dataclass(frozen=True)
class Options:
    agents: int = 200
    answer_delay: float = 0.2
    connections: int = 16
    api_seconds: float = 10.0
    rate: float = 50.0
    duration: float = 60.0
    talk: float = 2.0
    startup_timeout: float = 60.0
    postgres_url: str = POSTGRES_URL

    @property
    def warmup(self) -> float:
        return min(1.0, self.api_seconds / 5)


# -- live events ------------------------------------------------------------------------------


class Listener:
    """Reads `/v1/events`: when each call was offered (stamp and arrival), how it ended."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.offers: dict[str, tuple[float, float]] = {}  # call id -> (at, received)
        self.ended: dict[str, str] = {}  # call id -> result
        self.messages = 0
        self._changed = asyncio.Event()

    async def run(self) -> None:
        async for raw in self.ws:
            received = time.time()
            message = json.loads(raw)
            self.messages += 1
            kind = message.get("type")
            data = message.get("data") or {}
            call_id = str(data.get("call_id"))
            if kind == "call.offered" and call_id not in self.offers:
                self.offers[call_id] = (float(message["at"]), received)
            elif kind == "call.ended":
                self.ended[call_id] = str(data.get("result"))
            self._changed.set()

    async def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True


# -- the load ---------------------------------------------------------------------------------


async def closed_loop(
    port: int, raw: bytes, options: Options, meter: CpuMeter
) -> tuple[Sample, float, tuple[float | None, float]]:
    """`connections` workers send `raw` back to back; only the window after the warm-up counts."""
    sample = Sample()
    start = time.perf_counter()
    measure_from = start + options.warmup
    end = measure_from + options.api_seconds

    async def worker() -> None:
        conn: Connection | None = None
        while time.perf_counter() < end:
            try:
                if conn is None:
                    conn = await Connection.open(port)
                sent = time.perf_counter()
                status, _ = await conn.request(raw)
                if sent >= measure_from:
                    sample.add(status, time.perf_counter() - sent)
                if not conn.keep_alive:
                    conn.close()
                    conn = None
            except (OSError, asyncio.IncompleteReadError, ValueError):
                sample.failures += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(options.connections)]
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    mark = meter.mark()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    cpu = meter.since(mark)
    await asyncio.gather(*workers)
    return sample, options.api_seconds, cpu


@dataclass
class OfferRun:
    sent: dict[str, float] = field(default_factory=dict)  # call id -> wall time of the POST
    placed: list[str] = field(default_factory=list)  # calls whose POST answered 2xx
    place: Sample = field(default_factory=Sample)
    hangup: Sample = field(default_factory=Sample)
    lag: list[float] = field(default_factory=list)  # how late each POST left vs its schedule
    seconds: float = 0.0
    cpu: tuple[float | None, float] = (None, 0.0)


async def open_loop(
    port: int, auth: str, options: Options, meter: CpuMeter, run_id: str
) -> OfferRun:
    """`rate` calls per second on a fixed schedule; each hung up `talk` seconds after placing."""
    pool = Pool(port)
    result = OfferRun()
    calls = max(1, round(options.rate * options.duration))
    tasks: list[asyncio.Task[None]] = []

    async def one(index: int, due: float) -> None:
        call_id = f"{run_id}-{index}"
        raw = http_request("POST", "/v1/sandbox/calls", auth, {"to": NUMBER, "call_id": call_id})
        result.lag.append(time.perf_counter() - due)
        result.sent[call_id] = time.time()
        sent = time.perf_counter()
        try:
            status, _ = await pool.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.place.failures += 1
            return
        result.place.add(status, time.perf_counter() - sent)
        if not 200 <= status < 300:
            return
        result.placed.append(call_id)
        await asyncio.sleep(max(0.0, sent + options.talk - time.perf_counter()))
        hang = time.perf_counter()
        try:
            status, _ = await pool.request(
                http_request("POST", f"/v1/sandbox/calls/{call_id}/hangup", auth)
            )
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.hangup.failures += 1
            return
        result.hangup.add(status, time.perf_counter() - hang)

    start = time.perf_counter()
    mark = meter.mark()
    for index in range(calls):
        due = start + index / options.rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(index, due)))
    result.seconds = time.perf_counter() - start + 1 / options.rate
    result.cpu = meter.since(mark)
    await asyncio.gather(*tasks)
    pool.close()
    return result


async def setup(port: int, auth: str, options: Options, listener: Listener) -> str:
    """Load the center, register the devices, and make one call end: its record's id."""
    pool = Pool(port)
    try:
        await pool.call("PUT", "/v1/config", auth, center_document(options.agents))
        device = {"auto_answer": True, "answer_delay_s": options.answer_delay}
        for agent in agent_ids(options.agents):
            await pool.call("PUT", f"/v1/sandbox/devices/{agent}", auth, device)
        # one call from end to end: proves the websocket is subscribed and makes a record
        call_id = f"warmup-{uuid.uuid4().hex[:8]}"
        await pool.call("POST", "/v1/sandbox/calls", auth, {"to": NUMBER, "call_id": call_id})
        if not await listener.wait_for(lambda: call_id in listener.offers, 10.0):
            raise BenchError("the warm-up call was not offered to an agent over /v1/events")
        path = f"/v1/sandbox/calls/{call_id}"

        async def connected() -> bool:
            return bool((await pool.call("GET", path, auth))["state"] == "connected")

        await poll(connected, 10.0, "the warm-up call was not answered by the agent's device")
        await pool.call("POST", f"{path}/hangup", auth)
        if not await listener.wait_for(lambda: call_id in listener.ended, 10.0):
            raise BenchError("the warm-up call's end was not seen over /v1/events")
        await pool.call("GET", f"/v1/call-records/{call_id}", auth)
        return call_id
    finally:
        pool.close()


async def poll(check: Callable[[], Awaitable[bool]], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise BenchError(failure)
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Target:
    """The server under test."""

    backend: str
    port: int
    auth: str  # the Authorization header: HTTP Basic with the tenant's API key
    pid: int


async def measure(target: Target, options: Options, result: BackendResult) -> None:
    """The three measures, on one server, with one websocket listening throughout."""
    meter = CpuMeter(target.pid)
    headers = {"Authorization": target.auth}
    async with connect(f"ws://{HOST}:{target.port}/v1/events", additional_headers=headers) as ws:
        listener = Listener(ws)
        reader = asyncio.create_task(listener.run())
        try:
            record_id = await setup(target.port, target.auth, options, listener)
            read = http_request("GET", f"/v1/call-records/{record_id}", target.auth)
            place = http_request("POST", "/v1/sandbox/calls", target.auth, {"to": NUMBER})
            await _closed_phase(
                target, options, meter, result, name="GET /v1/call-records/{id}", raw=read
            )
            # the offers before the closed loop of placing calls, which leaves its calls queued
            await _offer_phase(target, options, meter, listener, result)
            await _closed_phase(
                target, options, meter, result, name="POST /v1/sandbox/calls", raw=place
            )
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
    # the closed loops, then the offers, then the requests of the offer run
    result.rows.sort(key=lambda r: (not r.closed_loop, r.measure[:5] != "offer"))


async def _closed_phase(
    target: Target,
    options: Options,
    meter: CpuMeter,
    result: BackendResult,
    *,
    name: str,
    raw: bytes,
) -> None:
    sample, seconds, cpu = await closed_loop(target.port, raw, options, meter)
    label = f"{name}, {options.connections} conn."
    result.rows.append(row(target.backend, label, sample, seconds=seconds, cpu=cpu))
    if sample.bad:
        result.errors.append(f"{target.backend}: {label}: {sample.describe_bad()}")


async def _offer_phase(
    target: Target, options: Options, meter: CpuMeter, listener: Listener, result: BackendResult
) -> None:
    """Calls at `rate` per second: arrival to offer, and the requests that drive them."""
    backend = target.backend
    run = await open_loop(target.port, target.auth, options, meter, f"load-{uuid.uuid4().hex[:6]}")
    placed = run.placed
    # every call ends (answered, or hung up first) once the server has caught up
    await listener.wait_for(lambda: all(c in listener.ended for c in placed), 30.0 + options.talk)
    offered = [c for c in placed if c in listener.offers]
    by_stamp = Sample()
    by_arrival = Sample()
    for call_id in offered:
        at, received = listener.offers[call_id]
        by_stamp.add(200, at - run.sent[call_id])
        by_arrival.add(200, received - run.sent[call_id])
    missing = len(placed) - len(offered)
    rate = f"{options.rate:g}/s"
    for label, sample, bad in (
        (f"offer, event `at` ({rate})", by_stamp, missing),
        (f"offer, received on ws ({rate})", by_arrival, missing),
        (f"POST /v1/sandbox/calls ({rate})", run.place, None),
        (f"POST …/calls/{{id}}/hangup ({rate})", run.hangup, None),
    ):
        result.rows.append(row(backend, label, sample, seconds=run.seconds, cpu=run.cpu, bad=bad))
    answered = sum(1 for c in placed if listener.ended.get(c) == "answered")
    lag = 1000 * percentile(run.lag, 99)
    result.notes.append(
        f"{backend}: {len(run.sent)} calls placed, {len(offered)} offered, {answered} answered "
        f"before their hang-up; {listener.messages} websocket messages in all; "
        f"generator lag p99 {lag:.1f} ms"
    )
    if missing:
        result.errors.append(
            f"{backend}: {missing} placed calls were never offered (too few agents for the "
            "rate and talk time, or events lost): the offer figures are biased"
        )
    for name, sample in (("place", run.place), ("hang-up", run.hangup)):
        if sample.bad:
            result.errors.append(f"{backend}: sandbox {name}: {sample.describe_bad()}")


def run_backend(backend: str, options: Options) -> BackendResult:
    """Start a server on a fresh database of `backend`, load it, measure; always clean up."""
    result = BackendResult(backend)
    workdir = Path(tempfile.mkdtemp(prefix=f"helpline-bench-{backend}-"))
    try:
        with fresh_database(backend, workdir, options.postgres_url) as database:
            tenant = create_tenant(database, workdir)
            token = base64.b64encode(f"{tenant['key_id']}:{tenant['secret']}".encode()).decode()
            auth = f"Basic {token}"
            port = free_port()
            with running_server(database, port, workdir) as process:
                try:
                    target = Target(backend, port, auth, process.pid)
                    asyncio.run(_serve_and_measure(target, process, options, result))
                except (BenchError, OSError, asyncio.IncompleteReadError) as error:
                    result.errors.append(f"{backend}: {error!r}\n{server_log(workdir)}")
    except (BenchError, OSError, asyncpg.PostgresError) as error:
        result.errors.append(f"{backend}: {error!r}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


async def _serve_and_measure(
    target: Target, process: subprocess.Popen[bytes], options: Options, result: BackendResult
) -> None:
    await wait_until_up(process, target.port, options.startup_timeout)
    await measure(target, options, result)


# -- output -----------------------------------------------------------------------------------


def _load() -> str:
    """The machine's 1-minute load average: other work skews every figure."""
    with contextlib.suppress(OSError, AttributeError):
        return f"{os.getloadavg()[0]:.2f}"
    return "unknown"


def _goal(r: Row) -> str:
    verdict = "[green]met[/green]" if r.meets_goal else "[red]missed[/red]"
    return f"({verdict}, saturated)" if r.closed_loop else verdict


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f}"


def print_table(results: list[BackendResult], options: Options, console: Console) -> None:
    table = Table(
        title=f"helpline serve under load on loopback ({os.cpu_count()} CPUs; goal: p99 under "
        f"{GOAL_MS:g} ms)"
    )
    for name, justify in (
        ("database", "left"),
        ("measure", "left"),
        ("count", "right"),
        ("bad", "right"),
        ("per s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("max ms", "right"),
        ("goal", "left"),
        ("server CPU", "right"),
        ("load CPU", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for result in results:
        for r in result.rows:
            table.add_row(
                r.backend,
                r.measure,
                f"{r.count:,}",
                f"{r.bad:,}",
                f"{r.rate:,.0f}",
                _ms(r.p50_ms),
                _ms(r.p99_ms),
                _ms(r.max_ms),
                _goal(r),
                "-" if r.server_cpu is None else f"{100 * r.server_cpu:.0f}%",
                f"{100 * r.load_cpu:.0f}%",
            )
        table.add_section()
    console.print(table)
    console.print(
        f"{options.agents} agents answering after {options.answer_delay:g} s; closed loops of "
        f"{options.api_seconds:g} s after {options.warmup:g} s warm-up; offers: "
        f"{options.rate:g} calls/s for {options.duration:g} s, hung up {options.talk:g} s "
        "after placing. CPU: share of one core."
    )
    for result in results:
        for note in result.notes:
            console.print(f"  {note}")
        for error in result.errors:
            console.print(f"[red]error:[/red] {error}")


# -- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[list[str], Options]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=[*BACKENDS, "auto"],
        default=["auto"],
        help="databases to run on (default auto: SQLite, and PostgreSQL when reachable)",
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="an existing database")
    parser.add_argument("--agents", type=int, default=Options.agents)
    parser.add_argument("--answer-delay", type=float, default=Options.answer_delay)
    parser.add_argument("--connections", type=int, default=Options.connections)
    parser.add_argument("--api-seconds", type=float, default=Options.api_seconds)
    parser.add_argument("--rate", type=float, default=Options.rate, help="new calls per second")
    parser.add_argument("--duration", type=float, default=Options.duration, help="seconds")
    parser.add_argument("--talk", type=float, default=Options.talk, help="seconds to hang-up")
    args = parser.parse_args(argv)
    options = Options(
        agents=args.agents,
        answer_delay=args.answer_delay,
        connections=args.connections,
        api_seconds=args.api_seconds,
        rate=args.rate,
        duration=args.duration,
        talk=args.talk,
        postgres_url=args.postgres_url,
    )
    backends: list[str] = []
    for name in args.backends:
        if name == "auto":
            backends.append("sqlite")
            if asyncio.run(postgres_reachable(options.postgres_url)):
                backends.append("postgresql")
        elif name not in backends:
            backends.append(name)
    return list(dict.fromkeys(backends)), options


def run(backends: list[str], options: Options, console: Console) -> list[BackendResult]:
    """One server per backend, in turn, each measured under the same load."""
    results = []
    for backend in backends:
        console.print(f"[bold]{backend}[/bold]: starting helpline serve …")
        before = _load()
        result = run_backend(backend, options)
        result.notes.append(f"{backend}: 1-minute load average {before} before, {_load()} after")
        results.append(result)
    return results


def exit_status(results: list[BackendResult]) -> int:
    """1 when anything failed (requests, non-2xx answers, offers not seen); 0 otherwise."""
    return 1 if any(result.errors for result in results) else 0


def main(argv: list[str] | None = None) -> int:
    backends, options = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 150))  # a log keeps the table's columns
    results = run(backends, options, console)
    print_table(results, options, console)
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
