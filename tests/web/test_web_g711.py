"""A caller that is not a browser: an aiortc client offering only G.711 (PCMU) dials the IVR
through /web/phone and presses a key as a DTMF tone in its audio. The server must negotiate
PCMU, take 8 kHz audio in, and find the key in-band; the IVR then routes the call. Also: the
IVR's own speech, fed back into the detector, gives no digit."""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from web_support import HOTLINE, Site, poll
from websockets.asyncio.client import connect

from helpline.media.tones import dtmf_tone
from helpline.telephony.webrtc.audio import RATE
from helpline.telephony.webrtc.prompts import PromptLibrary
from helpline.telephony.webrtc.signalling import inband_detector

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHONE_RATE = 8000
PHONE_FRAME = 160  # 20 ms at 8 kHz


class KeyPresser(MediaStreamTrack):
    """8 kHz audio: silence until `press` queues a digit's tone (then silence again)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.pending = np.zeros(0, dtype=np.int16)
        self.sent = 0
        self.start: float | None = None

    def press(self, digit: str) -> None:
        self.pending = np.concatenate([self.pending, dtmf_tone(digit, 0.12, PHONE_RATE)])

    async def recv(self) -> av.AudioFrame:
        if self.start is None:
            self.start = time.time()
        else:
            wait = self.start + self.sent / PHONE_RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        chunk = np.zeros(PHONE_FRAME, dtype=np.int16)
        take = min(PHONE_FRAME, len(self.pending))
        chunk[:take] = self.pending[:take]
        self.pending = self.pending[take:]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = PHONE_RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, PHONE_RATE)
        self.sent += PHONE_FRAME
        return frame


async def test_a_g711_caller_presses_a_key_in_band(site: Site) -> None:
    keys = KeyPresser()
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver(keys, direction="sendrecv")
    pcmu = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/PCMU"]
    transceiver.setCodecPreferences(pcmu)
    await pc.setLocalDescription(await pc.createOffer())
    url = site.url.replace("http://", "ws://", 1) + f"/web/phone?tenant={site.tenant_id}"
    try:
        async with connect(url) as socket:
            offer = pc.localDescription.sdp
            await socket.send(json.dumps({"type": "dial", "to": HOTLINE, "sdp": offer}))
            answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert answer["type"] == "answer", answer
            assert "PCMU/8000" in answer["sdp"]
            assert "opus" not in answer["sdp"].lower()
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            call_id = answer["call_id"]

            async def in_ivr() -> dict[str, Any] | None:
                live = (await site.admin.get(f"/v1/calls/{call_id}")).json()
                return live if live.get("state") == "ivr" else None

            await poll(in_ivr, what="the G.711 call in the IVR")
            await asyncio.sleep(0.5)  # the media path is up
            keys.press("1")

            async def queued() -> dict[str, Any] | None:
                live = (await site.admin.get(f"/v1/calls/{call_id}")).json()
                return live if live.get("queue_id") == "sales" else None

            live = await poll(queued, what="the in-band key to route the call")
            assert live["keys"] == "1"
            await socket.send(json.dumps({"type": "hangup"}))
        record = await site.record(call_id)
        assert record["keys"] == "1"
    finally:
        await pc.close()


async def test_the_ivr_s_own_speech_gives_no_digit(tmp_path: Any) -> None:
    library = PromptLibrary(tmp_path)
    found: list[str] = []
    feed = inband_detector(found.append)
    sentences = (
        "Press 1 to listen to instructions in English, press 2 to listen in Spanish.",
        "To meet a salesman, press 1. To see technical support, press 2.",
        "Thank you for calling. Your estimated wait is three minutes.",
    )
    for text in sentences:
        speech = await library.speak(text, "en")
        for start in range(0, len(speech), 960):
            feed(speech[start : start + 960])
    assert found == []
    # and the same detector does find a key at 48 kHz, so the silence above means something
    feed(dtmf_tone("7", 0.1, RATE))
    feed(np.zeros(RATE // 5, dtype=np.int16))
    assert found == ["7"]
