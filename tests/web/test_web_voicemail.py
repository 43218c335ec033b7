"""Voicemail on a browser call (issue 6): an aiortc caller dials /web/phone, presses 9 in the
IVR, hears the mailbox's prompt and the beep, and only then speaks: a 600 Hz tone. After it
hangs up, the call's record has `voicemail_url`, and that URL (with the recording's rights)
serves a mono WAV of about the tone's length whose one strong frequency is 600 Hz. A caller
who never hangs up is cut at `voicemail_max_s` by the system, with the message kept."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np
import numpy.typing as npt
import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from web_support import CENTER, Site, poll, serve
from websockets.asyncio.client import ClientConnection, connect

from voicemail_support import (
    BEEP_HZ,
    VOICE_HZ,
    assert_the_spoken_tone,
    fetch_message,
    share_at,
    with_mailbox,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAILBOX_LINE = "+18005550199"
RATE = 48000
FRAME = 960  # 20 ms
MAX_S = 4.0  # the server's voicemail_max_s here
SPOKEN_S = 1.2  # how long the first caller speaks after the beep

VOICEMAIL_CENTER = with_mailbox(CENTER, MAILBOX_LINE)


class Caller(MediaStreamTrack):
    """The caller's microphone: 48 kHz silence, or a 600 Hz tone while `speaking`."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.speaking = False
        self.sent = 0
        self.start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.start is None:
            self.start = time.monotonic()
        else:
            wait = self.start + self.sent / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        chunk = np.zeros(FRAME, dtype=np.int16)
        if self.speaking:
            t = (self.sent + np.arange(FRAME)) / RATE
            chunk = (np.sin(2 * np.pi * VOICE_HZ * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += FRAME
        return frame


async def hear_the_beep_end(track: MediaStreamTrack, beep_over: asyncio.Event) -> None:
    """Read what the caller hears; set `beep_over` once 100 ms of 1 kHz beep have stopped."""
    beep_frames = 0
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if not isinstance(frame, av.AudioFrame):
                continue
            pcm = frame.to_ndarray().reshape(-1)
            if frame.layout.name == "stereo":
                pcm = pcm.reshape(-1, 2).mean(axis=1)
            loud = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > 300
            if loud and share_at(pcm, frame.sample_rate, BEEP_HZ, 60) > 0.6:
                beep_frames += 1
            elif beep_frames >= 5:
                beep_over.set()
                return


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    folder = tmp_path_factory.mktemp("voicemail")
    async with serve(folder, media_dir=str(folder / "media"), voicemail_max_s=MAX_S) as running:
        response = await running.admin.put("/v1/config", json=VOICEMAIL_CENTER)
        assert response.status_code == 200, response.text
        yield running


async def reach_voicemail(
    site: Site, socket: ClientConnection, pc: RTCPeerConnection, beep_over: asyncio.Event
) -> str:
    """Dial the mailbox line, press 9, wait until the beep has played; the call's id."""
    pc.on("track", lambda track: asyncio.ensure_future(hear_the_beep_end(track, beep_over)))
    await pc.setLocalDescription(await pc.createOffer())
    dial = {"type": "dial", "to": MAILBOX_LINE, "sdp": pc.localDescription.sdp, "dtmf": "message"}
    await socket.send(json.dumps(dial))
    answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert answer["type"] == "answer", answer
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    call_id: str = answer["call_id"]

    async def in_state(state: str) -> bool:
        live = (await site.admin.get(f"/v1/calls/{call_id}")).json()
        return bool(live.get("state") == state)

    await poll(lambda: in_state("ivr"), what="the call in the IVR")
    await socket.send(json.dumps({"type": "dtmf", "digits": "9"}))
    await poll(lambda: in_state("voicemail"), what="the call at the mailbox")
    await asyncio.wait_for(beep_over.wait(), 20)
    return call_id


async def the_message(
    site: Site, call_id: str
) -> tuple[dict[str, Any], npt.NDArray[np.int16], int]:
    """The call's record once it points at the message, and the message's samples and rate."""

    async def with_url() -> dict[str, Any] | None:
        record = await site.record(call_id)
        return record if record.get("voicemail_url") else None

    record = await poll(with_url, what="the record's voicemail_url")
    samples, rate = await fetch_message(site.admin, record, call_id)
    return record, samples, rate


@contextlib.asynccontextmanager
async def speaking_after_the_beep(site: Site) -> AsyncIterator[tuple[ClientConnection, str]]:
    """A browser caller at the mailbox who speaks once the beep has played: its socket and
    the call's id."""
    voice = Caller()
    pc = RTCPeerConnection()
    pc.addTransceiver(voice, direction="sendrecv")
    beep_over = asyncio.Event()
    url = site.url.replace("http://", "ws://", 1) + f"/web/phone?tenant={site.tenant_id}"
    try:
        async with connect(url) as socket:
            call_id = await reach_voicemail(site, socket, pc, beep_over)
            voice.speaking = True
            yield socket, call_id
    finally:
        await pc.close()


async def test_a_browser_caller_leaves_a_message_after_the_beep(site: Site) -> None:
    async with speaking_after_the_beep(site) as (socket, call_id):
        await asyncio.sleep(SPOKEN_S)
        # the file is being written (its WAV header not yet whole): it is not served yet
        early = await site.admin.get(f"/v1/call-records/{call_id}/voicemail")
        assert early.status_code == 404, early.text
        assert "(yet)" in early.json()["error"]["message"] and call_id in early.text
        await socket.send(json.dumps({"type": "hangup"}))

    record, samples, rate = await the_message(site, call_id)
    assert (record["result"], record["disconnected_by"]) == ("voicemail", "customer")
    assert_the_spoken_tone(samples, rate, SPOKEN_S, MAX_S)

    # the recording's rights: no credentials, 401; an agent who had no part in the call, 404
    path = urlsplit(record["voicemail_url"]).path
    anonymous = await site.admin.get(path, auth=None, headers={"authorization": ""})
    assert anonymous.status_code == 401, anonymous.text
    session = await site.login()
    as_agent = await site.admin.get(path, auth=None, headers={"authorization": f"Bearer {session}"})
    assert as_agent.status_code == 404, as_agent.text
    unknown = await site.admin.get("/v1/call-records/no-such-call/voicemail")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["details"]["field"] == "call_id"


async def test_a_caller_who_never_hangs_up_is_cut_at_the_maximum_length(site: Site) -> None:
    async with speaking_after_the_beep(site) as (socket, call_id):
        while True:  # keeps talking: the server ends the call
            message = json.loads(await asyncio.wait_for(socket.recv(), MAX_S + 15))
            if message.get("type") == "ended":
                break

    record, samples, rate = await the_message(site, call_id)
    assert record["result"] == "voicemail"
    assert (record["disconnected_by"], record["end_reason"]) == ("system", "voicemail_max_length")
    assert MAX_S * 0.85 <= len(samples) / rate <= MAX_S
    assert share_at(samples, rate, VOICE_HZ) > 0.8
