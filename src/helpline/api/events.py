"""`/v1/events`: live call and agent state changes over a websocket (issue 4, point 8).

Authenticate with the `Authorization` header (API key: the whole tenant; agent token or
session: the agent's own calls and status) or, for browsers that cannot set headers on a
websocket, a `token` query parameter holding an agent token. Each message is JSON:
`{"type", "tenant_id", "at", "data"}` with type `call.state_changed`, `agent.state_changed`,
`call.offered` (an agent's phone rings), `call.offer_ended` (it stopped ringing: timeout,
rejected, caller hung up, answered elsewhere, withdrawn), `call.transferred` (a call left its
agent), `call.ended` (with the record) or `call.media_ready` (a recording or voicemail can
now be fetched; API-key clients only, as it names no agent). A client that falls behind loses
its oldest messages, never the server's pace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.datastructures import Headers

from helpline.api.deps import Principal, app_state_of, resolve_principal
from helpline.core.errors import HelplineError

router = APIRouter(tags=["events"])


def visible(who: Principal, message: Mapping[str, Any]) -> bool:
    """An agent sees its own status and the calls it rings for or talks on."""
    if not who.is_agent:
        return True
    data = message.get("data", {})
    if message.get("type") == "agent.state_changed":
        return bool(data.get("agent_id") == who.agent_id)
    return who.agent_id in (data.get("agent_id"), *data.get("offered_to", ()))


@router.websocket("/v1/events")
async def events(websocket: WebSocket) -> None:
    state = app_state_of(websocket.app)
    headers = dict(websocket.headers)
    token = websocket.query_params.get("token")
    if token and "authorization" not in headers:
        headers["authorization"] = f"Bearer {token}"
    try:
        who = await resolve_principal(Headers(headers), state)
    except HelplineError as error:
        # accept first: a close before the handshake reaches the client as a bare HTTP 403,
        # and a browser could not tell bad credentials from any other failure
        await websocket.accept()
        await websocket.close(code=4401, reason=error.message[:120])
        return
    await websocket.accept()
    subscription = state.bus.subscribe(who.tenant_id)
    receiver = asyncio.create_task(drain_client(websocket))
    try:
        while not receiver.done():
            getter = asyncio.create_task(subscription.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            message = getter.result()
            if visible(who, message):
                await websocket.send_json(dict(message))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        subscription.close()
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver


async def drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
