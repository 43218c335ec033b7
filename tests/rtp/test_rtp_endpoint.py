"""RTP endpoints over real loopback sockets: prompts heard at the far end, RFC 4733 digits
from sipp's captures, in-band DTMF over PCMU, recording, and the relay in the middle."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import uvloop

from helpline.media.g711 import Pcm
from helpline.media.rtp import parse_rtp
from helpline.media.tones import dtmf_tone, silence, tone
from helpline.media.wav import StereoWavRecorder
from helpline.sip.sdp import AudioSession
from helpline.telephony.rtp import PromptCache, RtpEndpoint, RtpRelay

HOST = "127.0.0.1"
PCAPS = Path("/usr/share/sip-tester")
NAMES = {"star": "*", "pound": "#", **{str(d): str(d) for d in range(10)}}


def pcap_udp_payloads(path: Path) -> list[bytes]:
    """The UDP payloads of a little-endian Ethernet/IPv4 pcap (sipp ships such captures)."""
    data = path.read_bytes()
    magic, *_, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, linktype) == (0xA1B2C3D4, 1)
    out, offset = [], 24
    while offset + 16 <= len(data):
        length = struct.unpack_from("<IIII", data, offset)[2]
        frame = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        assert frame[12:14] == b"\x08\x00" and frame[23] == 17  # IPv4, UDP
        out.append(frame[14 + (frame[14] & 0x0F) * 4 + 8 :])
    return out


def dominant_hz(samples: Pcm) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 8000)[spectrum.argmax()])


def burst(samples: Pcm, threshold: int = 2000) -> Pcm:
    """The stretch from the first to the last sample louder than `threshold`."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples[:0]


def session_to(port: int, codec: str = "PCMU", events: int | None = 101) -> AudioSession:
    return AudioSession(HOST, port, codec, 0 if codec == "PCMU" else 8, events, 20, "sendrecv")


Digits = list[tuple[str, str]]


async def pair(
    codec: str = "PCMU", events: int | None = 101
) -> tuple[RtpEndpoint, RtpEndpoint, Digits, list[Pcm]]:
    """Two endpoints talking to each other; B collects digits and audio."""
    digits: Digits = []
    heard: list[Pcm] = []
    rng = random.Random(7)
    a = await RtpEndpoint.open(session_to(9, codec, events), HOST, rng=rng)
    b = await RtpEndpoint.open(
        session_to(a.port, codec, events),
        HOST,
        rng=rng,
        on_digit=lambda d, s: digits.append((d, s)),
        on_audio=heard.append,
    )
    a.remote = (HOST, b.port)  # A's SDP named B; it latches anyway on B's first packet
    return a, b, digits, heard


@pytest.fixture
async def endpoints() -> AsyncIterator[tuple[RtpEndpoint, RtpEndpoint, Digits, list[Pcm]]]:
    a, b, digits, heard = await pair()
    yield a, b, digits, heard
    a.close()
    b.close()


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
async def test_prompt_is_heard_at_the_far_end(codec: str) -> None:
    a, b, _, heard = await pair(codec)
    try:
        prompt = tone([1000.0], 0.4, amplitude=8000)
        await asyncio.wait_for(a.play(prompt), 3)
        await asyncio.sleep(0.1)
        audio = burst(np.concatenate(heard))
        assert len(audio) > 0.39 * 8000  # all 400 ms arrived
        assert abs(dominant_hz(audio) - 1000) < 10
        assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) == pytest.approx(8000 / 2**0.5, 0.05)
        assert b.stats().lost == 0 and a.stats().packets_sent > 20
    finally:
        a.close()
        b.close()


async def test_playbacks_queue_and_music_loops_until_stopped(
    endpoints: tuple[RtpEndpoint, RtpEndpoint, Digits, list[Pcm]],
) -> None:
    a, _, _, heard = endpoints
    first = a.play(tone([600.0], 0.1))
    music = a.play(tone([1400.0], 0.05), loop=True)
    await asyncio.wait_for(first, 2)
    await asyncio.sleep(0.3)  # six times the music's length: it must still be playing
    assert not music.done()
    heard.clear()
    await asyncio.sleep(0.1)
    assert abs(dominant_hz(np.concatenate(heard)) - 1400) < 20
    a.stop_playback()
    assert music.done()


@pytest.mark.parametrize("digit_file", sorted(PCAPS.glob("dtmf_2833_*.pcap")), ids=str)
async def test_rfc4733_digits_from_sipp_captures_are_reported_once(digit_file: Path) -> None:
    digits: Digits = []
    endpoint = await RtpEndpoint.open(
        session_to(9), HOST, rng=random.Random(1), on_digit=lambda d, s: digits.append((d, s))
    )
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        payloads = pcap_udp_payloads(digit_file)
        assert {parse_rtp(p).payload_type for p in payloads} == {101}
        for payload in payloads:
            sender.sendto(payload, (HOST, endpoint.port))
        await until(lambda: endpoint.packets_received == len(payloads))
        expected = NAMES[digit_file.stem.removeprefix("dtmf_2833_")]
        assert digits == [(expected, "rfc4733")]
    finally:
        sender.close()
        endpoint.close()


async def test_inband_dtmf_over_pcmu_is_detected() -> None:
    a, b, digits, _ = await pair(events=None)  # no telephone-event agreed: tones it is
    try:
        keys = "15#9"
        audio = np.concatenate([np.concatenate([dtmf_tone(k, 0.08), silence(0.08)]) for k in keys])
        await asyncio.wait_for(a.play(audio), 3)
        await until(lambda: len(digits) == len(keys))
        await asyncio.sleep(0.2)
        assert digits == [(k, "inband") for k in keys]
    finally:
        a.close()
        b.close()


async def test_sent_digits_arrive_once_and_not_twice_through_inband(
    endpoints: tuple[RtpEndpoint, RtpEndpoint, Digits, list[Pcm]],
) -> None:
    a, b, digits, _ = endpoints
    for key in "42*":
        a.send_digit(key, 100)
    await until(lambda: len(digits) == 3)
    await asyncio.sleep(0.3)
    assert digits == [("4", "rfc4733"), ("2", "rfc4733"), ("*", "rfc4733")]
    assert b.events_seen


async def test_recording_has_caller_left_and_agent_right(tmp_path: Path) -> None:
    a, b, _, _ = await pair()
    path = tmp_path / "call.wav"
    recorder = StereoWavRecorder(path, 8000)
    try:
        a.record(recorder, remote_side="caller")  # B is the caller; A plays the agent's side
        b.play(tone([700.0], 0.6))
        await asyncio.wait_for(a.play(tone([1500.0], 0.6)), 3)
        await asyncio.sleep(0.2)
    finally:
        a.close()
        b.close()
    recorder.close()
    with wave.open(str(path), "rb") as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (2, 8000)
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
    for channel, hz in ((0, 700.0), (1, 1500.0)):
        heard = burst(frames[:, channel].copy())
        assert len(heard) > 0.59 * 8000
        assert abs(dominant_hz(heard) - hz) < 15


async def test_relay_between_endpoints_passes_audio_and_events() -> None:
    a, b, digits, heard = await pair()
    relay = await RtpRelay.open(HOST, peers=((HOST, a.port), (HOST, b.port)))
    try:
        a.remote = (HOST, relay.port("a"))
        b.remote, b.latched = (HOST, relay.port("b")), False
        await asyncio.wait_for(a.play(tone([900.0], 0.3)), 3)
        a.send_digit("7")
        await until(lambda: digits == [("7", "rfc4733")])
        audio = burst(np.concatenate(heard))
        assert len(audio) > 0.29 * 8000 and abs(dominant_hz(audio) - 900) < 15
        assert relay.stats("a").latched and relay.stats("b").latched
        assert relay.stats("b").packets_out > 15 and relay.stats("a").packets_out > 15
    finally:
        relay.close()
        a.close()
        b.close()


async def test_garbage_and_strangers_do_not_disturb_an_endpoint(
    endpoints: tuple[RtpEndpoint, RtpEndpoint, Digits, list[Pcm]],
) -> None:
    a, b, digits, heard = endpoints
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        await until(lambda: b.latched)
        for junk in (b"", b"\x80", bytes(40), b"\x80\x00" + bytes(10) + b"\xff" * 160):
            stranger.sendto(junk, (HOST, b.port))
        a.send_digit("3")
        await until(lambda: digits == [("3", "rfc4733")])
        assert b.stats().dropped >= 4
        assert b.remote == (HOST, a.port)
    finally:
        stranger.close()
    assert heard  # audio kept flowing


async def test_spoken_prompt_and_hold_music_reach_the_far_end(tmp_path: Path) -> None:
    prompts = PromptCache(tmp_path)
    a, b, _, heard = await pair()
    try:
        spoken = await prompts.speak("Welcome")
        await asyncio.wait_for(a.say(prompts, "Welcome"), 5)
        await asyncio.sleep(0.1)
        received = np.concatenate(heard)
        # G.711 keeps speech within a few percent of its level: compare the energies.
        energy = np.sum(received.astype(np.float64) ** 2)
        assert energy == pytest.approx(np.sum(spoken.astype(np.float64) ** 2), rel=0.1)
        music = a.start_hold_music(prompts)
        heard.clear()
        await asyncio.sleep(0.3)
        assert np.abs(np.concatenate(heard)).max() > 1000 and not music.done()
        a.stop_playback()
        assert music.done()
    finally:
        a.close()
        b.close()


async def test_hold_stops_sending_without_losing_sequence_numbers(
    endpoints: tuple[RtpEndpoint, RtpEndpoint, Digits, list[Pcm]],
) -> None:
    a, b, _, _ = endpoints
    await until(lambda: b.packets_received > 3)
    a.update(replace(a.session, direction="recvonly"))  # a re-INVITE put us on hold
    await asyncio.sleep(0.1)
    held = b.packets_received
    await asyncio.sleep(0.2)
    assert b.packets_received == held
    a.update(replace(a.session, direction="sendrecv"))
    await until(lambda: b.packets_received > held + 3)
    assert b.stats().lost == 0  # sequence numbers went on where they stopped


def test_endpoints_and_relay_run_on_uvloop() -> None:
    async def call() -> tuple[Digits, Pcm]:
        a, b, digits, heard = await pair()
        relay = await RtpRelay.open(HOST, peers=((HOST, a.port), (HOST, b.port)))
        a.remote = (HOST, relay.port("a"))
        b.remote, b.latched = (HOST, relay.port("b")), False
        try:
            await asyncio.wait_for(a.play(tone([1200.0], 0.2)), 3)
            a.send_digit("9")
            await until(lambda: len(digits) == 1)
            return digits, burst(np.concatenate(heard))
        finally:
            relay.close()
            a.close()
            b.close()

    digits, audio = uvloop.run(call())
    assert digits == [("9", "rfc4733")]
    assert len(audio) > 0.19 * 8000 and abs(dominant_hz(audio) - 1200) < 20
