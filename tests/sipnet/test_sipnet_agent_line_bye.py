"""The agent hangs up the CallFire agent line from a real SIP phone (seed 003, "Agent
Perspective": the agent's phone is the line): sipp, as the carrier behind the trunk, answers
the line and sends BYE a while later (scenarios/agent_line_hangs_up.xml). A
getConnectionForAgent waiting on hold is told the line hung up, the agent is logged out, the
agent id is void, and the BYE gets its 200.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sipnet_support import TENANT, free_port, poll, sip_server, sipp_carrier
from test_sipnet_agent_line import BASE, _call
from test_sipnet_outbound_calls import (
    ALICE_PHONE,
    CALLOUT_CENTER,
    PASSWORD,
    USER,
    _client,
    _media_socket,
    _sipp_done,
    _trunk,
)

from helpline.telephony.virtual_lines import LineState

HOLD_MS = 5000  # as the scenario pauses: answered, logged in and on hold well before the BYE


async def test_the_agent_hangs_up_the_line_from_the_phone(tmp_path: Path) -> None:
    carrier_port = free_port()
    agent_media = _media_socket()
    credentials = ("-key", "user", USER, "-key", "password", PASSWORD)
    try:
        async with (
            sipp_carrier(
                tmp_path,
                "agent_line_hangs_up.xml",
                carrier_port,
                [f"{agent_media.getsockname()[1]};"],
                *credentials,
            ) as carrier,
            sip_server(tmp_path, CALLOUT_CENTER, sip_trunks=_trunk(carrier_port)) as server,
            await _client(server) as client,
        ):
            lines = server.sip.agent_lines
            created = await _call(client, "createCampaign", 201, name="s", numbers=["5550002"])
            campaign_id = created["campaignId"]
            called = await _call(
                client, "sendAgentCallBack", campaignId=campaign_id, userId="alice"
            )
            creds: dict[str, Any] = {"campaignId": campaign_id, "agentId": called["agentId"]}

            def line_in(state: LineState) -> bool:
                line = lines.lines.get((TENANT, "alice"))
                return line is not None and line.state is state

            await poll(lambda: line_in(LineState.ANNOUNCING), "the line answered")
            line = lines.lines[(TENANT, "alice")]
            assert line.leg is not None and line.leg.invite.uri.startswith(f"sip:9{ALICE_PHONE}@")
            await _call(client, "loginAgent", 204, **creds)
            await poll(lambda: line_in(LineState.HOLD), "hold music")
            # no campaign running: the connection waits on hold until the agent hangs up
            waiting = asyncio.create_task(
                client.post(f"{BASE}/getConnectionForAgent", json={"timeout": 30, **creds})
            )
            answer = await asyncio.wait_for(waiting, HOLD_MS / 1000 + 15)
            assert answer.status_code == 409 and "line_hung_up" in answer.text, answer.text
            await poll(lambda: (TENANT, "alice") not in lines.lines, "the line gone")
            assert not server.engine_agent("alice").online
            # logged out: the agent id is void
            again = await client.post(f"{BASE}/getConnectionForAgent", json={"timeout": 0, **creds})
            assert again.status_code == 404, again.text
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # the line answered, ACKed, and the BYE got its 200
    finally:
        agent_media.close()
