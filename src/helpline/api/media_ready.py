"""Keeping a call's media: its record pointed at a recording or a voicemail message, and
`call.media_ready` said (issue 6, recordings and voicemail).

A call's media are written after its record, so `call.ended` cannot carry their URLs. When a
file is whole, the record is pointed at it and `call.media_ready` announces it, live and as a
webhook, as Twilio's RecordingStatusCallback does for its recordings ("after it finishes
processing a call recording", with RecordingUrl and RecordingDuration). One event type for
both kinds (`kind`: recording or voicemail), so a `call.*` subscription takes it with no new
filter to learn.

Both go through the tenant's writer, after the call's record (its hang-up was posted before
the file ended; `settle` waits for the record's write, within a limit): a database away for a
moment delays the pointer and its announcement, it does not lose them ("loses nothing"), and
the retry of a write whose first try committed unseen neither duplicates a recording nor
announces it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from helpline.api.deps import app_state_of
from helpline.runtime.writer import Write, outbox_write

log = logging.getLogger("helpline.api")

MEDIA_READY = "call.media_ready"  # a call's recording or voicemail can be fetched
MediaKind = Literal["recording", "voicemail"]
SETTLE_LIMIT_S = 5.0  # how long a file waits for its call's record to be written
_unqueued: set[asyncio.Future[None]] = set()  # writes of a tenant with no runtime

# the store write that points the record at the file: False when there is no record
PointRecord = Callable[[], Awaitable[bool]]


async def keep_media(
    app: Any,
    tenant_id: str,
    call_id: str,
    *,
    kind: MediaKind,
    url: str,
    duration: float,
    point: PointRecord,
) -> None:
    """Point the call's record at its file (`point`), then announce it; on the tenant's
    writer, after the call's record."""
    state = app_state_of(app)

    async def point_then_announce() -> list[Write]:
        if not await point():
            # no record to point at (it was never written): nobody could fetch the file, so
            # nothing is announced; the file stays on disk for an operator
            log.warning("call %s: no call record for its %s %s", call_id, kind, url)
            return []
        return [announce(app, tenant_id, call_id, kind=kind, url=url, duration=duration)]

    runtime = state.hub.tenants.get(tenant_id)
    if runtime is None:  # a tenant gone meanwhile: tried once, not retried
        _run_unqueued(point_then_announce())
        return
    with contextlib.suppress(TimeoutError):  # a stopped runtime (shutdown) never settles
        await asyncio.wait_for(runtime.settle(), SETTLE_LIMIT_S)
    runtime.writer.put(Write(point_then_announce, f"{kind} of call {call_id}"))


def announce(
    app: Any, tenant_id: str, call_id: str, *, kind: MediaKind, url: str, duration: float
) -> Write:
    """`call.media_ready` live now; its webhook as the write returned (retried alone, like
    `call.ended`'s)."""
    state = app_state_of(app)
    data = {"call_id": call_id, "kind": kind, "url": url, "duration_s": round(duration, 2)}
    message = {"type": MEDIA_READY, "tenant_id": tenant_id, "at": time.time(), "data": data}
    state.bus.publish(tenant_id, message)
    return outbox_write(
        f"webhook {MEDIA_READY} of call {call_id} ({kind})",
        state.hub.outbox.publish_event,
        tenant_id,
        MEDIA_READY,
        data,
    )


def _run_unqueued(work: Awaitable[list[Write]]) -> None:
    async def run() -> None:
        for write in await work:
            await write.action()

    task = asyncio.ensure_future(run())
    _unqueued.add(task)
    task.add_done_callback(_unqueued.discard)
