"""The CallFire agent line over SIP (seed 003, "How Call Center Connect Works from the Agent
Perspective"), with sipp as the carrier behind the trunk (scenarios/outbound_carrier.xml)
answering both the agent's phone and the customer's, their SDP pointing at this test's own
sockets.

sendAgentCallBack calls the agent's number through the trunk; the agent's phone hears RTP
(its agent id) from the line's socket; once a customer is connected our relay joins the
agent's phone and the customer on that same line; lastcall ends the customer's leg and then
the line (sipp sees both BYEs), and the record is the engine's callout.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
from sipnet_support import TENANT, free_port, poll, sip_server
from test_sipnet_outbound_calls import (
    ALICE_PHONE,
    CALLOUT_CENTER,
    _carrier,
    _client,
    _media_socket,
    _record,
    _rtp,
    _sipp_done,
    _trunk,
)

from helpline.core import commands as cmd
from helpline.core.model import RoutingType
from helpline.telephony.virtual_lines import LineState

BASE = "/compat/callfire"
CUSTOMER = "5550002"


async def _call(client: httpx.AsyncClient, method: str, status: int = 200, **params: Any) -> Any:
    response = await client.post(f"{BASE}/{method}", json=params)
    assert response.status_code == status, response.text
    return response.json() if status in (200, 201) else None


async def _heard_from(sock: socket.socket, port: int, ending: bytes | None = None) -> bytes:
    """The next RTP packet from our socket `port` (its payload ending so, when given)."""
    while True:
        data, source = await asyncio.to_thread(sock.recvfrom, 2048)
        if source[1] == port and (ending is None or data.endswith(ending)):
            return data


async def test_one_line_carries_the_agent_to_its_customer(tmp_path: Any) -> None:
    carrier_port = free_port()
    agent_media, customer_media = _media_socket(), _media_socket()
    ports = [s.getsockname()[1] for s in (agent_media, customer_media)]
    try:
        async with (
            _carrier(tmp_path, carrier_port, ports) as carrier,
            sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        ):
            lines = server.sip.agent_lines
            async with await _client(server) as client:
                created = await _call(client, "createCampaign", 201, name="s", numbers=[CUSTOMER])
                campaign_id = created["campaignId"]
                # alice is reached on her phone number: the line goes out through the trunk
                called = await _call(
                    client, "sendAgentCallBack", campaignId=campaign_id, userId="alice"
                )
                creds = {"campaignId": campaign_id, "agentId": called["agentId"]}

                def line_in(state: LineState) -> bool:
                    line = lines.lines.get((TENANT, "alice"))
                    return line is not None and line.state is state

                await poll(lambda: line_in(LineState.ANNOUNCING), "the line answered")
                line = lines.lines[(TENANT, "alice")]
                assert line.leg is not None
                assert line.leg.invite.uri.startswith(f"sip:9{ALICE_PHONE}@")
                # step 2: the agent's phone hears audio (its agent id) from the line's socket
                await asyncio.wait_for(_heard_from(agent_media, line.media.caller_port), 10)

                await _call(client, "loginAgent", 204, **creds)
                await poll(lambda: line_in(LineState.HOLD), "hold music")
                # the line is no presence, and carries only the dialer's callouts: any other
                # offer (a queue's call, a native callout) is not answered on it
                assert not server.engine_agent("alice").online
                other = cmd.OfferCall(
                    call_id="native-1",
                    agent_id="alice",
                    timeout_s=5,
                    routing_type=RoutingType.APP,
                    phone_number=None,
                    from_number="+15550009999",
                    queue_id=None,
                )
                assert not await lines.execute(TENANT, other)
                assert line.state is LineState.HOLD and line.attached is None
                await _call(client, "startCampaign", 204, campaignId=campaign_id)
                connection = (await _call(client, "getConnectionForAgent", timeout=20, **creds))[
                    "CallType"
                ]
                await poll(lambda: line.media.mode == "relay", "the beep, then the bridge")
                assert line.customer is not None
                assert line.customer.invite.uri.startswith(f"sip:9{CUSTOMER}@")

                # the agent and the customer talk over the line's relay
                port_a, port_b = line.media.caller_port, line.media.agent_port
                for n in range(3):
                    agent_media.sendto(_rtp(n, b"agent"), ("127.0.0.1", port_a))
                    await asyncio.wait_for(_heard_from(customer_media, port_b, b"agent"), 5)
                    customer_media.sendto(_rtp(n, b"customer"), ("127.0.0.1", port_b))
                    await asyncio.wait_for(_heard_from(agent_media, port_a, b"customer"), 5)

                # steps 9-10: Logoff: the customer's leg ends, then the line after goodbye
                await _call(
                    client,
                    "storeAgentResponse",
                    204,
                    callId=connection["id"],
                    lastcall=True,
                    **creds,
                )
                await poll(lambda: (TENANT, "alice") not in lines.lines, "the line closed", 20)
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # both legs answered, ACKed and given their BYE
            record = await _record(server)
            assert (record.call_id, record.direction, record.agent_id) == (
                connection["id"],
                "callout",
                "alice",
            )
            assert record.result == "answered" and record.to_number == CUSTOMER
    finally:
        agent_media.close()
        customer_media.close()


async def test_a_busy_agent_phone_voids_the_agent_id(tmp_path: Any) -> None:
    """The carrier answers the line's INVITE 486: the line fails, nobody can log in with it."""
    carrier_port = free_port()
    async with (
        _carrier(tmp_path, carrier_port, [free_port()]) as carrier,
        sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
        await _client(server) as client,
    ):
        created = await _call(client, "createCampaign", 201, name="s", numbers=[CUSTOMER])
        campaign_id = created["campaignId"]
        called = await _call(
            client,
            "sendAgentCallBack",
            campaignId=campaign_id,
            userId="bob",
            phonenumber="6660001",  # the carrier's busy numbers
        )
        status, errors = await _sipp_done(carrier, tmp_path)
        assert status == 0, errors  # the 486 was ACKed

        async def voided() -> bool:
            response = await client.post(
                f"{BASE}/loginAgent", json={"campaignId": campaign_id, **called}
            )
            return response.status_code == 404 and "sendAgentCallBack" in response.text

        await poll(voided, "the agent id voided")
        assert (TENANT, "bob") not in server.sip.agent_lines.lines
        assert not server.engine_agent("bob").online
