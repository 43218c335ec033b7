"""Callouts over SIP (issue 7 point 3): `POST /v1/calls/callout` to an agent reached on a
phone number (routing type 2) or on a registered SIP phone, and a customer number. The legs
that go out through the trunk meet sipp as the carrier (scenarios/outbound_carrier.xml:
prefix, 401 digest checked by verifyauth, CSeq 2); the two legs are bridged by our RTP relay
(checked with packets from the test's own sockets, where the carrier's SDP points); the call
record shows it. A busy customer ends the callout as failed/busy and hangs up the agent."""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sipnet_support import (
    CENTER,
    PHONE_HOST,
    SCENARIOS,
    TENANT,
    TRUNK_HOST,
    SipServer,
    free_port,
    poll,
    sip_server,
    sipp_carrier,
    sipp_register,
)

USER, PASSWORD = "carrier-user", "carrier-secret"
ALICE_PHONE = "5550001"

CALLOUT_CENTER: dict[str, Any] = {
    **CENTER,
    "agents": [
        {"id": "alice", "name": "Alice", "routing_type": 2, "phone_number": ALICE_PHONE},
        {"id": "bob", "name": "Bob"},
    ],
}


def _trunk(carrier_port: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "carrier",
            "tenant_id": TENANT,
            "addresses": [TRUNK_HOST],
            "proxy": f"{TRUNK_HOST}:{carrier_port}",
            "username": USER,
            "password": PASSWORD,
            "from_domain": "trunk.example",
            "prefix": "9",
        }
    ]


@asynccontextmanager
async def _carrier(tmp_path: Path, port: int, media_ports: list[int]) -> AsyncIterator[Any]:
    """sipp as the carrier for len(media_ports) calls; yields the process."""
    rows = [f"{p};" for p in media_ports]
    credentials = ("-key", "user", USER, "-key", "password", PASSWORD)
    async with sipp_carrier(tmp_path, "outbound_carrier.xml", port, rows, *credentials) as sipp:
        yield sipp


async def _sipp_done(process: Any, tmp_path: Path) -> tuple[int, str]:
    _, err = await asyncio.wait_for(process.communicate(), 20)
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_errors.log"))
    return process.returncode or 0, err.decode(errors="replace") + logs


async def _client(server: SipServer) -> httpx.AsyncClient:
    key = await server.store.tenants.create_api_key(TENANT, "tests")
    token = base64.b64encode(f"{key.key_id}:{key.secret}".encode()).decode()
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app),
        base_url="http://test",
        headers={"authorization": f"Basic {token}"},
    )


async def _record(server: SipServer) -> Any:
    async def written() -> bool:
        return await server.store.records.count_records(TENANT) >= 1

    await poll(written, "the call record", timeout=15)
    (record,) = (await server.store.records.list_records(TENANT)).items
    return record


def _media_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((TRUNK_HOST, 0))
    sock.settimeout(2.0)
    return sock


def _rtp(sequence: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, sequence, sequence * 160, 0x1234) + payload


async def test_a_callout_to_a_phone_number_agent_bridges_two_trunk_legs(tmp_path: Path) -> None:
    carrier_port = free_port()
    agent_media, customer_media = _media_socket(), _media_socket()
    ports = [s.getsockname()[1] for s in (agent_media, customer_media)]
    try:
        async with (
            _carrier(tmp_path, carrier_port, ports) as carrier,
            sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        ):
            async with await _client(server) as client:
                answer = await client.post(
                    "/v1/calls/callout",
                    json={
                        "agent_id": "alice",
                        "customer_number": "5550002",
                        "caller_id": "5550999",
                    },
                )
                assert answer.status_code == 201, answer.text
                call_id = answer.json()["call_id"]
                outbound = server.sip.outbound

                def bridged() -> bool:
                    out = outbound.calls.get((TENANT, call_id))
                    return bool(out and out.customer and out.customer.answered)

                await poll(bridged, "both legs answered")
                out = outbound.calls[(TENANT, call_id)]
                assert out.agent is not None and out.customer is not None
                assert out.agent.invite.uri.startswith(f"sip:9{ALICE_PHONE}@")
                assert out.customer.invite.uri.startswith("sip:95550002@")
                customer_from = out.customer.invite.from_.sip_uri
                assert (customer_from.user, customer_from.host) == ("5550999", "trunk.example")
                await server.settle()
                live = (await client.get(f"/v1/calls/{call_id}")).json()
                assert live["state"] == "connected"

                # the relay joins them: the agent's packets reach the customer, and back
                relay_a, relay_b = out.relay.port("a"), out.relay.port("b")
                for n in range(3):
                    agent_media.sendto(_rtp(n, b"agent"), ("127.0.0.1", relay_a))
                    data, source = await asyncio.to_thread(customer_media.recvfrom, 2048)
                    assert data.endswith(b"agent") and source[1] == relay_b
                    customer_media.sendto(_rtp(n, b"customer"), ("127.0.0.1", relay_b))
                    data, source = await asyncio.to_thread(agent_media.recvfrom, 2048)
                    assert data.endswith(b"customer") and source[1] == relay_a

                hangup = await client.post(f"/v1/calls/{call_id}/hangup")
                assert hangup.status_code == 204
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # digest, prefix, ACKs and both BYEs as expected
            record = await _record(server)
            assert record.call_id == call_id
            assert record.direction == "callout"
            assert record.agent_id == "alice"
            assert record.to_number == "5550002"
            assert record.answered_at is not None and record.talk_s > 0
    finally:
        agent_media.close()
        customer_media.close()


async def test_a_busy_customer_fails_the_callout_and_releases_the_agent(tmp_path: Path) -> None:
    carrier_port = free_port()
    async with (
        _carrier(tmp_path, carrier_port, [free_port(), free_port()]) as carrier,
        sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
    ):
        async with await _client(server) as client:
            answer = await client.post(
                "/v1/calls/callout", json={"agent_id": "alice", "customer_number": "6660002"}
            )
            assert answer.status_code == 201, answer.text
        record = await _record(server)
        assert record.result == "failed"
        assert record.end_reason == "busy"
        status, errors = await _sipp_done(carrier, tmp_path)
        assert status == 0, errors  # the agent's leg got its BYE, the 486 its ACK
        await server.settle()
        assert server.engine_agent("alice").activity.value == "idle"


async def test_a_callout_to_a_sip_phone_agent_dials_the_customer_through_the_trunk(
    tmp_path: Path,
) -> None:
    carrier_port, phone_port = free_port(), free_port()
    async with (
        _carrier(tmp_path, carrier_port, [free_port()]) as carrier,
        sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
    ):
        status, errors = await sipp_register(server, tmp_path, "bob", contact_port=phone_port)
        assert status == 0, errors
        phone = await asyncio.create_subprocess_exec(
            "sipp",
            "-sf",
            str(SCENARIOS / "agent_phone.xml"),
            "-i",
            PHONE_HOST,
            "-p",
            str(phone_port),
            "-mp",
            str(free_port()),
            "-m",
            "1",
            "-timeout",
            "25s",
            "-nostdin",
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await poll(lambda: server.engine_agent("bob").online, "bob online")
            async with await _client(server) as client:
                answer = await client.post(
                    "/v1/calls/callout", json={"agent_id": "bob", "customer_number": "5550003"}
                )
                assert answer.status_code == 201, answer.text
                call_id = answer.json()["call_id"]
                outbound = server.sip.outbound

                def bridged() -> bool:
                    out = outbound.calls.get((TENANT, call_id))
                    return bool(out and out.customer and out.customer.answered)

                await poll(bridged, "the phone and the customer answered")
                out = outbound.calls[(TENANT, call_id)]
                assert out.agent is not None and out.agent.target.port == phone_port
                # the customer is offered the codec the phone agreed: packets pass untouched
                assert out.customer is not None and out.customer.session is not None
                assert out.agent.session is not None
                assert out.customer.session.codec == out.agent.session.codec == "PCMU"
                hangup = await client.post(f"/v1/calls/{call_id}/hangup")
                assert hangup.status_code == 204
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors
            assert await asyncio.wait_for(phone.wait(), 10) == 0  # the phone got its BYE
            record = await _record(server)
            assert (record.direction, record.agent_id) == ("callout", "bob")
            assert record.answered_at is not None
        finally:
            if phone.returncode is None:
                phone.kill()
                await phone.wait()


async def test_a_callback_taken_by_a_phone_number_agent_dials_both_through_the_trunk(
    tmp_path: Path,
) -> None:
    carrier_port = free_port()
    async with (
        _carrier(tmp_path, carrier_port, [free_port(), free_port()]) as carrier,
        sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
    ):
        async with await _client(server) as client:
            answer = await client.post(
                "/v1/calls/callback",
                json={"queue_id": "support", "customer_number": "5550004"},
            )
            assert answer.status_code == 201, answer.text
            call_id = answer.json()["call_id"]
            outbound = server.sip.outbound

            def bridged() -> bool:
                out = outbound.calls.get((TENANT, call_id))
                return bool(out and out.customer and out.customer.answered)

            await poll(bridged, "alice's number and the customer answered")
            out = outbound.calls[(TENANT, call_id)]
            assert out.agent is not None and out.agent.invite.uri.startswith(f"sip:9{ALICE_PHONE}@")
            assert out.customer is not None and out.customer.invite.uri.startswith("sip:95550004@")
            assert (await client.post(f"/v1/calls/{call_id}/hangup")).status_code == 204
        status, errors = await _sipp_done(carrier, tmp_path)
        assert status == 0, errors
        record = await _record(server)
        assert (record.direction, record.agent_id) == ("callback", "alice")
        assert record.answered_at is not None


async def test_a_callout_s_customer_transferred_to_a_number(tmp_path: Path) -> None:
    carrier_port = free_port()
    agent_media, customer_media, number_media = _media_socket(), _media_socket(), _media_socket()
    ports = [s.getsockname()[1] for s in (agent_media, customer_media, number_media)]
    try:
        async with (
            _carrier(tmp_path, carrier_port, ports) as carrier,
            sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        ):
            async with await _client(server) as client:
                answer = await client.post(
                    "/v1/calls/callout", json={"agent_id": "alice", "customer_number": "5550002"}
                )
                call_id = answer.json()["call_id"]
                outbound = server.sip.outbound

                def bridged() -> bool:
                    out = outbound.calls.get((TENANT, call_id))
                    return bool(out and out.customer and out.customer.answered)

                await poll(bridged, "both legs answered")
                out = outbound.calls[(TENANT, call_id)]
                agent_leg = out.agent
                relay_a, relay_b = out.relay.port("a"), out.relay.port("b")
                agent_media.sendto(_rtp(0, b"agent"), ("127.0.0.1", relay_a))  # a latches
                assert (await asyncio.to_thread(customer_media.recvfrom, 2048))[0].endswith(
                    b"agent"
                )
                moved = await client.post(
                    f"/v1/calls/{call_id}/transfer", json={"to_number": "5550010"}
                )
                assert moved.status_code == 202, moved.text
                await poll(
                    lambda: out.agent is not agent_leg and bool(out.agent and out.agent.answered),
                    "the number answered",
                )
                assert agent_leg is not None and agent_leg.ended  # the agent got its BYE
                assert out.agent is not None and out.agent.invite.uri.startswith("sip:95550010@")
                customer_media.sendto(_rtp(1, b"customer"), ("127.0.0.1", relay_b))
                data, _ = await asyncio.to_thread(number_media.recvfrom, 2048)
                assert data.endswith(b"customer")  # the customer now talks to the number
                number_media.sendto(_rtp(1, b"number"), ("127.0.0.1", relay_a))
                data, _ = await asyncio.to_thread(customer_media.recvfrom, 2048)
                assert data.endswith(b"number")
                assert (await client.post(f"/v1/calls/{call_id}/hangup")).status_code == 204
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # three carrier calls, each ended with a BYE
            record = await _record(server)
            assert record.result == "transferred_external"
            assert record.legs[-1]["external_number"] == "5550010"
    finally:
        for sock in (agent_media, customer_media, number_media):
            sock.close()


async def test_a_bridged_callout_with_no_media_is_ended(tmp_path: Path) -> None:
    """Both far ends gone silent without a BYE: the call ends (no call is left up)."""
    carrier_port = free_port()
    async with (
        _carrier(tmp_path, carrier_port, [free_port(), free_port()]) as carrier,
        sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
    ):
        server.sip.outbound.media_timeout = 1.0
        async with await _client(server) as client:
            answer = await client.post(
                "/v1/calls/callout", json={"agent_id": "alice", "customer_number": "5550002"}
            )
            assert answer.status_code == 201, answer.text
        record = await _record(server)
        assert (record.disconnected_by, record.end_reason) == ("system", "media_timeout")
        assert record.answered_at is not None  # it was bridged, then went silent
        status, errors = await _sipp_done(carrier, tmp_path)
        assert status == 0, errors  # both legs got their BYE
