"""The browser routes without a browser: the phone and wallboard websockets refuse what they
must, answer/reject belong to the ringing agent, and a softphone's presence is the agent's."""

from __future__ import annotations

import asyncio
import io
import json
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_support import SALES_LINE, Site
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from helpline.api.web import web_telephony
from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.events import Event
from helpline.settings import Settings
from helpline.telephony.virtual import VirtualCarrier
from helpline.telephony.webrtc import WebRtcTelephony

pytestmark = pytest.mark.asyncio(loop_scope="module")


def ws(site: Site, path: str) -> str:
    return site.url.replace("http://", "ws://", 1) + path


async def closed_with(url: str, hello: dict[str, Any] | None = None) -> int:
    async with connect(url) as socket:
        if hello is not None:
            await socket.send(json.dumps(hello))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_the_pages_and_their_modules_are_served(site: Site) -> None:
    for page in ("/softphone", "/wallboard", "/call"):
        response = await site.admin.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
    module = await site.admin.get("/web/softphone.js")
    assert module.headers["content-type"].startswith("text/javascript")
    assert (await site.admin.get("/web/nothing.js")).status_code == 404
    assert (await site.admin.get("/web/..%2Fapi%2Fweb.py")).status_code in (404, 422)


async def test_the_phone_refuses_unknown_tenants_bad_sessions_and_other_numbers(
    site: Site,
) -> None:
    assert await closed_with(ws(site, "/web/phone?tenant=nobody")) == 4404
    hello = {"authorization": "Bearer not-a-session"}
    assert await closed_with(ws(site, "/web/phone"), hello) == 4401
    async with connect(ws(site, f"/web/phone?tenant={site.tenant_id}")) as socket:
        await socket.send("not json")
        assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "error"
        await socket.send(b"\x00binary")
        assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "error"
        await socket.send(json.dumps({"type": "dial", "to": "+19999999999", "sdp": "v=0"}))
        refused = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert refused["type"] == "error"
        assert refused["message"].startswith("to:")
        await socket.send(json.dumps({"type": "dial", "to": SALES_LINE}))
        refused = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert refused["message"].startswith("sdp:")
        await socket.send(json.dumps({"type": "dial", "to": SALES_LINE, "sdp": "garbage"}))
        refused = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert refused["message"] == "sdp: not a usable offer"  # no aiortc internals
        with pytest.raises(ConnectionClosed) as closed:  # 3 failed dials: a probe, not a call
            await asyncio.wait_for(socket.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # none of that placed a call
    calls = (await site.admin.get("/v1/calls")).json()["items"]
    assert calls == []


async def test_the_wallboard_socket_wants_credentials_first(site: Site) -> None:
    url = ws(site, "/web/wallboard/ws")
    assert await closed_with(url, {"authorization": "Bearer wrong"}) == 4401
    async with connect(url) as socket:
        await socket.send(json.dumps({"authorization": f"Bearer {await site.login()}"}))
        first = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert first["type"] == "snapshot"
    assert [q["id"] for q in first["data"]["queues"]] == ["sales"]
    assert first["data"]["today"]["offered"] == 0


async def test_only_the_ringing_agent_answers_or_rejects(site: Site) -> None:
    placed = await site.admin.post("/v1/sandbox/calls", json={"to": SALES_LINE})
    call_id = placed.json()["call_id"]
    forbidden = await site.admin.post(f"/v1/calls/{call_id}/answer")
    assert forbidden.status_code == 403
    session = await site.login()
    headers = {"authorization": f"Bearer {session}"}
    async with httpx.AsyncClient(base_url=site.url, headers=headers) as agent:
        missing = await agent.post("/v1/calls/nope/answer")
        assert missing.status_code == 404
        # alice is offline (no softphone): the call waits and is not hers to answer
        not_hers = await agent.post(f"/v1/calls/{call_id}/reject")
        assert not_hers.status_code == 404
        me = await agent.get("/v1/web/me")
        assert me.json() == {"tenant_id": site.tenant_id, "agent_id": "alice", "name": "Alice"}
    await site.admin.post(f"/v1/sandbox/calls/{call_id}/hangup")


async def test_a_softphone_that_drops_for_good_takes_the_agent_offline_and_ends_its_call(
    tmp_path: Path,
) -> None:
    posted: list[tuple[str, Event]] = []
    phone = WebRtcTelephony(VirtualCarrier(), tmp_path, presence_grace_s=0.05)
    phone.attach(lambda tenant, event: posted.append((tenant, event)))
    line = phone.agent_connected("t", "alice")
    assert posted == [("t", ev.AgentPresenceChanged(agent_id="alice", online=True))]
    await phone.execute("t", cmd.Bridge(call_id="c1", agent_id="alice"))
    assert line.call_id == "c1"

    phone.agent_disconnected(line)  # a blip: back within the grace period
    phone.agent_connected("t", "alice")
    await asyncio.sleep(0.1)
    assert len(posted) == 1

    phone.agent_disconnected(line)  # gone for good
    await asyncio.sleep(0.1)
    assert posted[1:] == [
        ("t", ev.AgentPresenceChanged(agent_id="alice", online=False)),
        (
            "t",
            ev.CallHungUp(call_id="c1", party=ev.Party.AGENT, reason="agent_connection_lost"),
        ),
    ]
    await phone.close()


def _wav(rate: int, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(bytes(width * rate // 2))
    return buffer.getvalue()


async def test_uploaded_audio_must_be_a_16_bit_wav_from_the_tenant(
    site: Site, media_dir: Path
) -> None:
    stored = await site.admin.put("/v1/audio/welcome", content=_wav(8000))
    assert stored.status_code == 201, stored.text
    assert stored.json() == {"name": "welcome", "duration_s": 0.5}
    with wave.open(str(media_dir / "audio" / site.tenant_id / "welcome.wav")) as kept:
        assert (kept.getframerate(), kept.getnchannels(), kept.getnframes()) == (48000, 1, 24000)
    garbage = await site.admin.put("/v1/audio/noise", content=b"not a wav at all")
    assert garbage.status_code == 400
    assert garbage.json()["error"]["details"] == {"field": "body"}
    eight_bit = await site.admin.put("/v1/audio/old", content=_wav(8000, width=1))
    assert eight_bit.status_code == 400
    assert "16-bit" in eight_bit.json()["error"]["message"]
    assert not (media_dir / "audio" / site.tenant_id / "old.wav").exists()
    bad_name = await site.admin.put("/v1/audio/..%2Fescape", content=_wav(8000))
    assert bad_name.status_code in (404, 422)
    headers = {"authorization": f"Bearer {await site.login()}"}
    async with httpx.AsyncClient(base_url=site.url, headers=headers) as agent:
        refused = await agent.put("/v1/audio/mine", content=_wav(8000))
    assert refused.status_code == 403


async def test_the_media_folder_comes_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_MEDIA_DIR", str(tmp_path / "from-env"))
    assert Settings().media_dir == str(tmp_path / "from-env")
    phone = web_telephony(VirtualCarrier(), Settings(media_dir=str(tmp_path / "given")))
    assert phone.media_dir == (tmp_path / "given").resolve()
    assert phone.prompts.audio_dir == (tmp_path / "given" / "audio").resolve()
    monkeypatch.delenv("HELPLINE_MEDIA_DIR")
    assert Settings().media_dir == "helpline-media"
