"""Real SIP phones register through the digest authenticator and the registrar: `sipp` (Debian
sip-tester 3.6) and `baresip` (Debian 1.0) against a UDP endpoint running `handle_register`."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from helpline.sip.auth import (
    AuthFailure,
    DigestAlgorithm,
    DigestAuthenticator,
    DigestPolicy,
    Unauthenticated,
    compute_ha1,
)
from helpline.sip.limits import AbuseLimits, Drop, DropReason, LimitsPolicy
from helpline.sip.message import Request, parse_message
from helpline.sip.registrar import (
    PhonePresenceChanged,
    RegisterReply,
    Registrar,
    RegistrarPolicy,
    SipAccount,
    handle_register,
)

ALICE = SipAccount(tenant_id="ten", agent_id="alice")
PASSWORD = "pw-of-alice"
ONLINE = PhonePresenceChanged(tenant_id="ten", agent_id="alice", online=True)
OFFLINE = PhonePresenceChanged(tenant_id="ten", agent_id="alice", online=False)


class RegistrarEndpoint(asyncio.DatagramProtocol):
    """The smallest shell around the sans-I/O parts: limits, then REGISTER; a real clock."""

    def __init__(self, algorithms: tuple[DigestAlgorithm, ...]) -> None:
        self.registrar = Registrar(RegistrarPolicy(), {ALICE.username: ALICE}.get)
        self.auth = DigestAuthenticator(
            DigestPolicy(realm="127.0.0.1", secret=os.urandom(32), algorithms=algorithms)
        )
        self.limits = AbuseLimits(LimitsPolicy(max_auth_failures=3))
        self.events: list[PhonePresenceChanged] = []
        self.failures: list[AuthFailure] = []
        self.dropped: list[DropReason] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.DatagramTransport", transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = asyncio.get_running_loop().time()
        message = parse_message(data)
        if not isinstance(message, Request) or message.method != "REGISTER":
            return
        decision = self.limits.admit(addr[0], message.headers.get("User-Agent"), now)
        if isinstance(decision, Drop):
            self.dropped.append(decision.reason)
            return
        response, outcome = handle_register(
            message,
            registrar=self.registrar,
            authenticator=self.auth,
            lookup=self.lookup,
            source=f"udp:{addr[0]}:{addr[1]}",
            now=now,
            entropy=os.urandom(12),
            to_tag=os.urandom(4).hex(),
        )
        if isinstance(outcome, Unauthenticated):
            self.failures.append(outcome.reason)
            if outcome.reason.counts_as_failure:
                self.limits.auth_failed(addr[0], now)
        elif isinstance(outcome, RegisterReply):
            self.events.extend(outcome.events)
        assert self.transport is not None
        self.transport.sendto(response.serialize(), addr)

    @staticmethod
    def lookup(username: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
        if username != ALICE.username:
            return None
        return compute_ha1(algorithm, username, realm, PASSWORD)


@pytest.fixture
async def endpoint(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RegistrarEndpoint, int]]:
    algorithms = getattr(request, "param", (DigestAlgorithm.MD5, DigestAlgorithm.SHA256))
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: RegistrarEndpoint(algorithms), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    yield protocol, port
    transport.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register with digest">
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]>;tag=[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:[service]@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: 600
Content-Length: 0

]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]>;tag=[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:[service]@[local_ip]:[local_port]>
[authentication username=USER password=PASSWORD]
Max-Forwards: 70
Expires: 600
Content-Length: 0

]]></send>
  <recv response="FINAL"/>
</scenario>
"""


async def run_sipp(tmp_path: Path, port: int, *, password: str, final: int, calls: int = 1) -> int:
    scenario = tmp_path / f"register-{final}.xml"
    text = SCENARIO.replace("USER", ALICE.username).replace("PASSWORD", password)
    scenario.write_text(text.replace("FINAL", str(final)))
    process = await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        str(scenario),
        "-s",
        ALICE.username,
        "-m",
        str(calls),
        "-p",
        str(free_udp_port()),
        "-nostdin",
        "-timeout",
        "4s",
        "-recv_timeout",
        "2s",
        f"127.0.0.1:{port}",
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), timeout=15)


async def test_sipp_registers_with_digest(
    endpoint: tuple[RegistrarEndpoint, int], tmp_path: Path
) -> None:
    server, port = endpoint
    assert await run_sipp(tmp_path, port, password=PASSWORD, final=200) == 0
    assert server.failures == [AuthFailure.MISSING]  # only the challenge leg
    assert server.events == [ONLINE]
    (binding,) = server.registrar.bindings(ALICE.username, now=asyncio.get_running_loop().time())
    assert binding.contact.startswith(f"sip:{ALICE.username}@127.0.0.1:")


async def test_password_guessing_gets_the_source_banned(
    endpoint: tuple[RegistrarEndpoint, int], tmp_path: Path
) -> None:
    server, port = endpoint
    assert await run_sipp(tmp_path, port, password="guess", final=401, calls=3) == 0
    assert server.failures.count(AuthFailure.FAILED) == 3
    # Banned now: even the right password is dropped without an answer.
    assert await run_sipp(tmp_path, port, password=PASSWORD, final=200) != 0
    assert server.dropped and set(server.dropped) == {DropReason.BANNED}
    assert server.events == []


@pytest.mark.parametrize("endpoint", [(DigestAlgorithm.MD5,)], indirect=True)
async def test_baresip_registers_and_unregisters(
    endpoint: tuple[RegistrarEndpoint, int], tmp_path: Path
) -> None:
    server, port = endpoint
    (tmp_path / "accounts").write_text(
        f"<sip:{ALICE.username}@127.0.0.1:{port};transport=udp>;auth_pass={PASSWORD};regint=600\n"
    )
    (tmp_path / "config").write_text(
        f"sip_listen 127.0.0.1:{free_udp_port()}\n"
        "module_path /usr/lib/baresip/modules\nmodule account.so\n"
    )
    process = await asyncio.create_subprocess_exec(
        "baresip",
        "-f",
        str(tmp_path),
        "-t",
        "2",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.wait_for(process.wait(), timeout=15)
    # Registered (online), then unregistered with Expires: 0 when it quit (offline).
    assert server.events == [ONLINE, OFFLINE]
    assert server.failures == [AuthFailure.MISSING, AuthFailure.MISSING]
