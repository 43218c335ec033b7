"""A recorded call whose legs are both outbound (issue 7): a callback from a queue that
records rings the agent's registered SIP phone, then dials the customer through the trunk
(a Python far end at the trunk's proxy address); both legs are terminated in our endpoints,
each hears the other's tone, and the stereo WAV (customer left, agent right, seed 004) is
written and its URL set on the call's record, as for a trunk's recorded call."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
from sipnet_phone import RtpPhone
from sipnet_rtp import dominant, tone
from sipnet_support import CENTER, TENANT, TRUNK_HOST, poll, sip_server

from helpline.core import events as ev

CUSTOMER_HZ, ALICE_HZ = 440.0, 1000.0
SECOND = 8000

RECORDED: dict[str, Any] = {
    **CENTER,
    "queues": [{"id": "support", "groups": ["team"], "recording": "record"}],
}


async def _hears(samples_of: Any, frequency: float, since: float, what: str) -> None:
    def heard() -> bool:
        audio = samples_of(since)
        return len(audio) >= SECOND // 2 and abs(dominant(audio[-SECOND // 2 :]) - frequency) < 30

    await poll(heard, what, timeout=10)


def _channels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 8000
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    return frames[0::2], frames[1::2]


async def test_a_recorded_callback_writes_the_stereo_wav_and_sets_the_url(
    tmp_path: Path,
) -> None:
    customer = await RtpPhone.carrier(TRUNK_HOST)
    trunk = {
        "name": "carrier",
        "tenant_id": TENANT,
        "addresses": [TRUNK_HOST],
        "proxy": f"{TRUNK_HOST}:{customer.sip.address[1]}",
    }
    alice: RtpPhone | None = None
    try:
        async with sip_server(tmp_path, RECORDED, sip_trunks=[trunk]) as server:
            customer.sip.server = ("127.0.0.1", server.port)
            alice = await RtpPhone.register(server.port, "alice")
            await server.settle()
            runtime = server.app.state.helpline.hub.runtime(TENANT)
            await runtime.submit(
                ev.CallbackRequested(call_id="cb-1", queue_id="support", customer_number="5550100")
            )
            await alice.answer()
            invite = await customer.answer()
            assert invite.uri.startswith("sip:5550100@")
            started = time.monotonic()
            alice.send_audio(tone(ALICE_HZ, 1.0))
            customer.send_audio(tone(CUSTOMER_HZ, 1.0))
            await _hears(customer.audio, ALICE_HZ, started, "alice's tone at the customer")
            await _hears(alice.audio, CUSTOMER_HZ, started, "the customer's tone at alice")
            (out,) = server.sip.outbound.calls.values()
            assert out.recording is not None  # terminated here, not relayed
            await asyncio.sleep(1.0)  # a second more of both talking
            await customer.hang_up()
            await alice.expect_bye()

            async def recorded() -> bool:
                page = await server.store.records.list_records(TENANT)
                return len(page.items) == 1 and bool(page.items[0].recording_url)

            await poll(recorded, "the record with its recording URL")
            (record,) = (await server.store.records.list_records(TENANT)).items
            assert record.call_id == "cb-1" and record.agent_id == "alice"
            path = server.sip.media_dir() / "recordings" / TENANT / "cb-1.wav"
            left, right = _channels(path)
            assert len(left) >= SECOND  # at least a second of both talking
            loud = np.flatnonzero(np.abs(left.astype(np.int32)) > 1000)
            assert abs(dominant(left[loud[0] : loud[0] + SECOND // 2]) - CUSTOMER_HZ) < 30
            loud = np.flatnonzero(np.abs(right.astype(np.int32)) > 1000)
            assert abs(dominant(right[loud[0] : loud[0] + SECOND // 2]) - ALICE_HZ) < 30
    finally:
        customer.close()
        if alice is not None:
            alice.close()
