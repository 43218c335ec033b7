"""A trunk's inbound call that leaves again through the outbound trunk (issue 7 point 3):
offered to an agent reached on a phone number (routing type 2), and sent by the IVR to an
external number. sipp plays both the caller (echoing RTP back, `-rtp_echo`) and the carrier
(scenarios/outbound_carrier.xml, whose SDP points at the test's socket): a packet the test
sends as the far end comes back echoed by the caller, so the legs are joined both ways."""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid
from pathlib import Path
from typing import Any

from sipnet_support import (
    CENTER,
    SCENARIOS,
    TENANT,
    TRUNK_HOST,
    RawPeer,
    free_port,
    offer_sdp,
    poll,
    raw_request,
    reply,
    run_sipp,
    with_external_line,
)
from sipnet_support import sip_server as _sip_server
from test_sipnet_outbound_calls import (
    ALICE_PHONE,
    _carrier,
    _client,
    _record,
    _sipp_done,
    _trunk,
)

from helpline.sip.message import Request, Response

RT2_CENTER: dict[str, Any] = {
    **CENTER,
    "agents": [{"id": "alice", "name": "Alice", "routing_type": 2, "phone_number": ALICE_PHONE}],
    "groups": [{"id": "team", "agents": ["alice"]}],
}
EXTERNAL = "5550009"
IVR_CENTER = with_external_line(RT2_CENTER, "200", EXTERNAL)


def _rtp(sequence: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, sequence, sequence * 160, 0x4321) + b"\xff" * 160


async def _echoed(far_end: socket.socket, relay_port: int) -> None:
    """Packets sent to our relay as the far end come back: through the caller and back."""
    for n in range(5):
        far_end.sendto(_rtp(n), ("127.0.0.1", relay_port))
    data, source = await asyncio.to_thread(far_end.recvfrom, 2048)
    assert data[:2] == b"\x80\x00" and source[1] == relay_port


def _far_end() -> socket.socket:
    """A socket where the carrier's SDP points: the far end of a trunk leg."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((TRUNK_HOST, 0))
    sock.settimeout(3.0)
    return sock


async def _caller(
    tmp_path: Path, server_port: int, number: str, *, talk_ms: int = 3000
) -> asyncio.Task[tuple[int, str]]:
    (tmp_path / "caller").mkdir()
    return asyncio.create_task(
        run_sipp(
            SCENARIOS / "caller.xml",
            server_port,
            "-s",
            number,
            "-m",
            "1",
            "-d",
            str(talk_ms),
            "-mp",
            str(free_port()),
            "-rtp_echo",
            "-timeout",
            "20s",
            local_host=TRUNK_HOST,
            cwd=tmp_path / "caller",
        )
    )


async def test_routing_type_2_rings_the_agent_s_number_through_the_trunk(tmp_path: Path) -> None:
    far_end = _far_end()
    carrier_port = free_port()
    try:
        async with (
            _carrier(tmp_path, carrier_port, [far_end.getsockname()[1]]) as carrier,
            _sip_server(tmp_path, RT2_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        ):
            caller = await _caller(tmp_path, server.port, "100")
            b2bua = server.sip.b2bua

            def agent_leg() -> Any:
                for call in b2bua.calls.values():
                    leg = call.agents.get("alice")
                    if leg is not None and leg.session is not None and call.bridged:
                        return call, leg
                return None

            await poll(lambda: agent_leg() is not None, "alice's number answered and bridged")
            call, leg = agent_leg()
            assert leg.invite.uri.startswith(f"sip:9{ALICE_PHONE}@")
            assert leg.invite.from_.sip_uri.user == "+15550001111"  # the caller's number
            assert call.media is not None
            await _echoed(far_end, call.media.agent_port)
            status, errors = await asyncio.wait_for(caller, 20)  # it hangs up after 3 s
            assert status == 0, errors
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # the agent's leg got the B2BUA's BYE
            record = await _record(server)
            assert record.agent_id == "alice" and record.answered_at is not None
            assert record.disconnected_by == "customer"
    finally:
        far_end.close()


async def test_an_ivr_external_action_dials_the_number_through_the_trunk(tmp_path: Path) -> None:
    far_end = _far_end()
    carrier_port = free_port()
    try:
        async with (
            _carrier(tmp_path, carrier_port, [far_end.getsockname()[1]]) as carrier,
            _sip_server(tmp_path, IVR_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        ):
            caller = await _caller(tmp_path, server.port, "200")
            pending = server.sip.outbound.pending.external

            def answered() -> bool:
                return any(leg.answered for leg in pending.values())

            await poll(answered, "the external number answered")
            ((tenant_id, call_id), leg) = next(iter(pending.items()))
            assert tenant_id == TENANT
            assert leg.invite.uri.startswith(f"sip:9{EXTERNAL}@")
            call = server.sip.b2bua.calls[(TENANT, call_id)]
            assert call.media is not None
            await _echoed(far_end, call.media.agent_port)
            status, errors = await asyncio.wait_for(caller, 20)
            assert status == 0, errors
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # the external leg got its BYE when the caller left
            record = await _record(server)
            assert record.result == "transferred_external"
            assert record.legs[-1]["external_number"] == EXTERNAL
    finally:
        far_end.close()


async def test_a_busy_external_number_ends_the_call_and_the_caller_gets_a_bye(
    tmp_path: Path,
) -> None:
    busy_center = {**IVR_CENTER, "ivr_trees": [dict(IVR_CENTER["ivr_trees"][0])]}
    node = dict(busy_center["ivr_trees"][0]["nodes"][0])
    node["default"] = {"external": "6660009"}  # the carrier scenario's busy numbers
    busy_center["ivr_trees"][0]["nodes"] = [node]
    carrier_port = free_port()
    async with (
        _carrier(tmp_path, carrier_port, [free_port()]) as carrier,
        _sip_server(tmp_path, busy_center, sip_trunks=_trunk(carrier_port)) as server,
    ):
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            uri, call_id = f"sip:200@127.0.0.1:{server.port}", uuid.uuid4().hex
            sdp = offer_sdp(TRUNK_HOST)
            extra = "Content-Type: application/sdp\r\n"
            trunk.send(raw_request(trunk, "INVITE", uri, call_id=call_id, body=sdp, extra=extra))
            ok = await trunk.expect(200)  # the IVR answers
            assert isinstance(ok, Response)
            to = ok.headers.get("To") or ""
            ack = raw_request(trunk, "ACK", uri, call_id=call_id)
            trunk.send(ack.replace(f"To: <{uri}>".encode(), f"To: {to}".encode()))
            bye = await trunk.expect("BYE", timeout=10)  # the number was busy: we hang up
            assert isinstance(bye, Request)
            trunk.send(reply(bye, 200, tag=""))
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # its 486 was ACKed
            record = await _record(server)
            assert record.result == "transferred_external"
            assert (record.disconnected_by, record.end_reason) == ("system", "external_busy")
        finally:
            trunk.close()


async def test_a_transfer_to_a_number_replaces_the_agent_s_leg(tmp_path: Path) -> None:
    agent_end, far_end = _far_end(), _far_end()
    carrier_port = free_port()
    ports = [agent_end.getsockname()[1], far_end.getsockname()[1]]
    try:
        async with (
            _carrier(tmp_path, carrier_port, ports) as carrier,
            _sip_server(tmp_path, RT2_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        ):
            caller = await _caller(tmp_path, server.port, "100", talk_ms=6000)
            b2bua = server.sip.b2bua

            def connected() -> Any:
                for call in b2bua.calls.values():
                    if call.bridged == "alice":
                        return call
                return None

            await poll(lambda: connected() is not None, "alice's number answered and bridged")
            call = connected()
            await _echoed(agent_end, call.media.agent_port)
            async with await _client(server) as client:
                moved = await client.post(
                    f"/v1/calls/{call.call_id}/transfer", json={"to_number": EXTERNAL}
                )
                assert moved.status_code == 202, moved.text
            pending = server.sip.outbound.pending.external
            await poll(lambda: any(leg.answered for leg in pending.values()), "the number")
            assert call.agents["alice"].ended  # the agent's leg got its BYE
            await _echoed(far_end, call.media.agent_port)  # the caller now talks to the number
            status, errors = await asyncio.wait_for(caller, 20)
            assert status == 0, errors
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # both carrier calls got their BYE
            record = await _record(server)
            assert record.result == "transferred_external"
            assert record.legs[0]["agent_id"] == "alice"
            assert record.legs[-1]["external_number"] == EXTERNAL
    finally:
        agent_end.close()
        far_end.close()
