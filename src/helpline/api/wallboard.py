"""The wallboard's data (issue 6, point 4): live queues, agents and today's figures.

- `GET /v1/wallboard`: queues (waiting, longest wait, estimated wait), agents (status, time
  in status) and, for the calls that ended since the client's start of day (`since`: the
  browser's local midnight, at most 36 hours back), service level, average speed of answer
  and abandonment, overall and per queue (`today.queues[queue id]`), from one aggregate query.
- The websocket `/web/wallboard/ws`: the same snapshot, pushed whenever the tenant's bus says
  something moved (debounced) and every few seconds (times in status grow on their own).
The page itself (`/wallboard`) is served with the others by helpline.api.web.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import weakref
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketDisconnect
from starlette.datastructures import Headers

from helpline.api.deps import Principal, app_state, app_state_of, principal, resolve_principal
from helpline.api.events import drain_client
from helpline.api.state import AppState
from helpline.core.errors import HelplineError
from helpline.core.estimators import estimate

router = APIRouter(tags=["web"])

State = Annotated[AppState, Depends(app_state)]
Anyone = Annotated[Principal, Depends(principal)]

SNAPSHOT_DEBOUNCE_S = 0.2  # a burst of bus messages (one call moving) gives one snapshot
SNAPSHOT_EVERY_S = 5.0  # times in status and waits grow even when nothing happens
DEFAULT_SL_THRESHOLD_S = 20.0  # the usual 80/20 service level target's threshold
MAX_SL_THRESHOLD_S = 3600.0
MAX_SINCE_AGE_S = 36 * 3600.0  # "today" in any time zone, with margin: never more records
FIGURES_TTL_S = 1.0  # a second-old figure on a wallboard is live enough
MAX_CACHED_FIGURES = 1000


async def wallboard_snapshot(
    state: AppState, tenant_id: str, since: float | None, sl_threshold_s: float
) -> dict[str, Any]:
    """Queues and agents now, and the figures of the calls that ended since `since`."""
    runtime = state.hub.runtime(tenant_id)
    engine = runtime.engine
    now = runtime.clock()
    queues = []
    for queue in engine.queues.values():
        # estimate at the real now: the engine's `now` is the time of its last event
        found = estimate(queue, now)
        queues.append(
            {
                "id": queue.id,
                "name": queue.config.name or queue.id,
                "waiting": found.waiting,
                "longest_wait_s": found.hol_s,
                "estimated_wait_s": found.ql_s,
                "staffed": found.staffed,
            }
        )
    agents = []
    for agent in engine.agents.values():
        if agent.removed:
            continue
        agents.append(
            {
                "id": agent.id,
                "name": agent.config.name or agent.id,
                "manual_status": agent.manual_status,
                "activity": agent.activity.value,
                "online": agent.online,
                "reason": agent.reason,
                "in_status_s": max(0.0, now - agent.status_since),
            }
        )
    return {
        "at": now,
        "queues": queues,
        "agents": agents,
        "today": await _figures(state, tenant_id, since, sl_threshold_s),
    }


async def _figures(
    state: AppState, tenant_id: str, since: float | None, sl_threshold_s: float
) -> dict[str, Any]:
    """The day's figures, shared by every viewer of the tenant for `FIGURES_TTL_S` (one query
    per second per tenant, not one per viewer per snapshot: a wall of screens costs the
    database what one does)."""
    now = time.monotonic()
    floor = state.hub.runtime(tenant_id).clock() - MAX_SINCE_AGE_S
    start = floor if since is None else max(since, floor)  # "today" is never a year of records
    # viewers in the same day share an entry: the start is rounded to the minute
    key = (tenant_id, round(start / 60), sl_threshold_s)
    cache = _figures_cache(state)
    found = cache.get(key)
    if found is not None and now - found[0] < FIGURES_TTL_S:
        return found[1]
    figures = await _compute_figures(state, tenant_id, start, sl_threshold_s)
    if len(cache) > MAX_CACHED_FIGURES:
        cache.clear()
    cache[key] = (now, figures)
    return figures


# per app (its hub: AppState is an unhashable dataclass), gone with it
_CACHES: weakref.WeakKeyDictionary[Any, dict[Any, tuple[float, dict[str, Any]]]] = (
    weakref.WeakKeyDictionary()
)


def _figures_cache(state: AppState) -> dict[Any, tuple[float, dict[str, Any]]]:
    return _CACHES.setdefault(state.hub, {})


async def _compute_figures(
    state: AppState, tenant_id: str, since: float, sl_threshold_s: float
) -> dict[str, Any]:
    """Service level, average speed of answer and abandonment of queued calls since `since`,
    per queue and overall, from one aggregate query (`records.queue_figures`).

    Service level = answered within the threshold / (answered + abandoned in queue), the
    usual definition that counts an abandoned call against it. Calls that never reached a
    queue (hung up in the IVR, straight to voicemail) are not counted.
    """
    found = await state.store.records.queue_figures(
        tenant_id, start=since, threshold_s=sl_threshold_s
    )
    by_queue = {
        queue.queue_id: _rates(
            queue.answered,
            queue.abandoned,
            queue.answered_in_threshold,
            queue.wait_s_total,
            sl_threshold_s,
        )
        for queue in found
    }
    overall = _rates(
        sum(q.answered for q in found),
        sum(q.abandoned for q in found),
        sum(q.answered_in_threshold for q in found),
        sum(q.wait_s_total for q in found),
        sl_threshold_s,
    )
    return {**overall, "queues": by_queue}


def _rates(
    answered: int, abandoned: int, in_threshold: int, waited: float, sl_threshold_s: float
) -> dict[str, Any]:
    offered = answered + abandoned
    return {
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "service_level": in_threshold / offered if offered else None,
        "service_level_threshold_s": sl_threshold_s,
        "asa_s": waited / answered if answered else None,
        "abandon_rate": abandoned / offered if offered else None,
    }


Since = Annotated[float | None, Query(description="epoch seconds: the day's start (client's)")]
Threshold = Annotated[float, Query(gt=0, le=MAX_SL_THRESHOLD_S)]


@router.get("/v1/wallboard", tags=["queues"])
async def wallboard_data(
    state: State, who: Anyone, since: Since = None, sl: Threshold = DEFAULT_SL_THRESHOLD_S
) -> dict[str, Any]:
    """Queues (waiting, longest wait, estimated wait), agents (status, time in status) and,
    for calls that ended since `since`, service level, average speed of answer, abandonment."""
    return await wallboard_snapshot(state, who.tenant_id, since, sl)


@router.websocket("/web/wallboard/ws")
async def wallboard_ws(websocket: WebSocket) -> None:
    """Snapshots, pushed when the tenant's bus reports a change and every few seconds.

    The first client message authenticates: `{"authorization": "Basic ..." | "Bearer ...",
    "since": epoch, "sl": seconds}` (a browser cannot set headers on a websocket, and a
    secret in the URL would end in logs).
    """
    state = app_state_of(websocket.app)
    await websocket.accept()
    try:
        hello = json.loads(await asyncio.wait_for(websocket.receive_text(), 10))
        who = await resolve_principal(
            Headers({"authorization": str(hello["authorization"])}), state
        )
        since = float(hello["since"]) if hello.get("since") is not None else None
        sl = float(hello["sl"]) if hello.get("sl") is not None else DEFAULT_SL_THRESHOLD_S
        if not 0 < sl <= MAX_SL_THRESHOLD_S or (since is not None and not math.isfinite(since)):
            raise ValueError("sl: 0 < sl <= 3600; since: a number of seconds")  # as REST does
    except (HelplineError, ValueError, KeyError, TypeError, TimeoutError):
        await websocket.close(code=4401, reason="send {authorization, since} first")
        return
    except WebSocketDisconnect:
        return
    subscription = state.bus.subscribe(who.tenant_id)
    receiver = asyncio.create_task(drain_client(websocket))
    try:
        while not receiver.done():
            snapshot = await wallboard_snapshot(state, who.tenant_id, since, sl)
            await websocket.send_json({"type": "snapshot", "data": snapshot})
            getter = asyncio.create_task(subscription.get())
            done, _ = await asyncio.wait(
                {getter, receiver}, timeout=SNAPSHOT_EVERY_S, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                continue
            await asyncio.sleep(SNAPSHOT_DEBOUNCE_S)
            while not subscription.queue.empty():
                subscription.queue.get_nowait()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        subscription.close()
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
