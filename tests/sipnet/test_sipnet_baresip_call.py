"""Debian's baresip as an agent's SIP phone (answermode=auto) answers a queued trunk call
through the B2BUA, with audio both ways checked by tone detection: the caller (a Python RTP
peer from the trunk's address) sends 1 kHz, baresip sends 440 Hz from a file and dumps what
it hears (its `sndfile` module). Relayed packet by packet, and, in a queue that records,
through our endpoints with a stereo WAV on the record: the caller left, the agent right."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from sipnet_rtp import MEDIA_CENTER, RtpCaller, dominant, tone
from sipnet_support import PASSWORDS, TENANT, free_port, poll, sip_server

from helpline.core import events as ev
from helpline.telephony.webrtc.adapter import WebRtcTelephony

CALLER_HZ, AGENT_HZ = 1000.0, 440.0


def _read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as reader:
        data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        return reader.getframerate(), data.reshape(-1, reader.getnchannels())


async def _baresip(tmp_path: Path, sip_port: int) -> tuple[asyncio.subprocess.Process, Path]:
    home, dumps = tmp_path / "baresip", tmp_path / "dumps"
    home.mkdir()
    dumps.mkdir()
    source = tmp_path / "agent-tone.wav"  # what the agent says: 440 Hz, 8 kHz mono
    sox = await asyncio.create_subprocess_exec(
        "sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(source),
        "synth", "20", "sine", str(AGENT_HZ), "vol", "0.3",
    )  # fmt: skip
    assert await sox.wait() == 0
    (home / "accounts").write_text(
        f"<sip:{TENANT}_alice@127.0.0.1:{sip_port};transport=udp>"
        f";auth_pass={PASSWORDS['alice']};regint=600;answermode=auto;audio_codecs=PCMU\n"
    )
    # aubridge gives the call a player that needs no sound card; sndfile (an audio filter)
    # writes what the phone decodes to dumps/dump-*-dec.wav.
    (home / "config").write_text(
        f"sip_listen 127.0.0.1:{free_port()}\n"
        "module_path /usr/lib/baresip/modules\n"
        "module account.so\nmodule g711.so\nmodule aufile.so\n"
        "module aubridge.so\nmodule sndfile.so\n"
        f"audio_source aufile,{source}\naudio_player aubridge,agent\n"
        f"audio_alert aufile,/dev/null\nsnd_path {dumps}\n"
    )
    process = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(home),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=(tmp_path / "baresip.out").open("w"),
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    return process, dumps


@pytest.mark.parametrize("number", ["100", "300"], ids=["relayed", "recorded"])
async def test_baresip_answers_a_queued_call_with_audio_both_ways(
    tmp_path: Path, number: str
) -> None:
    async with sip_server(tmp_path, MEDIA_CENTER) as server:
        baresip, dumps = await _baresip(tmp_path, server.port)
        caller = await RtpCaller.open(server.port, number)
        try:
            await poll(lambda: server.engine_agent("alice").online, "baresip to register")
            await caller.call()
            caller.send_audio(tone(CALLER_HZ, 1.0))
            (call,) = server.sip.b2bua.calls.values()
            await poll(lambda: call.media is not None and call.media.mode != "caller", "bridge")
            assert call.media is not None
            assert call.media.mode == ("record" if number == "300" else "relay")
            bridged = asyncio.get_running_loop().time()
            # 1.7 s of the agent's tone due, a second of it asked for: room for a stall of
            # the loop on a loaded machine (the packet clock skips what a stall loses)
            await asyncio.sleep(2.0)
            # the agent's tone reached the caller, the caller's reached the agent's phone
            heard = caller.audio(since=bridged + 0.3)
            assert len(heard) >= 8000
            assert abs(dominant(heard) - AGENT_HZ) < 10
            # on hold the caller hears our music instead; resumed, the agent again
            hub = server.app.state.helpline.hub
            hub.post(TENANT, ev.HoldRequested(call_id=call.call_id))
            await poll(lambda: call.held, "the hold")
            held = asyncio.get_running_loop().time()
            await asyncio.sleep(1.0)
            music = caller.audio(since=held + 0.3)
            assert abs(dominant(music) - AGENT_HZ) > 20
            assert np.sqrt(np.mean(music.astype(np.float64) ** 2)) > 100
            hub.post(TENANT, ev.ResumeRequested(call_id=call.call_id))
            await poll(lambda: not call.held, "the resume")
            resumed = asyncio.get_running_loop().time()
            await asyncio.sleep(1.0)
            assert abs(dominant(caller.audio(since=resumed + 0.3)) - AGENT_HZ) < 10
            await caller.hang_up()

            async def recorded() -> bool:
                return await server.store.records.count_records(TENANT) == 1

            await poll(recorded, "the call record")
            await poll(lambda: not server.sip.b2bua.calls, "every leg to end")
            (record,) = (await server.store.records.list_records(TENANT)).items
            assert record.result == "answered", json.dumps(record.decisions)
            assert record.agent_id == "alice"
            assert record.talk_s > 2.5
        finally:
            caller.close()
            baresip.terminate()
            await baresip.wait()
        (dump,) = dumps.glob("*-dec.wav")
        rate, phone_heard = _read_wav(dump)
        assert abs(dominant(phone_heard[-rate:, 0], rate) - CALLER_HZ) < 10
        row = await server.store.records.get_record(TENANT, call.call_id)
        assert row is not None
        if number == "100":
            assert row.recording_url is None
            return

        async def with_recording() -> bool:
            page = await server.store.recordings.list_recordings(TENANT, call_id=call.call_id)
            return len(page.items) == 1

        await poll(with_recording, "the recording")
        row = await server.store.records.get_record(TENANT, call.call_id)
        assert row is not None
        assert row.recording_url is not None
        assert row.recording_url.endswith(f"/v1/call-records/{call.call_id}/recording")
        _check_recording(server.sip.fallback, call.call_id)


def _check_recording(web: object, call_id: str) -> None:
    """The stereo WAV the record points at: the caller's tone left, the agent's right."""
    assert isinstance(web, WebRtcTelephony)  # where the recordings route serves it from
    path = web.media_dir / "recordings" / TENANT / f"{call_id}.wav"
    rate, frames = _read_wav(path)
    assert frames.shape[1] == 2
    assert len(frames) >= 3 * rate  # talk, hold, talk again
    middle = frames[rate // 4 : 5 * rate // 4]  # a second of talk before the hold
    assert abs(dominant(middle[:, 0], rate) - CALLER_HZ) < 10
    assert abs(dominant(middle[:, 1], rate) - AGENT_HZ) < 10
