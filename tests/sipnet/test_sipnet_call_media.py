"""`CallMedia` on real UDP sockets: the caller's port never changes while what is behind it
does: our endpoint (one stream of ours), then the relay (the agent phone's packets arrive
byte for byte, its own SSRC), then our endpoint again on hold (our SSRC, its timestamps
moved on by the time away), then the relay again."""

from __future__ import annotations

import asyncio
import random
import time

from sipnet_rtp import RtpSocket, tone

from helpline.media.g711 import ulaw_encode
from helpline.media.rtp import RtpPacket
from helpline.sip.sdp import AudioSession
from helpline.telephony.sip.media import CallMedia

HOST = "127.0.0.1"


async def _socket() -> tuple[RtpSocket, int]:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(RtpSocket, local_addr=(HOST, 0))
    assert peer.transport is not None
    return peer, int(peer.transport.get_extra_info("sockname")[1])


def _session(port: int) -> AudioSession:
    return AudioSession(HOST, port, "PCMU", 0, 101, 20, "sendrecv")


async def test_the_caller_s_socket_moves_from_our_endpoint_to_the_relay_and_back() -> None:
    caller, caller_port = await _socket()
    agent, agent_port = await _socket()
    digits: list[str] = []
    media = await CallMedia.open(HOST, rng=random.Random(1), on_digit=digits.append)
    try:
        media.caller_session(_session(caller_port))
        await asyncio.sleep(0.2)
        ours = {r.packet.ssrc for r in caller.packets}
        assert len(ours) == 1 and len(caller.packets) >= 5  # our endpoint's paced stream

        # the agent's phone sends to the agent-facing port: nothing reaches the caller yet
        assert agent.transport is not None and caller.transport is not None
        phone = RtpPacket(payload_type=0, sequence=7, timestamp=1000, ssrc=0xABCDEF)
        agent.transport.sendto(phone.serialize(), (HOST, media.agent_port))
        await asyncio.sleep(0.05)
        assert all(r.packet.ssrc != 0xABCDEF for r in caller.packets)

        media.bridge(_session(agent_port), record_to=None)
        assert media.mode == "relay"
        await asyncio.sleep(0.1)
        before = len(caller.packets)
        sent = []
        for n in range(5):
            payload = ulaw_encode(tone(440, 0.02))
            packet = RtpPacket(
                payload_type=0, sequence=100 + n, timestamp=160 * n, ssrc=0xABCDEF, payload=payload
            )
            sent.append(packet)
            agent.transport.sendto(packet.serialize(), (HOST, media.agent_port))
        # and the caller's packets reach the phone, from the same caller port as before
        caller.transport.sendto(sent[0].serialize(), (HOST, media.caller_port))
        await asyncio.sleep(0.1)
        relayed = [r.packet for r in caller.packets[before:]]
        assert relayed == sent  # the phone's own stream, untouched: no endpoint packets
        assert [r.packet for r in agent.packets] == [sent[0]]

        # on hold our endpoint is back on the caller's port: our SSRC, our sequence numbers
        # continued, and timestamps moved on by the time the relay had the port
        last_ours = max(
            (r for r in caller.packets[:before] if r.packet.ssrc in ours),
            key=lambda r: r.at,
        )
        media.caller_alone()
        held = time.monotonic()
        await asyncio.sleep(0.1)
        resumed = [r for r in caller.packets if r.at > held and r.packet.ssrc in ours]
        assert resumed, "our endpoint's stream did not resume"
        first = resumed[0]
        assert first.packet.sequence == (last_ours.packet.sequence + 1) % 65536
        elapsed = int((first.at - last_ours.at) * 8000)
        gap = (first.packet.timestamp - last_ours.packet.timestamp) % 2**32
        assert abs(gap - elapsed) <= 2 * 160  # within two packets of real time
        media.stop_playback()

        # resumed: the relay again
        media.bridge(_session(agent_port), record_to=None)
        await asyncio.sleep(0.05)  # our last packets, sent before the bridge, land first
        again = len(caller.packets)
        agent.transport.sendto(sent[1].serialize(), (HOST, media.agent_port))
        await asyncio.sleep(0.1)
        assert [r.packet for r in caller.packets[again:]] == [sent[1]]
        assert media.received() > 0
        assert digits == []
    finally:
        media.close()
        for peer in (caller, agent):
            if peer.transport is not None:
                peer.transport.close()
    assert media.close() is None  # closing twice is harmless
