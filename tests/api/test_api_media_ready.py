"""A call's recording or voicemail is pointed at and announced through the tenant's writer
(api/media_ready.py): a database away for a moment delays both, loses neither, and a retry
neither adds a second recording nor announces twice.

The outage is real: a second SQLite connection holds `BEGIN EXCLUSIVE` while the server's
busy timeout is 50 ms (`?timeout=0.05`), so its writes fail "database is locked" and are
retried until the lock goes.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from api_support import poll, run_server
from sqlalchemy import select

from helpline.api.deps import app_state_of
from helpline.api.media_ready import MEDIA_READY, keep_media
from helpline.bus import LocalBus
from helpline.store import Store
from helpline.store.models import OutboxMessage
from sqlite_lock import database_locked

NUMBER = "+18005550142"
CENTER = {
    "numbers": [{"number": NUMBER, "queue": "q"}],
    "queues": [{"id": "q", "groups": ["team"]}],
    "groups": [{"id": "team", "agents": ["alice"]}],
    "agents": [{"id": "alice"}],
}


async def _media_webhooks(database_url: str, tenant_id: str) -> list[dict[str, object]]:
    store = await Store.open(database_url, migrate=False)
    try:
        async with store.engine.connect() as conn:
            bodies = await conn.execute(
                select(OutboxMessage.body).where(OutboxMessage.tenant_id == tenant_id)
            )
            events = [json.loads(body) for body in bodies.scalars()]
    finally:
        await store.close()
    return [e["data"] for e in events if e["type"] == MEDIA_READY]


async def test_a_voicemail_and_a_recording_wait_out_a_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "media.db"
    url = f"sqlite+aiosqlite:///{path}?timeout=0.05"
    async with run_server(url, document=CENTER) as server:
        app = server.app
        state = app_state_of(app)
        tenant = server.pool[0][0].tenant_id
        await state.store.webhooks.create_subscription(tenant, "http://127.0.0.1:9/hook")
        state.carrier.place_call(tenant, "c1", "+15550001", NUMBER)
        state.carrier.hang_up(tenant, "c1")
        runtime = state.hub.tenants[tenant]
        await runtime.settle()  # the record is stored
        assert isinstance(state.bus, LocalBus)
        live = state.bus.subscribe(tenant)
        async with database_locked(path):
            voicemail_url = "http://test/v1/call-records/c1/voicemail"
            await keep_media(
                app, tenant, "c1", kind="voicemail", url=voicemail_url, duration=2.5,
                point=partial(state.store.records.set_voicemail_url, tenant, "c1", voicemail_url),
            )  # fmt: skip
            recordings = state.store.recordings
            calls = []

            async def point_recording() -> bool:
                calls.append(1)
                await recordings.add_recording(
                    tenant, "c1", "http://test/rec", duration_s=9.0, recording_id="rcd_fixed"
                )
                if len(calls) == 1:  # the first try's commit goes unseen (a dropped ack)
                    raise ConnectionResetError("connection lost before the commit's ack")
                return True

            async def retried() -> bool:
                return runtime.writer.retries >= 2

            await poll(retried, timeout=10.0, what="the writer to retry")
            row = await state.store.records.get_record(tenant, "c1")  # WAL: readers read
            assert row is not None and row.voicemail_url is None
        await runtime.settle()
        await keep_media(
            app, tenant, "c1", kind="recording", url="http://test/rec", duration=9.0,
            point=point_recording,
        )  # fmt: skip
        await runtime.settle()
        row = await state.store.records.get_record(tenant, "c1")
        assert row is not None
        assert (row.voicemail_url, row.recording_url) == (voicemail_url, "http://test/rec")
        assert len(calls) == 2  # retried once...
        kept = await recordings.list_recordings(tenant, call_id="c1")
        assert [r.id for r in kept.items] == ["rcd_fixed"]  # ...and kept once
        ready = []
        while not live.queue.empty():
            message = live.queue.get_nowait()
            if message["type"] == MEDIA_READY:
                ready.append((message["data"]["kind"], message["data"]["url"]))
        assert ready == [("voicemail", voicemail_url), ("recording", "http://test/rec")]
        hooks = await _media_webhooks(url, tenant)
        assert [(h["kind"], h["url"]) for h in hooks] == ready  # one webhook each
