"""Voicemail for a trunk's caller (issue 6 for SIP), end to end on the real app with SIP on.

A Python trunk caller (sipnet_rtp) dials a number whose IVR sends key 9 to a mailbox, presses
9 (RFC 4733), hears the mailbox's prompt and then the beep (1 kHz in its own RTP), and only
then speaks: a 600 Hz tone, and hangs up (BYE). The call's record gets `voicemail_url`, and
that URL serves a mono 16 kHz WAV about as long as the tone whose energy is the caller's
600 Hz, not the beep; a subscribed webhook receives `call.media_ready` (kind `voicemail`, the
same URL and length). A caller who never hangs up is cut by the system at `voicemail_max_s`
(a BYE from us, `end_reason` `voicemail_max_length`) with the message kept.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from sipnet_rtp import FRAME, MEDIA_CENTER, RATE, RtpCaller, tone
from sipnet_support import TENANT, SipServer, poll, reply, sip_server

from helpline.core.states import CallState
from helpline.media.rfc4733 import DigitSender, digit_packets
from helpline.media.rtp import RtpSender
from voicemail_support import (
    BEEP_HZ,
    VOICE_HZ,
    assert_the_spoken_tone,
    fetch_message,
    share_at,
    with_mailbox,
)
from webhooks.webhook_helpers import Receiver  # tests/webhooks: a plain module there

MAILBOX_LINE = "500"
MAX_S = 3.0  # the server's voicemail_max_s here
SPOKEN_S = 1.2  # how long the first caller speaks after the beep

VOICEMAIL_CENTER = with_mailbox(MEDIA_CENTER, MAILBOX_LINE)


def beep_heard(samples: npt.NDArray[np.int16]) -> bool:
    """At least 100 ms of loud 1 kHz (20 ms frames in a row), then something else: the
    beep has played out."""
    run = 0
    for start in range(0, len(samples) - FRAME + 1, FRAME):
        frame = samples[start : start + FRAME]
        loud = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > 300
        if loud and share_at(frame, RATE, BEEP_HZ, 100) > 0.6:
            run += 1
        elif run >= 5:
            return True
        else:
            run = 0
    return False


def press(caller: RtpCaller, digit: str) -> None:
    """The caller's key as RFC 4733 events (payload type 101, as its SDP offered)."""
    assert caller.rtp.transport is not None and caller.remote is not None
    stream = RtpSender.random(random.Random(3), payload_type=0)
    sender = DigitSender(stream, payload_type=101, interval=FRAME)
    for _, packet in digit_packets(sender, digit, 800):
        caller.rtp.transport.sendto(packet.serialize(), caller.remote)


async def client(server: SipServer) -> httpx.AsyncClient:
    key = await server.store.tenants.create_api_key(TENANT, "tests")
    token = base64.b64encode(f"{key.key_id}:{key.secret}".encode()).decode()
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app),
        base_url="http://test",
        headers={"authorization": f"Basic {token}"},
    )


async def reach_the_mailbox(server: SipServer, caller: RtpCaller) -> tuple[str, float]:
    """Call the mailbox line and press 9 in its IVR; the call's id, once it is at the
    mailbox, and when the key was pressed."""
    await caller.call()
    [call] = server.sip.b2bua.calls.values()
    runtime = server.app.state.helpline.hub.runtime(TENANT)

    def in_state(state: CallState) -> bool:
        found = runtime.engine.calls.get(call.call_id)
        return found is not None and found.state is state

    await poll(lambda: in_state(CallState.IVR), "the call in the IVR")
    since = time.monotonic()
    press(caller, "9")
    await poll(lambda: in_state(CallState.VOICEMAIL), "the call at the mailbox")
    return call.call_id, since


async def reach_the_beep(server: SipServer, caller: RtpCaller) -> str:
    """Reach the mailbox and wait until the beep has played out; the call's id."""
    call_id, since = await reach_the_mailbox(server, caller)
    await poll(lambda: beep_heard(caller.audio(since)), "the beep", timeout=20)
    return call_id


async def the_message(
    http: httpx.AsyncClient, call_id: str
) -> tuple[dict[str, Any], npt.NDArray[np.int16], int]:
    """The call's record once it points at the message, and the message's samples and rate."""
    record: dict[str, Any] = {}

    async def with_url() -> bool:
        nonlocal record
        response = await http.get(f"/v1/call-records/{call_id}")
        record = response.json() if response.status_code == 200 else {}
        return bool(record.get("voicemail_url"))

    await poll(with_url, "the record's voicemail_url", timeout=20)
    samples, rate = await fetch_message(http, record, call_id)
    return record, samples, rate


async def test_a_trunk_caller_leaves_a_message_after_the_beep(tmp_path: Path) -> None:
    settings = {"media_dir": str(tmp_path / "media"), "voicemail_max_s": MAX_S}
    receiver = Receiver()
    await receiver.start()
    async with (
        sip_server(tmp_path, VOICEMAIL_CENTER, **settings) as server,
        await client(server) as http,
    ):
        hook = {"url": receiver.url(), "event_types": ["call.media_ready"]}
        subscribed = await http.post("/v1/webhooks", json=hook)
        assert subscribed.status_code == 201, subscribed.text
        live = server.app.state.helpline.bus.subscribe(TENANT)  # what /v1/events sends
        caller = await RtpCaller.open(server.port, MAILBOX_LINE)
        try:
            call_id = await reach_the_beep(server, caller)
            caller.send_audio(tone(VOICE_HZ, SPOKEN_S), loop=False)
            await asyncio.sleep(SPOKEN_S + 0.2)  # the tone is sent in real time
            await caller.hang_up()
        finally:
            caller.close()
        record, samples, rate = await the_message(http, call_id)
        await receiver.wait_for(1, timeout=15)  # the webhook: the message can be fetched
        heard = [live.queue.get_nowait() for _ in range(live.queue.qsize())]
        live.close()
    await receiver.close()
    [delivery] = receiver.on("/hook")
    event = json.loads(delivery.body)
    assert event["type"] == "call.media_ready"
    ready = event["data"]
    assert (ready["call_id"], ready["kind"]) == (call_id, "voicemail")
    assert ready["url"] == record["voicemail_url"]
    assert abs(ready["duration_s"] - len(samples) / rate) < 0.05
    [told] = [m for m in heard if m["type"] == "call.media_ready"]
    assert told["data"] == ready  # the same, live
    assert (record["result"], record["disconnected_by"]) == ("voicemail", "customer")
    assert rate == 16000
    assert_the_spoken_tone(samples, rate, SPOKEN_S, MAX_S)  # what the caller sent


async def test_a_caller_who_hangs_up_during_the_mailbox_greeting_ends_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the hang-up resolves the greeting's playback and drops the call's media while the
    # task that plays it waits: it must end there, not fail on the media that are gone
    settings = {"media_dir": str(tmp_path / "media"), "voicemail_max_s": MAX_S}
    async with sip_server(tmp_path, VOICEMAIL_CENTER, **settings) as server:
        caller = await RtpCaller.open(server.port, MAILBOX_LINE)
        try:
            call_id, _ = await reach_the_mailbox(server, caller)
            await caller.hang_up()
        finally:
            caller.close()
        async with await client(server) as http:

            async def recorded() -> bool:
                return (await http.get(f"/v1/call-records/{call_id}")).status_code == 200

            await poll(recorded, "the call's record")
            await asyncio.sleep(0.3)  # the greeting's task wakes up after the hang-up
            record = (await http.get(f"/v1/call-records/{call_id}")).json()
    assert record["disconnected_by"] == "customer"
    assert record["voicemail_url"] is None  # nothing was recorded before the beep
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [], [r.getMessage() for r in failures]


async def test_a_trunk_caller_who_never_hangs_up_is_cut_at_the_maximum_length(
    tmp_path: Path,
) -> None:
    settings = {"media_dir": str(tmp_path / "media"), "voicemail_max_s": MAX_S}
    async with sip_server(tmp_path, VOICEMAIL_CENTER, **settings) as server:
        caller = await RtpCaller.open(server.port, MAILBOX_LINE)
        try:
            call_id = await reach_the_beep(server, caller)
            caller.send_audio(tone(VOICE_HZ, 1.0))  # again and again: it keeps talking
            bye = await caller.expect_bye(timeout=MAX_S + 15)
            caller.sip.send(reply(bye, 200))
        finally:
            caller.close()
        async with await client(server) as http:
            record, samples, rate = await the_message(http, call_id)
    assert record["result"] == "voicemail"
    assert (record["disconnected_by"], record["end_reason"]) == ("system", "voicemail_max_length")
    assert MAX_S * 0.85 <= len(samples) / rate <= MAX_S
    assert share_at(samples, rate, VOICE_HZ) > 0.8
