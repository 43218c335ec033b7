"""The SIP <-> browser media bridge when things go wrong (issues 6 and 7), end to end.

Browser callers are aiortc peers on the real signalling (as in test_sipnet_browser_bridge);
the number they are sent to is dialled through the tenant's trunk to sipp, whose scenarios
refuse, answer without SDP, or re-INVITE mid-call; the far end's phone is a Python RTP
socket. The bridge's own buffers (`telephony.bridge.playout`) are driven through a real
`RtpEndpoint` on real UDP sockets.

- A dial that cannot start (a trunk's name the loop will not resolve) or that the carrier
  refuses ends the call with a record (`external_failed`), no task dying unseen.
- A 200 without SDP gets our ACK and BYE and ends the call `external_failed`.
- The far end's re-INVITE moving its media (new port, PCMU to PCMA) is followed: tones
  cross both ways after it, in the new codec, from the new port only.
- Comfort noise alone keeps a call up; nothing at all ends it (`media_timeout`); the far
  end's hold (a=sendonly) does not time it out.
- Reordered and duplicated packets play as the tone, in order, without a gap; agent audio
  reaches the endpoint in whole packets; a parted line leaves none of its voice queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import uvloop
from sipnet_rtp import RtpSocket, dominant, tone
from sipnet_support import TENANT, TRUNK_HOST, free_port, poll, sip_server, sipp_carrier
from test_sipnet_browser_bridge import (
    AGENT_HZ,
    CALLER_HZ,
    EXTERNAL_CENTER,
    WIDE,
    Browser,
    _hears,
    _loud,
)
from test_sipnet_outbound_calls import _carrier, _record, _sipp_done, _trunk

from helpline.media.g711 import Pcm, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from helpline.media.rtp import RtpPacket
from helpline.sip.sdp import AudioSession
from helpline.telephony.bridge import LineLink, Transcoder
from helpline.telephony.rtp.endpoint import RtpEndpoint
from helpline.telephony.webrtc import WebRtcTelephony, caller_session
from page_support import Page

MOVED_HZ = 900.0  # the far end's tone once its media moved
NARROW = 8000
CODECS: dict[int, tuple[Callable[[Pcm], bytes], Callable[[bytes], Pcm]]] = {
    0: (ulaw_encode, ulaw_decode),
    8: (alaw_encode, alaw_decode),
}


def _plain_trunk(carrier_port: int, proxy_host: str = TRUNK_HOST) -> list[dict[str, Any]]:
    return [
        {
            "name": "carrier",
            "tenant_id": TENANT,
            "addresses": [TRUNK_HOST],
            "proxy": f"{proxy_host}:{carrier_port}",
            "prefix": "9",
        }
    ]


@contextlib.asynccontextmanager
async def _sipp(tmp_path: Path, scenario: str, port: int, line: str) -> AsyncIterator[Any]:
    """sipp as a carrier without a challenge, for one call; `line` its injection fields."""
    async with sipp_carrier(tmp_path, scenario, port, [line]) as sipp:
        yield sipp


class Phone(RtpSocket):
    """The number's phone behind the carrier: a tone (or only comfort noise) in the codec
    of `payload_type`, back to where our RTP comes from (symmetric RTP)."""

    def __init__(self, payload_type: int = 0) -> None:
        super().__init__()
        self.payload_type = payload_type
        self.sender: asyncio.Task[None] | None = None

    def audio(self, since: float = 0.0) -> npt.NDArray[np.int16]:
        decode = CODECS[self.payload_type][1]
        chunks = [
            decode(r.packet.payload)
            for r in self.packets
            if r.packet.payload_type == self.payload_type and r.at >= since
        ]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def talk(self, samples: npt.NDArray[np.int16] | None, every: float = 0.02) -> None:
        """A tone, or with None comfort noise only (RFC 3389: payload type 13, one byte of
        noise level), every `every` seconds."""
        self.stop()
        self.sender = asyncio.ensure_future(self._talk(samples, every))

    def stop(self) -> None:
        if self.sender is not None:
            self.sender.cancel()
            self.sender = None

    async def _talk(self, samples: npt.NDArray[np.int16] | None, every: float) -> None:
        await poll(lambda: bool(self.sources), "our RTP at the far end", timeout=15)
        assert self.transport is not None
        target = next(iter(self.sources))
        encode = CODECS[self.payload_type][0]
        start, n = time.monotonic(), 0
        while True:
            if samples is None:
                payload_type, payload = 13, bytes([60])  # -60 dBov
            else:
                payload_type = self.payload_type
                payload = encode(samples[(n * 160) % len(samples) :][:160])
            packet = RtpPacket(
                payload_type=payload_type,
                sequence=n % 65536,
                timestamp=n * 160,
                ssrc=0x5150 + self.payload_type,
                payload=payload,
            )
            self.transport.sendto(packet.serialize(), target)
            n += 1
            await asyncio.sleep(max(0.0, start + n * every - time.monotonic()))

    def close(self) -> None:
        self.stop()
        if self.transport is not None:
            self.transport.close()


async def _phone(payload_type: int = 0) -> Phone:
    loop = asyncio.get_running_loop()
    _, phone = await loop.create_datagram_endpoint(
        lambda: Phone(payload_type), local_addr=(TRUNK_HOST, 0)
    )
    return phone


class Dialled:
    """A browser caller on the /call page, dialling 400 (whose IVR sends it to a number)."""

    def __init__(self, web: WebRtcTelephony) -> None:
        self.page = Page()
        self.browser = Browser(AGENT_HZ)
        self.session = asyncio.create_task(
            caller_session(
                web, TENANT, self.page, self.page.messages(), lambda: {"400"}, allow_private=True
            )
        )

    async def dial(self) -> None:
        await self.browser.connect(self.page, {"type": "dial", "to": "400", "dtmf": "message"})

    async def close(self) -> None:
        await self.page.outbox.put(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.session, 10)
        await self.browser.close()


def _unretrieved(contexts: list[dict[str, Any]]) -> list[str]:
    gc.collect()  # a task that died unseen reports when it is collected
    return [str(c.get("exception")) for c in contexts if "never retrieved" in c["message"]]


def _watch(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    return contexts


# -- a dial that fails ---------------------------------------------------------------------------


async def test_a_trunk_that_refuses_ends_the_browser_call_with_a_record(tmp_path: Path) -> None:
    contexts = _watch(asyncio.get_running_loop())
    carrier_port = free_port()
    async with (
        _sipp(tmp_path, "carrier_refuses.xml", carrier_port, "0;") as carrier,
        sip_server(tmp_path, EXTERNAL_CENTER, sip_trunks=_plain_trunk(carrier_port)) as server,
    ):
        caller = Dialled(server.app.state.webrtc)
        try:
            await caller.dial()
            record = await _record(server)
            assert (record.disconnected_by, record.end_reason) == ("system", "external_failed")
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # the 403 got our ACK
            await poll(lambda: not server.sip.browser.joined, "the join to be gone")
        finally:
            await caller.close()
    assert _unretrieved(contexts) == []


async def _unresolvable_trunk(tmp_path: Path) -> tuple[str | None, str | None, list[str]]:
    contexts = _watch(asyncio.get_running_loop())
    trunk = _plain_trunk(5060, proxy_host="carrier.invalid")
    async with sip_server(tmp_path, EXTERNAL_CENTER, sip_trunks=trunk) as server:
        caller = Dialled(server.app.state.webrtc)
        try:
            await caller.dial()
            record = await _record(server)
            await poll(lambda: not server.sip.browser.joined, "the join to be gone")
        finally:
            await caller.close()
    return record.disconnected_by, record.end_reason, _unretrieved(contexts)


def test_a_trunk_the_loop_cannot_reach_ends_the_browser_call_with_a_record(
    tmp_path: Path,
) -> None:
    """uvloop (what `helpline serve` runs on when installed) raises at once for a datagram
    to a name it would have to look up: the dial itself fails, before any SIP outcome."""
    by, reason, unseen = uvloop.run(_unresolvable_trunk(tmp_path))
    assert (by, reason) == ("system", "external_failed")
    assert unseen == []


async def test_a_200_without_sdp_gets_our_bye_and_ends_the_call(tmp_path: Path) -> None:
    carrier_port = free_port()
    async with (
        _sipp(tmp_path, "carrier_no_sdp.xml", carrier_port, "0;") as carrier,
        sip_server(tmp_path, EXTERNAL_CENTER, sip_trunks=_plain_trunk(carrier_port)) as server,
    ):
        caller = Dialled(server.app.state.webrtc)
        try:
            await caller.dial()
            status, errors = await _sipp_done(carrier, tmp_path)
            assert status == 0, errors  # its 200 got our ACK, then our BYE
            record = await _record(server)
            assert (record.disconnected_by, record.end_reason) == ("system", "external_failed")
        finally:
            await caller.close()


# -- re-INVITEs ---------------------------------------------------------------------------------


async def test_the_far_end_moving_its_media_and_codec_is_followed(tmp_path: Path) -> None:
    first, moved = await _phone(0), await _phone(8)
    carrier_port = free_port()
    fields = f"{first.port};{moved.port};8;PCMA;1500;sendrecv;"
    try:
        async with (
            _sipp(tmp_path, "carrier_reinvite.xml", carrier_port, fields) as carrier,
            sip_server(tmp_path, EXTERNAL_CENTER, sip_trunks=_plain_trunk(carrier_port)) as server,
        ):
            caller = Dialled(server.app.state.webrtc)
            try:
                await caller.dial()
                first.talk(tone(CALLER_HZ, 1.0))

                def moved_on() -> bool:
                    joined = list(server.sip.browser.joined.values())
                    endpoint = joined[0].endpoint if joined else None
                    return endpoint is not None and endpoint.session.codec == "PCMA"

                await poll(moved_on, "the re-INVITE applied", timeout=20)
                # the old port keeps sending (packets in flight, a stale stream): ignored
                moved.talk(tone(MOVED_HZ, 1.0))
                await _hears(moved.audio, AGENT_HZ, NARROW, "the browser at the new port, PCMA")
                await _hears(caller.browser.audio, MOVED_HZ, WIDE, "the new port at the browser")
                await caller.page.outbox.put({"type": "hangup"})
                status, errors = await _sipp_done(carrier, tmp_path)
                assert status == 0, errors  # our 200 answered its re-INVITE; then our BYE
            finally:
                await caller.close()
    finally:
        first.close()
        moved.close()


async def test_the_far_end_s_hold_does_not_time_the_call_out(tmp_path: Path) -> None:
    phone = await _phone(0)
    carrier_port = free_port()
    fields = f"{phone.port};{phone.port};0;PCMU;300;sendonly;"
    timeout = 1.0
    try:
        async with (
            _sipp(tmp_path, "carrier_reinvite.xml", carrier_port, fields) as carrier,
            sip_server(
                tmp_path,
                EXTERNAL_CENTER,
                sip_trunks=_plain_trunk(carrier_port),
                sip_media_timeout_s=timeout,
            ) as server,
        ):
            caller = Dialled(server.app.state.webrtc)
            try:
                await caller.dial()
                phone.talk(tone(CALLER_HZ, 1.0))

                def held() -> bool:
                    joined = list(server.sip.browser.joined.values())
                    endpoint = joined[0].endpoint if joined else None
                    return endpoint is not None and endpoint.session.direction == "recvonly"

                await poll(held, "the far end's hold applied", timeout=20)
                phone.stop()  # held: it sends nothing
                await asyncio.sleep(4 * timeout)  # four media timeouts with no RTP at all
                assert server.sip.browser.joined, "the held call was ended"
                assert await server.store.records.count_records(TENANT) == 0
                await caller.page.outbox.put({"type": "hangup"})
                status, errors = await _sipp_done(carrier, tmp_path)
                assert status == 0, errors
            finally:
                await caller.close()
    finally:
        phone.close()


# -- the media timeout -------------------------------------------------------------------------


async def test_comfort_noise_keeps_a_call_up_and_nothing_ends_it(tmp_path: Path) -> None:
    phone = await _phone(0)
    carrier_port = free_port()
    timeout = 1.0
    try:
        async with (
            _carrier(tmp_path, carrier_port, [phone.port]) as carrier,
            sip_server(
                tmp_path,
                EXTERNAL_CENTER,
                sip_trunks=_trunk(carrier_port),
                sip_media_timeout_s=timeout,
            ) as server,
        ):
            caller = Dialled(server.app.state.webrtc)
            try:
                await caller.dial()
                phone.talk(None, every=0.2)  # silence suppression: comfort noise only
                await poll(lambda: bool(server.sip.browser.joined), "the number joined")
                await asyncio.sleep(4 * timeout)
                assert server.sip.browser.joined, "a call with comfort noise was ended"
                assert await server.store.records.count_records(TENANT) == 0
                phone.stop()  # gone without a BYE
                record = await _record(server)
                assert (record.disconnected_by, record.end_reason) == ("system", "media_timeout")
                status, errors = await _sipp_done(carrier, tmp_path)
                assert status == 0, errors  # the number's leg got our BYE
            finally:
                await caller.close()
    finally:
        phone.close()


# -- the bridge's buffers ----------------------------------------------------------------------


async def _endpoint(peer: RtpSocket, *, run: bool) -> RtpEndpoint:
    assert peer.transport is not None
    host, port = peer.transport.get_extra_info("sockname")[:2]
    session = AudioSession(host, port, "PCMU", 0, None, 20, "sendrecv")
    loop = asyncio.get_running_loop()
    endpoint = RtpEndpoint(session, rng=random.Random(5))
    await loop.create_datagram_endpoint(lambda: endpoint, local_addr=("127.0.0.1", 0))
    if run:
        endpoint.start()
    return endpoint


async def _peer() -> RtpSocket:
    _, peer = await asyncio.get_running_loop().create_datagram_endpoint(
        RtpSocket, local_addr=("127.0.0.1", 0)
    )
    return peer


async def test_reordered_and_duplicated_packets_play_in_order_without_a_gap() -> None:
    peer = await _peer()
    endpoint = await _endpoint(peer, run=False)
    link = LineLink(endpoint)
    frames = [tone(CALLER_HZ, 0.02 * 40)[i * 160 : (i + 1) * 160] for i in range(40)]
    first = 65530  # the sequence numbers wrap around mid-test
    # A burst of two swapped packets, then a slot with only a duplicate (or a packet whose
    # turn has passed): 40 packets in 40 slots, never in order.
    slots: list[list[int]] = []
    for k in range(0, 40, 2):
        slots += [[k + 1, k], [k + 1] if k % 4 == 0 else [k - 2 if k >= 2 else k + 1]]
    assert peer.transport is not None
    out: list[npt.NDArray[np.int16]] = []
    sent = 0
    for slot in slots:
        for k in slot:
            packet = RtpPacket(
                payload_type=0,
                sequence=(first + k) % 65536,
                timestamp=k * 160,
                ssrc=7,
                payload=ulaw_encode(frames[k]),
            )
            peer.transport.sendto(packet.serialize(), ("127.0.0.1", endpoint.port))
            sent += 1

        def arrived(expected: int = sent) -> bool:
            return endpoint.packets_received == expected

        await poll(arrived, "the slot's packets")
        out.append(link.voice.pull(960))  # the browser leg's track: one 20 ms frame a slot
    codec = Transcoder()
    expected = np.concatenate([codec.widen(ulaw_decode(ulaw_encode(f))) for f in frames])
    heard = np.concatenate(out)
    silent = sum(1 for frame in out if not _loud(frame))
    assert silent == 0  # playing from the first slot (40 ms arrived in it)
    assert np.array_equal(heard, expected[: len(heard)])  # each frame once, in order
    assert link.voice.duplicates + link.voice.late == 20
    endpoint.close()
    assert peer.transport is not None
    peer.transport.close()


async def test_agent_audio_reaches_the_endpoint_in_whole_packets_40_ms_ahead() -> None:
    peer = await _peer()
    endpoint = await _endpoint(peer, run=False)  # no packet clock: nothing is taken away
    link = LineLink(endpoint)
    wide = tone(AGENT_HZ, 0.5, amplitude=8000)
    wide48 = np.repeat(wide, 6)  # any 48 kHz audio will do
    queued: list[int] = []
    for at in range(0, 6 * 700, 700):  # aiortc-like frames of odd sizes (about 14.6 ms)
        link.agent_said(wide48[at : at + 700])
        queued.append(endpoint.live_queued)
    assert all(q % endpoint.frame_size == 0 for q in queued), queued  # whole packets only
    assert queued[:2] == [0, 0] and queued[2] >= 2 * endpoint.frame_size  # 40 ms, then all
    endpoint.close()
    assert peer.transport is not None
    peer.transport.close()


async def test_a_parted_line_leaves_none_of_the_old_agent_s_voice_queued() -> None:
    peer = await _peer()
    endpoint = await _endpoint(peer, run=True)
    link = LineLink(endpoint)
    link.agent_said(np.repeat(tone(AGENT_HZ, 0.2), 6))  # 200 ms the agent just said
    assert endpoint.live_queued > 0
    link.close()  # a transfer: the old agent is gone
    assert endpoint.live_queued == 0
    since = time.monotonic()
    await poll(lambda: sum(r.at >= since for r in peer.packets) >= 10, "ten more packets")
    after = [ulaw_decode(r.packet.payload) for r in peer.packets if r.at >= since]
    assert not any(_loud(samples) for samples in after)  # silence, not the old agent
    endpoint.close()
    assert peer.transport is not None
    peer.transport.close()


def test_the_tone_helpers_agree() -> None:
    """The pitch check the tests above rely on finds the tone sent (a sanity anchor)."""
    assert abs(dominant(tone(MOVED_HZ, 0.5)) - MOVED_HZ) < 0.03 * MOVED_HZ
