"""What the sipnet tests share: a Helpline app with SIP on a free port (as `helpline serve`
runs it, lifespan and all), a tenant with a small center, agents' SIP accounts, and helpers
to run real peers (sipp, baresip) and plain SIP over UDP/TCP sockets."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from helpline.api.app import create_app
from helpline.settings import Settings
from helpline.sip.auth import answer_challenge
from helpline.sip.message import Request, Response, make_response, parse_message
from helpline.store import Store
from helpline.telephony.sip import SipTelephony, set_password

TENANT = "acme"
TRUNK_HOST = "127.0.0.2"  # sipp as the carrier binds here: the trunk's allow-list
PHONE_HOST = "127.0.0.1"  # agents' phones: under the abuse limits
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}
SCENARIOS = Path(__file__).resolve().parent / "scenarios"

CENTER: dict[str, Any] = {
    "name": "SIP test center",
    "numbers": [{"number": "100", "queue": "support"}],
    "queues": [
        {"id": "support", "groups": ["team"], "wait_agent_answer_timeout": "10s"},
    ],
    "groups": [{"id": "team", "agents": ["alice", "bob"]}],
    "agents": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
}


def with_external_line(center: dict[str, Any], number: str, external: str) -> dict[str, Any]:
    """`center` whose one number is `number`, with an IVR that sends every caller on to the
    outside number `external` (through the outbound trunk) after a short prompt."""
    return {
        **center,
        "numbers": [{"number": number, "enable_ivr": True, "ivr_tree": "out"}],
        "ivr_trees": [
            {
                "id": "out",
                "root": "menu",
                "nodes": [
                    {
                        "id": "menu",
                        "prompt": {"text": "One moment"},
                        "timeout": "0.3s",
                        "max_retries": 0,
                        "default": {"external": external},
                    }
                ],
            }
        ],
    }


def free_port() -> int:
    """A port free on both UDP and TCP (SIP listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


@dataclass
class SipServer:
    app: FastAPI
    store: Store
    port: int
    accounts: Path

    @property
    def sip(self) -> SipTelephony:
        sip = self.app.state.sip
        assert isinstance(sip, SipTelephony)
        return sip

    def engine_agent(self, agent_id: str) -> Any:
        return self.app.state.helpline.hub.runtime(TENANT).engine.agents[agent_id]

    async def settle(self) -> None:
        await self.app.state.helpline.hub.runtime(TENANT).settle()


@contextlib.asynccontextmanager
async def sip_server(
    tmp_path: Path, document: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[SipServer]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'helpline.db'}"
    store = await Store.open(database_url)
    await store.tenants.create_tenant("Acme", tenant_id=TENANT)
    await store.configs.put_config(TENANT, document or CENTER)
    accounts = tmp_path / "sip-accounts.json"
    for agent, password in PASSWORDS.items():
        set_password(accounts, TENANT, agent, "helpline", password)
    settings.setdefault(
        "sip_trunks", [{"name": "carrier", "tenant_id": TENANT, "addresses": [TRUNK_HOST]}]
    )
    try:
        for attempt in range(5):  # a port found free may be taken before we bind it
            port = free_port()
            app = create_app(
                Settings(
                    database_url=database_url,
                    sip_port=port,
                    sip_host="127.0.0.1",
                    sip_accounts_file=str(accounts),
                    outbox_poll_s=0.05,
                    **settings,
                )
            )
            try:
                lifespan = app.router.lifespan_context(app)
                await lifespan.__aenter__()
            except OSError:
                if attempt == 4:
                    raise
                continue
            try:
                yield SipServer(app, store, port, accounts)
            finally:
                await lifespan.__aexit__(None, None, None)
            return
    finally:
        await store.close()


async def poll(
    check: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def options_request(
    port: int, transport: str = "UDP", local: tuple[str, int] = ("127.0.0.1", 0)
) -> bytes:
    branch = "z9hG4bK" + uuid.uuid4().hex[:12]
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {local[0]}:{local[1] or 5999};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{local[0]}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:127.0.0.1:{port}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def udp_exchange(port: int, data: bytes, timeout: float = 2.0) -> bytes | None:
    """Send one datagram from a fresh socket; the first answer, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        sock.sendto(data, ("127.0.0.1", port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


async def udp_ask(port: int, data: bytes, timeout: float = 2.0) -> bytes | None:
    return await asyncio.to_thread(udp_exchange, port, data, timeout)


async def tcp_ask(port: int, data: bytes, timeout: float = 2.0) -> bytes | None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        return head
    except (TimeoutError, asyncio.IncompleteReadError):
        return None
    finally:
        writer.close()


def register_scenario(tmp_path: Path, final: int) -> Path:
    """scenarios/register.xml expecting `final` as the answer to its credentials."""
    text = (SCENARIOS / "register.xml").read_text().replace("[final]", str(final))
    path = tmp_path / f"register-{final}.xml"
    path.write_text(text)
    return path


async def sipp_register(
    server: SipServer,
    tmp_path: Path,
    agent: str,
    *,
    password: str | None = None,
    expires: int = 600,
    final: int = 200,
    contact_port: int | None = None,
    tcp: bool = False,
) -> tuple[int, str]:
    """An agent's phone (sipp) registers (`expires` 0: unregisters) with digest."""
    local_port = free_port()
    return await run_sipp(
        register_scenario(tmp_path, final),
        server.port,
        "-m",
        "1",
        "-s",
        f"{TENANT}_{agent}",
        "-au",
        f"{TENANT}_{agent}",
        "-ap",
        password if password is not None else PASSWORDS[agent],
        "-key",
        "expires",
        str(expires),
        "-key",
        "contact_port",
        str(contact_port or local_port),
        "-timeout",
        "10s",
        *(["-t", "t1"] if tcp else []),
        local_port=local_port,
        cwd=tmp_path,
    )


async def sipp_agent_phone(
    server: SipServer, tmp_path: Path, agent: str
) -> asyncio.Task[tuple[int, str]]:
    """`agent`'s phone: sipp's agent_phone.xml (answers one call, waits for its BYE) on a port
    of its own, registered there with digest and settled; its running task (exit status and
    error log)."""
    phone_port = free_port()
    (tmp_path / "phone").mkdir()
    phone = asyncio.create_task(
        run_sipp(
            SCENARIOS / "agent_phone.xml", server.port, "-m", "1", "-timeout", "20s",
            local_port=phone_port, cwd=tmp_path / "phone",
        )
    )  # fmt: skip
    status, log = await sipp_register(server, tmp_path, agent, contact_port=phone_port)
    assert status == 0, log
    await server.settle()
    return phone


@contextlib.asynccontextmanager
async def sipp_carrier(
    tmp_path: Path, scenario: str, port: int, rows: list[str], *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """sipp as the carrier at TRUNK_HOST:`port` playing `scenario` once for each injection
    row (`rows`, in order), with more sipp `args`; yields the process, killed if it is still
    running at the end."""
    inject = tmp_path / "carrier.csv"
    inject.write_text("SEQUENTIAL\n" + "".join(f"{row}\n" for row in rows))
    process = await asyncio.create_subprocess_exec(
        *("sipp", "-sf", str(SCENARIOS / scenario), "-inf", str(inject), "-i", TRUNK_HOST),
        *("-p", str(port), "-mp", str(free_port()), "-m", str(len(rows)), "-timeout", "25s"),
        *args,
        *("-nostdin", "-trace_err"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def run_sipp(
    scenario: str | Path,
    port: int,
    *args: str,
    local_host: str = PHONE_HOST,
    local_port: int | None = None,
    cwd: Path,
    timeout: float = 30.0,
) -> tuple[int, str]:
    """Run sipp to 127.0.0.1:port; its exit status and its error log's text."""
    process = await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        str(scenario),
        "-i",
        local_host,
        "-p",
        str(local_port or free_port()),
        "-nostdin",
        "-trace_err",
        *args,
        f"127.0.0.1:{port}",
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    logs = "".join(p.read_text(errors="replace") for p in cwd.glob("*_errors.log"))
    return process.returncode or 0, err.decode(errors="replace") + logs


class RawPeer(asyncio.DatagramProtocol):
    """A SIP peer over a bare UDP socket, for exact control of what it sends and when:
    every message received is parsed and queued with the time it came."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[float, Request | Response]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.server: tuple[str, int] = ("127.0.0.1", 5060)

    @classmethod
    async def open(cls, host: str, server_port: int) -> RawPeer:
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(cls, local_addr=(host, 0))
        peer.server = ("127.0.0.1", server_port)
        return peer

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait((time.monotonic(), parse_message(data)))

    def send(self, message: bytes | Request | Response) -> None:
        assert self.transport is not None
        data = message if isinstance(message, bytes) else message.serialize()
        self.transport.sendto(data, self.server)

    async def next(self, timeout: float = 5.0) -> tuple[float, Request | Response]:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def expect(self, what: str | int, timeout: float = 5.0) -> Request | Response:
        """The next message that is the request `what` (a method) or the response `what`
        (a status), skipping others."""
        while True:
            _, message = await self.next(timeout)
            if isinstance(message, Request) and message.method == what:
                return message
            if isinstance(message, Response) and message.status == what:
                return message

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def raw_request(
    peer: RawPeer,
    method: str,
    uri: str,
    *,
    call_id: str,
    cseq: int = 1,
    branch: str = "",
    from_user: str = "caller",
    extra: str = "",
    body: str = "",
) -> bytes:
    host, port = peer.address
    branch = branch or "z9hG4bK" + uuid.uuid4().hex[:16]
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{from_user}@{host}>;tag=f{call_id[:6]}\r\n"
        f"To: <{uri}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:{from_user}@{host}:{port}>\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def callee_request(
    peer: RawPeer, invite: Request, method: str, *, cseq: int, tag: str, body: str = ""
) -> bytes:
    """A request of `peer` inside the dialog that our `invite` made with it (the peer
    answered with To tag `tag`): our From is its To and our To, tagged, its From."""
    request = raw_request(
        peer,
        method,
        f"sip:helpline@127.0.0.1:{peer.server[1]}",
        call_id=invite.call_id,
        cseq=cseq,
        body=body,
        extra="Content-Type: application/sdp\r\n" if body else "",
    )
    their_to = invite.headers.get("From") or ""
    their_from = f"{invite.headers.get('To') or ''};tag={tag}"
    request = re.sub(rb"From: [^\r]*", f"From: {their_from}".encode(), request)
    return re.sub(rb"To: [^\r]*", f"To: {their_to}".encode(), request)


def offer_sdp(host: str, port: int = 40000) -> str:
    return (
        f"v=0\r\no=raw 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
    )


async def raw_register(peer: RawPeer, agent: str, expires: int = 600) -> Response:
    """Register `peer` as `agent`'s phone with digest; the final response."""
    user = f"{TENANT}_{agent}"
    uri = f"sip:127.0.0.1:{peer.server[1]}"
    call_id = uuid.uuid4().hex
    extra = f"Expires: {expires}\r\n"
    peer.send(
        raw_request(peer, "REGISTER", uri, call_id=call_id, from_user=user, extra=extra).replace(
            f"To: <{uri}>".encode(), f"To: <sip:{user}@127.0.0.1>".encode()
        )
    )
    challenge = await peer.expect(401)
    authorization = answer_challenge(
        challenge.headers.get_all("WWW-Authenticate")[0],
        username=user,
        password=PASSWORDS[agent],
        method="REGISTER",
        uri=uri,
        cnonce=uuid.uuid4().hex[:8],
        nc=1,
    )
    extra += f"Authorization: {authorization}\r\n"
    peer.send(
        raw_request(
            peer, "REGISTER", uri, call_id=call_id, cseq=2, from_user=user, extra=extra
        ).replace(f"To: <{uri}>".encode(), f"To: <sip:{user}@127.0.0.1>".encode())
    )
    _, final = await peer.next()
    assert isinstance(final, Response)
    return final


def reply(request: Request, status: int, *, tag: str = "phone1", body: str = "") -> bytes:
    response = make_response(request, status, to_tag=tag)
    if body:
        response.headers.add("Content-Type", "application/sdp")
    response.headers.add("Contact", "<sip:phone@127.0.0.1>")
    return Response(response.status, response.reason, response.headers, body.encode()).serialize()
