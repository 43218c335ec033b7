"""Restart safety (issue 4, point 11): kill -9 a real server during live calls, start it again.

A real `helpline serve` process runs on a store (SQLite file; PostgreSQL when a server is
reachable) holding a tenant and key made with the CLI and the demo center. A webhook
subscription points at a receiver on 127.0.0.1 that is down (connection refused), so every
delivery stays pending. Three calls finish (their records written), three stay live: one in
the IVR, one waiting in a queue, one connected to an agent's sandbox device. Then the process
is killed with SIGKILL and started again with the receiver up. Then:

- every finished call has its record, exactly once, as it was written;
- every call that was live has a record: failed, `system_restart`, disconnected by the
  system, with its numbers, and its queue and agent where it had them;
- the webhooks the first process could not deliver (`call.ended` of the finished calls) and
  those of the calls the restart closed reach the receiver, signed per Standard Webhooks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from helpline.cli import demo_document
from helpline.webhooks.signing import verify
from pg_backend import new_pg_database, pg_admin, pg_reachable

HOTLINE = "+18005550100"  # the demo center's IVR number
SUPPORT_LINE = "+18005550199"  # straight to the support queue
TIMEOUT_S = 30.0  # for anything awaited; a healthy run needs a few seconds
# the receiver is down for the first process: retried every 0.5 s, never given up on
RETRY_SCHEDULE = json.dumps([0.0] + [0.5] * 400)

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_for(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll `probe` until it gives something other than None (or fail after TIMEOUT_S)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT_S:g} s waiting for {what}")
        await asyncio.sleep(0.05)


# -- the store --------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store: a SQLite file, or a PostgreSQL database of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'helpline.db'}"
        return
    reason = asyncio.run(pg_reachable())
    if reason is not None:
        pytest.skip(reason)
    name, url = new_pg_database("helpline_restart")
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- the server process -----------------------------------------------------------------------


def cli(*args: str) -> dict[str, str]:
    """Run `helpline ARGS --json` in a process of its own; its JSON output."""
    done = subprocess.run(
        [sys.executable, "-m", "helpline.cli", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@dataclass
class Server:
    """`helpline serve` in a child process."""

    database_url: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
        env.update(
            HELPLINE_WEBHOOK_RETRY_SCHEDULE=RETRY_SCHEDULE,
            HELPLINE_WEBHOOK_TIMEOUT_S="1",
            HELPLINE_OUTBOX_POLL_S="0.1",
            HELPLINE_JWT_SECRET="restart-test-" + "x" * 32,
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "helpline.cli",
                    "serve",
                    "--database",
                    self.database_url,
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient(base_url=self.base_url) as client:

            async def healthy() -> bool | None:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"the server exited:\n{self.log.read_text()}")
                try:
                    response = await client.get("/health", timeout=2.0)
                except httpx.TransportError:
                    return None
                return True if response.status_code == 200 else None

            await wait_for(healthy, "the server to answer /health")

    def kill(self) -> None:
        """`kill -9`: no shutdown of any kind."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(database_url, free_port(), tmp_path / "server.log")
    try:
        yield running
    finally:
        running.stop()


# -- the webhook receiver ---------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """An HTTP server on 127.0.0.1 that answers 204 to every request and keeps it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.deliveries: list[Delivery] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.deliveries.append(Delivery(headers, body, time.time()))
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    down = Receiver(free_port())  # not listening until the test starts it
    try:
        yield down
    finally:
        await down.close()


# -- the test ---------------------------------------------------------------------------------


def _json(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


async def test_kill_9_during_live_calls_then_restart(server: Server, receiver: Receiver) -> None:
    # a tenant and an API key, made with the CLI on the server's store
    tenant = cli(
        "tenant", "create", "Restart Co", "--id", "restartco", "--database", server.database_url
    )
    assert tenant["tenant_id"] == "restartco"
    key = cli(
        "key", "create", "restartco", "--label", "restart test", "--database", server.database_url
    )
    auth = (key["key_id"], key["secret"])

    await server.start()
    async with httpx.AsyncClient(base_url=server.base_url, auth=auth, timeout=10.0) as api:
        _json(await api.put("/v1/config", json=demo_document()))
        hook = _json(
            await api.post(
                "/v1/webhooks", json={"url": receiver.url, "event_types": ["call.ended"]}
            ),
            201,
        )
        # support has nobody to take a call: dave (reachable by phone) is not ready and nobody
        # else of its groups is online; alice (sales) answers on a sandbox device at once
        _json(await api.put("/v1/agents/dave/status", json={"manual_status": "NOT_AVAILABLE"}))
        _json(await api.put("/v1/sandbox/devices/alice", json={}))

        async def place(call_id: str, caller: str, to: str, keys: str = "") -> dict[str, Any]:
            body = {"to": to, "from": caller, "call_id": call_id}
            placed: dict[str, Any] = _json(await api.post("/v1/sandbox/calls", json=body), 201)
            if keys:
                placed = _json(
                    await api.post(f"/v1/sandbox/calls/{call_id}/keys", json={"digits": keys})
                )
            return placed

        async def connected(call_id: str) -> None:
            async def probe() -> bool | None:
                call = _json(await api.get(f"/v1/sandbox/calls/{call_id}"))
                return True if call["state"] == "connected" else None

            await wait_for(probe, f"{call_id} to be connected")

        async def record_of(call_id: str) -> dict[str, Any]:
            async def probe() -> dict[str, Any] | None:
                response = await api.get(f"/v1/call-records/{call_id}")
                return None if response.status_code == 404 else _json(response)

            return await wait_for(probe, f"the record of {call_id}")

        # three calls that finish before the crash
        placed = await place("done-queue", "+15550000001", SUPPORT_LINE)
        assert placed["state"] == "queued"
        _json(await api.post("/v1/sandbox/calls/done-queue/hangup"))
        await place("done-ivr", "+15550000002", HOTLINE, keys="10")  # English, then 0: goodbye
        await place("done-talk", "+15550000003", HOTLINE, keys="11")  # English sales: alice
        await connected("done-talk")
        _json(await api.post("/v1/sandbox/devices/alice/hangup"))
        before = {c: await record_of(c) for c in ("done-queue", "done-ivr", "done-talk")}
        assert before["done-queue"]["result"] == "abandoned_in_queue"
        assert before["done-ivr"]["result"] == "ended_in_ivr"
        assert before["done-talk"]["result"] == "answered"
        assert before["done-talk"]["agent_id"] == "alice"

        # three calls live at the crash: connected, queued, in the IVR (placed last, so every
        # event before it has been carried out when its request returns)
        await place("live-talk", "+15550000004", HOTLINE, keys="11")
        await connected("live-talk")
        placed = await place("live-queue", "+15550000005", SUPPORT_LINE)
        assert placed["state"] == "queued"
        placed = await place("live-ivr", "+15550000006", HOTLINE)
        assert placed["state"] == "ivr"
        live = _json(await api.get("/v1/calls"))
        assert {c["call_id"]: c["state"] for c in live["items"]} == {
            "live-talk": "connected",
            "live-queue": "queued",
            "live-ivr": "ivr",
        }

        # the receiver is down: the call.ended webhooks were tried, and failed
        async def failed_attempts() -> list[dict[str, Any]] | None:
            page = _json(await api.get(f"/v1/webhooks/{hook['id']}/attempts"))
            items: list[dict[str, Any]] = page["items"]
            return items if len({a["outbox_id"] for a in items}) >= 3 else None

        attempts = await wait_for(failed_attempts, "three webhooks to be tried")
        assert not any(a["success"] for a in attempts)
        assert receiver.deliveries == []

    server.kill()
    await receiver.start()
    await server.start()

    async with httpx.AsyncClient(base_url=server.base_url, auth=auth, timeout=10.0) as api:
        assert (_json(await api.get("/v1/calls")))["items"] == []
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = _json(await api.get("/v1/call-records", params=params))
            records += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break

    # every finished call's record, exactly once and as it was
    ids = [r["call_id"] for r in records]
    assert sorted(ids) == sorted([*before, "live-talk", "live-queue", "live-ivr"])
    by_id = {r["call_id"]: r for r in records}
    for call_id, record in before.items():
        assert by_id[call_id] == record

    # every call that was live: failed, system_restart, with what was known of it
    for call_id in ("live-talk", "live-queue", "live-ivr"):
        record = by_id[call_id]
        assert record["result"] == "failed", record
        assert record["end_reason"] == "system_restart", record
        assert record["disconnected_by"] == "system", record
        assert record["direction"] == "inbound"
    talk, queue, ivr = by_id["live-talk"], by_id["live-queue"], by_id["live-ivr"]
    assert (talk["from_number"], talk["to_number"]) == ("+15550000004", HOTLINE)
    assert (talk["queue_id"], talk["agent_id"]) == ("sales_en", "alice")
    assert talk["answered_at"] is not None
    assert talk["ivr_path"][:1] == ["language"]
    assert [leg["agent_id"] for leg in talk["legs"]] == ["alice"]
    assert (queue["from_number"], queue["to_number"]) == ("+15550000005", SUPPORT_LINE)
    assert (queue["queue_id"], queue["agent_id"]) == ("support", None)
    assert queue["queued_at"] is not None and queue["answered_at"] is None
    assert (ivr["from_number"], ivr["to_number"]) == ("+15550000006", HOTLINE)
    assert (ivr["queue_id"], ivr["agent_id"]) == (None, None)
    assert ivr["ivr_tree"] == "main"
    for record in (talk, queue, ivr):
        assert record["ended_at"] >= record["created_at"]

    # the webhooks go out once the receiver is up: every call's call.ended, genuinely signed
    everything = set(by_id)

    async def all_ended() -> dict[str, dict[str, Any]] | None:
        seen = {}
        for delivery in receiver.deliveries:
            payload = json.loads(delivery.body)
            seen[payload["data"]["call_id"]] = payload
        return seen if set(seen) >= everything else None

    ended = await wait_for(all_ended, "call.ended of every call at the receiver")
    assert set(ended) == everything
    for delivery in receiver.deliveries:
        verify(hook["secret"], delivery.headers, delivery.body, now=delivery.at)
    for call_id, payload in ended.items():
        assert payload["type"] == "call.ended"
        assert payload["data"]["result"] == by_id[call_id]["result"]
        assert payload["data"]["end_reason"] == by_id[call_id]["end_reason"]
    # redelivery is allowed (at least once), but a message keeps its webhook-id
    ids_of: dict[str, set[str]] = {}
    for delivery in receiver.deliveries:
        call_id = json.loads(delivery.body)["data"]["call_id"]
        ids_of.setdefault(call_id, set()).add(delivery.headers["webhook-id"])
    assert all(len(message_ids) == 1 for message_ids in ids_of.values()), ids_of
