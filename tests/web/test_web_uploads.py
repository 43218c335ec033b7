"""Uploaded audio (review B1, B2, S5): each tenant's own, checked and converted once at upload,
loaded off the event loop through a bounded cache, and the body capped before it is read."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from web_support import serve

from helpline.store import Store
from helpline.telephony.webrtc.audio import RATE
from helpline.telephony.webrtc.prompts import PromptLibrary, tenant_folder


def wav(rate: int, seconds: float = 0.5, value: int = 1000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        frames = max(1, int(rate * seconds))
        writer.writeframes(np.full(frames * channels, value, dtype="<i2").tobytes())
    return buffer.getvalue()


async def test_two_tenants_upload_the_same_name_and_each_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = tmp_path / "media"
    monkeypatch.setenv("HELPLINE_MEDIA_DIR", str(media))
    async with serve(tmp_path) as site:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'helpline.db'}")
        try:
            async with store.transaction() as tx:
                await tx.tenants.create_tenant("Other", tenant_id="other")
                other_key = await tx.tenants.create_api_key("other", "b")
        finally:
            await store.close()
        auth = (other_key.key_id, other_key.secret)
        async with httpx.AsyncClient(base_url=site.url, auth=auth) as other:
            first = await site.admin.put("/v1/audio/greeting", content=wav(8000, value=1111))
            second = await other.put("/v1/audio/greeting", content=wav(8000, value=2222))
        assert (first.status_code, second.status_code) == (201, 201), second.text
        library = PromptLibrary(media)
        mine = await library.uploaded(site.tenant_id, "greeting")
        theirs = await library.uploaded("other", "greeting")
        assert mine is not None and theirs is not None
        assert int(np.median(mine)) == 1111
        assert int(np.median(theirs)) == 2222
        assert not (media / "audio" / "greeting.wav").exists()  # no shared folder any more

        # S5: a declared body over the cap is refused before it is read
        host, port = site.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        token = base64.b64encode(site.key.encode()).decode()
        writer.write(
            f"PUT /v1/audio/big HTTP/1.1\r\nhost: {host}\r\nauthorization: Basic {token}\r\n"
            f"content-length: {25 * 1024 * 1024}\r\n\r\nRIFF".encode()
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 5)  # without the other 25 MB
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b"20 MB" in answer

        # S5: no Content-Length (chunked): the running cap stops it
        async def chunks() -> object:
            for _ in range(25):
                yield b"\0" * (1024 * 1024)

        streamed = await site.admin.put("/v1/audio/big", content=chunks())  # type: ignore[arg-type]
        assert streamed.status_code == 400
        assert not (media / "audio" / site.tenant_id / "big.wav").exists()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (wav(1, seconds=600), "sample rate 1 Hz"),
        (wav(96000), "sample rate 96000 Hz"),
        (wav(8000, channels=3), "3 channels"),
        (wav(8000, seconds=601), "at most 600 s"),
    ],
)
def test_an_upload_out_of_bounds_is_refused_naming_why(
    tmp_path: Path, body: bytes, why: str
) -> None:
    library = PromptLibrary(tmp_path)
    with pytest.raises(ValueError, match=why):
        library.store_upload("t1", "bad", body)
    assert not (tmp_path / "audio" / "t1" / "bad.wav").exists()


def test_a_tenant_id_that_is_not_path_safe_gets_a_hashed_folder(tmp_path: Path) -> None:
    assert tenant_folder("acme-1") == "acme-1"
    for unsafe in ("..", "../x", "a/b", "ü" * 3, "x" * 65):
        folder = tenant_folder(unsafe)
        assert folder.startswith("h-") and "/" not in folder and ".." not in folder
    library = PromptLibrary(tmp_path)
    library.store_upload("../escape", "music", wav(8000))
    assert [p.parent.parent for p in tmp_path.rglob("*.wav")] == [tmp_path / "audio"]


async def test_stereo_44k_hold_music_is_converted_once_and_played_from_the_cache(
    tmp_path: Path,
) -> None:
    library = PromptLibrary(tmp_path)
    seconds = library.store_upload("t1", "music", wav(44100, seconds=60, channels=2))
    assert seconds == pytest.approx(60, abs=0.01)
    with wave.open(str(tmp_path / "audio" / "t1" / "music.wav")) as kept:
        assert (kept.getframerate(), kept.getnchannels()) == (RATE, 1)

    stalls: list[float] = []

    async def watch_loop() -> None:  # the longest the event loop went without running us
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            stalls.append(time.perf_counter() - before - 0.01)

    watcher = asyncio.create_task(watch_loop())
    await asyncio.sleep(0.05)
    first = await library.hold_music("t1", "music")
    again = await library.hold_music("t1", "music")
    watcher.cancel()
    assert len(first) == 60 * RATE
    assert again is first  # the cache answered: no second read
    assert max(stalls) < 0.25  # the read happened in a thread (3 min took 3.8 s on the loop)
    assert await library.hold_music("t2", "music") is not first  # t2 has none: the default

    library.store_upload("t1", "music", wav(8000, seconds=1))  # replaced: a new mtime
    assert len(await library.hold_music("t1", "music")) == RATE
