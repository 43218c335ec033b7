"""A real browser call end to end (issue 6, point 6): /call dials the IVR, presses a key and
waits in the queue; the agent's softphone, embedded in a CRM page in another browser context,
gets IncomingCall and answers; a tone sent by each side is measured at the right frequency on
the other side; after the hang-up the call record points to a stereo recording with the
caller's tone on the left and the agent's on the right.
"""

from __future__ import annotations

import io
import wave
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import pytest
from playwright.async_api import Browser, Frame, Page
from test_web_softphone import message, open_crm
from web_support import ARTIFACTS, HOTLINE, Site, poll, watch

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLER_HZ = 700.0
AGENT_HZ = 1400.0
TOLERANCE_HZ = 25.0  # the analyser's bins are 48000 / 8192 = 5.9 Hz wide


async def heard(where: Page | Frame, frequency: float, what: str) -> dict[str, Any]:
    async def peak() -> dict[str, Any] | None:
        found = await where.evaluate("window.helplineAudio.peak()")
        if found and abs(found["frequency"] - frequency) < TOLERANCE_HZ and found["level"] > -60:
            return dict(found)
        return None

    return await poll(peak, what=what, timeout=20)


def dominant(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = freqs > 150
    return float(freqs[band][np.argmax(spectrum[band])])


async def test_a_browser_call_through_the_ivr_to_a_browser_agent_with_audio_both_ways(
    browser: Browser, site: Site
) -> None:
    session = await site.login()
    agent_context = await browser.new_context()
    caller_context = await browser.new_context()
    crm = watch(await agent_context.new_page())
    frame = await open_crm(crm, site, session)
    await frame.wait_for_selector("#media.connected", timeout=15000)
    await frame.select_option("#status", "NOT_READY:Break")  # so the caller waits in line
    await frame.wait_for_selector("body[data-status='NOT_READY']")

    caller = watch(await caller_context.new_page())
    number = quote(HOTLINE)
    await caller.goto(
        f"{site.url}/call?tenant={site.tenant_id}&number={number}&from=%2B15559870001"
    )
    await caller.click("#dial")
    await caller.wait_for_selector("body[data-state='in call']")
    call_id = await caller.evaluate("document.body.dataset.callId")
    # the IVR's prompt ("For sales, press 1.") is speech: it reaches the caller's ear
    await poll(lambda: _speech(caller), what="the IVR prompt at the caller", timeout=20)
    await caller.click("#keypad button:text('1')")

    async def waiting() -> dict[str, Any] | None:
        live = (await site.admin.get(f"/v1/calls/{call_id}")).json()
        return live if live.get("state") == "queued" else None

    assert (await poll(waiting, what="the caller waiting in the sales queue"))["keys"] == "1"
    # the greeting, then the hold music: two of its notes, one after the other
    first = await music_note(caller, exclude=None)
    await music_note(caller, exclude=first)
    await frame.select_option("#status", "AVAILABLE")

    incoming = await message(crm, "IncomingCall", activecallkey=call_id)
    # the page claimed +15559870001, but nobody vouches for an anonymous page (review S2)
    assert incoming["phoneNumber"] == "web"
    assert incoming["queue"] == "sales"
    await frame.click("#answer")
    await message(crm, "Answered", activecallkey=call_id)

    await caller.evaluate(f"window.helplineAudio.sendTone({CALLER_HZ})")
    await frame.evaluate(f"window.helplineAudio.sendTone({AGENT_HZ})")
    at_agent = await heard(frame, CALLER_HZ, "the caller's tone at the agent")
    at_caller = await heard(caller, AGENT_HZ, "the agent's tone at the caller")
    print(f"\nagent hears {at_agent}, caller hears {at_caller}")
    # the recording is being written (its WAV sizes not yet): not served until it is kept
    early = await site.admin.get(f"/v1/call-records/{call_id}/recording")
    assert early.status_code == 404 and "(yet)" in early.json()["error"]["message"]
    await caller.screenshot(path=str(ARTIFACTS / "web-caller.png"))
    await crm.screenshot(path=str(ARTIFACTS / "crm-with-softphone.png"))

    await caller.click("#hangup")
    await message(crm, "Hangup", activecallkey=call_id)

    async def with_recording() -> dict[str, Any] | None:
        record = await site.record(call_id)
        return record if record.get("recording_url") else None

    record = await poll(with_recording, what="the recording on the record", timeout=20)
    assert record["recorded"] is True
    assert record["keys"] == "1"
    # absolute, on the server's public URL (the test's server listens on another port)
    path = urlsplit(record["recording_url"]).path
    assert path == f"/v1/call-records/{call_id}/recording"
    response = await site.admin.get(path)
    assert response.status_code == 200
    with wave.open(io.BytesIO(response.content)) as wav:
        assert wav.getnchannels() == 2
        rate = wav.getframerate()
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    tail = frames[-rate:]  # the last second: both tones were playing
    assert abs(dominant(tail[:, 0], rate) - CALLER_HZ) < 10  # left: the caller
    assert abs(dominant(tail[:, 1], rate) - AGENT_HZ) < 10  # right: the agent
    await agent_context.close()
    await caller_context.close()


HOLD_NOTES = (261.63, 329.63, 392.0, 523.25)  # the synthesised arpeggio (prompts.py)


async def music_note(page: Page, exclude: float | None) -> float:
    """A note of the hold music at the caller, other than `exclude`."""

    async def note() -> float | None:
        found = await page.evaluate("window.helplineAudio.peak()")
        if not found or found["level"] < -70:
            return None
        for candidate in HOLD_NOTES:
            if candidate != exclude and abs(found["frequency"] - candidate) < 6:
                return candidate
        return None

    return await poll(note, what="the hold music at the caller", timeout=20)


async def _speech(page: Page) -> bool:
    found = await page.evaluate("window.helplineAudio.peak()")
    return bool(found and found["level"] > -70)


async def test_keys_sent_as_tones_are_detected_in_band(browser: Browser, site: Site) -> None:
    """A page that does not use the keypad channel: its keys travel as DTMF tones in the Opus
    audio and the server's Goertzel detector finds them (the fallback of issue 6, point 1)."""
    context = await browser.new_context()
    caller = watch(await context.new_page())
    number = quote(HOTLINE)
    await caller.goto(f"{site.url}/call?tenant={site.tenant_id}&number={number}&dtmf=inband")
    await caller.click("#dial")
    await caller.wait_for_selector("body[data-state='in call']")
    call_id = await caller.evaluate("document.body.dataset.callId")
    await poll(lambda: _speech(caller), what="the IVR prompt at the caller", timeout=20)
    await caller.click("#keypad button:text('1')")

    async def queued() -> dict[str, Any] | None:
        response = await site.admin.get(f"/v1/calls/{call_id}")
        live = response.json() if response.status_code == 200 else {}
        return live if live.get("queue_id") == "sales" else None

    live = await poll(queued, what="the call in the sales queue after the in-band key")
    assert live["keys"] == "1"
    await caller.click("#hangup")
    record = await site.record(call_id)
    assert record["keys"] == "1"
    await context.close()
