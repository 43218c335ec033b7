"""Media on a trunk caller's leg (issue 7 point 4): the IVR's prompt reaches the caller as
RTP and `PromptEnded` comes only once it has been sent; keys pressed as RFC 4733 events
(sipp playing the pcaps it ships) choose the queue; the queue's greeting and music follow."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import numpy as np
from sipnet_rtp import FRAME, GOODBYE, MEDIA_CENTER, QUICK_PROMPT, RtpCaller, observe
from sipnet_support import (
    SCENARIOS,
    TENANT,
    TRUNK_HOST,
    SipServer,
    poll,
    run_sipp,
    sip_server,
    sipp_agent_phone,
)

from helpline.core import events as ev
from helpline.media.g711 import ulaw_decode, ulaw_encode
from helpline.media.tones import dtmf_tone, resample
from helpline.telephony.webrtc.audio import RATE as LIBRARY_RATE
from helpline.telephony.webrtc.prompts import PromptLibrary

PCAPS = Path("/usr/share/sip-tester")


def _first_sound(samples: np.ndarray) -> int:
    return int(np.flatnonzero(np.abs(samples.astype(np.int32)) > 64)[0])


async def _as_heard(server: SipServer, text: str) -> np.ndarray:
    """What a caller must hear of `text`: the prompt from the WebRTC adapter's library (one
    cache for both), at 8 kHz, through G.711 µ-law."""
    library = PromptLibrary(server.sip.media_dir())
    spoken = resample(await library.speak(text, "en"), LIBRARY_RATE, 8000)
    return ulaw_decode(ulaw_encode(spoken))


async def test_the_prompt_is_heard_and_prompt_ended_waits_for_its_end(tmp_path: Path) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        events = observe(server.sip)
        caller = await RtpCaller.open(server.port, "201")
        try:
            await caller.call()

            def prompt_ended() -> bool:
                return any(isinstance(e, ev.PromptEnded) for _, e in events)

            await poll(prompt_ended, "PromptEnded", timeout=15)
            (ended_at,) = [t for t, e in events if isinstance(e, ev.PromptEnded)]
            expected = await _as_heard(server, QUICK_PROMPT)
            heard = caller.audio()
            start = _first_sound(heard) - _first_sound(expected)
            assert start >= 0
            assert np.array_equal(heard[start : start + len(expected)], expected)
            # PromptEnded came once the prompt's last packet was out, not before
            packets_by_then = sum(1 for r in caller.rtp.packets if r.at <= ended_at + 0.05)
            assert packets_by_then * FRAME >= start + len(expected) - FRAME
            # one stream from us before the bridge: one SSRC, no gap in its sequence numbers
            numbers = [r.packet.sequence for r in caller.rtp.packets]
            assert len({r.packet.ssrc for r in caller.rtp.packets}) == 1
            assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(numbers))

            # the IVR's 2 s timeout then sends the call to sales: its greeting and music
            def queued() -> bool:
                return len(caller.audio(since=ended_at + 2.2)) >= 8000

            await poll(queued, "the queue's audio", timeout=10)
            after = caller.audio(since=ended_at + 2.2)
            assert np.sqrt(np.mean(after.astype(np.float64) ** 2)) > 100  # not silence
            await caller.hang_up()

            async def recorded() -> bool:
                return await server.store.records.count_records(TENANT) == 1

            await poll(recorded, "the call record")
            (record,) = (await server.store.records.list_records(TENANT)).items
            assert record.queue_id == "sales"
            assert record.keys == ""
        finally:
            caller.close()


def _pcap_caller(tmp_path: Path, digit_pcap: str) -> Path:
    text = (SCENARIOS / "caller_rfc4733.xml").read_text()
    path = tmp_path / f"caller-{digit_pcap}.xml"
    path.write_text(text.replace("[pcap]", str(PCAPS / digit_pcap)))
    return path


async def test_rfc4733_keys_from_sipp_s_pcaps_choose_the_queue(tmp_path: Path) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        events = observe(server.sip)
        for number, (pcap, queue) in enumerate(
            (("dtmf_2833_2.pcap", "support"), ("dtmf_2833_1.pcap", "sales")), start=1
        ):
            cwd = tmp_path / f"caller{number}"
            cwd.mkdir()
            status, log = await run_sipp(
                _pcap_caller(tmp_path, pcap),
                server.port,
                "-s", "200", "-m", "1", "-timeout", "20s",
                local_host=TRUNK_HOST, cwd=cwd,
            )  # fmt: skip
            assert status == 0, log

            async def recorded(count: int = number) -> bool:
                return await server.store.records.count_records(TENANT) == count

            await poll(recorded, "the call record")
            page = await server.store.records.list_records(TENANT)
            (record,) = [r for r in page.items if r.queue_id == queue]
            assert record.keys == pcap.split("_")[-1][0]
        digits = [e.digits for _, e in events if isinstance(e, ev.DigitsPressed)]
        assert digits == ["2", "1"]  # each key once: not again from the in-band detector


async def test_a_call_with_no_rtp_is_ended_by_the_media_timeout(tmp_path: Path) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        server.sip.b2bua.media_timeout = 1.0
        events = observe(server.sip)
        silent = await RtpCaller.open(server.port, "100")
        talking = await RtpCaller.open(server.port, "100")
        try:
            await silent.call()
            await talking.call()
            talking.send_audio(np.zeros(FRAME, dtype=np.int16))  # RTP keeps flowing
            await silent.expect_bye(timeout=5)
            (hung_up,) = [e for _, e in events if isinstance(e, ev.CallHungUp)]
            assert hung_up.reason == "media_timeout"
            assert hung_up.party is ev.Party.SYSTEM
            # the caller whose phone still sends RTP stays on, well past the timeout
            try:
                await talking.expect_bye(timeout=2.5)
                raise AssertionError("a call with RTP flowing was ended")
            except TimeoutError:
                pass
            assert len(server.sip.b2bua.calls) == 1
            await talking.hang_up()
        finally:
            silent.close()
            talking.close()


async def test_the_media_timeout_ends_both_legs_of_a_bridged_call(tmp_path: Path) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        server.sip.b2bua.media_timeout = 1.5
        events = observe(server.sip)
        phone = await sipp_agent_phone(server, tmp_path, "alice")
        caller = await RtpCaller.open(server.port, "100")
        try:
            await caller.call()
            await caller.expect_bye(timeout=8)
            status, log = await asyncio.wait_for(phone, 10)
            assert status == 0, log  # the phone answered, then got its BYE
            answered = [e for _, e in events if isinstance(e, ev.OfferAnswered)]
            assert len(answered) == 1  # the bridge was up when the media stopped
            hung_up = [e for _, e in events if isinstance(e, ev.CallHungUp)]
            assert [e.reason for e in hung_up] == ["media_timeout"]
        finally:
            caller.close()


async def test_a_key_pressed_in_band_chooses_the_queue(tmp_path: Path) -> None:
    """A trunk that sends keys as tones in the audio (no RFC 4733): the in-band detector."""
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        events = observe(server.sip)
        caller = await RtpCaller.open(server.port, "200")
        try:
            await caller.call()
            silence = np.zeros(4000, dtype=np.int16)
            caller.send_audio(np.concatenate([silence, dtmf_tone("2", 0.12), silence]), loop=False)

            def pressed() -> bool:
                return any(isinstance(e, ev.DigitsPressed) for _, e in events)

            await poll(pressed, "the key", timeout=5)
            await asyncio.sleep(0.5)
            digits = [e.digits for _, e in events if isinstance(e, ev.DigitsPressed)]
            assert digits == ["2"]
            await caller.hang_up()

            async def recorded() -> bool:
                return await server.store.records.count_records(TENANT) == 1

            await poll(recorded, "the call record")
            (record,) = (await server.store.records.list_records(TENANT)).items
            assert record.queue_id == "support"
            assert record.keys == "2"
        finally:
            caller.close()


async def test_a_hangup_s_goodbye_is_heard_before_the_bye(tmp_path: Path) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        caller = await RtpCaller.open(server.port, "200")
        try:
            await caller.call()
            await asyncio.sleep(0.3)
            pressed = time.monotonic()
            key = np.concatenate([dtmf_tone("9", 0.12), np.zeros(1600, dtype=np.int16)])
            caller.send_audio(key, loop=False)  # key 9: goodbye, then the BYE
            await caller.expect_bye(timeout=10)
            bye_at = time.monotonic()
            expected = await _as_heard(server, GOODBYE)
            heard = caller.audio(since=pressed)
            # a playback starts on a packet's first sample: the goodbye, whole, at one of them
            assert any(
                np.array_equal(heard[at : at + len(expected)], expected)
                for at in range(0, len(heard) - len(expected) + 1, FRAME)
            )
            assert all(r.at <= bye_at for r in caller.rtp.packets)  # the BYE came last
        finally:
            caller.close()
