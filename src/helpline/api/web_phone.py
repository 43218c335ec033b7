"""The phone websocket `/web/phone` (issue 6): signalling of the `webrtc` telephony adapter
for an agent's softphone (its session in the first message) or a web caller of a tenant's
hotline number; an agent's socket is its online presence (routing type 1).

The web caller needs no credentials (it is a click-to-call widget on any site), so it is
fenced (review S1-S4): a few calls a minute per source, `web_caller_max_per_source` live
calls per source (an IPv6 source is its /64) and `web_caller_max_calls` in all, the Origin
checked at the handshake against the tenant's `web_caller_origins` when the settings list
them (settings, not the center document: it is the operator's choice of which sites may
embed the widget, and the check happens before any tenant state is loaded), a message
budget, three failed dials, and its offer checked (helpline.telephony.webrtc.offers).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any, cast

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.datastructures import Headers

from helpline.api.deps import app_state_of, ensure_runtime, resolve_principal
from helpline.api.rate_limit import RateLimit
from helpline.core.errors import HelplineError
from helpline.telephony.webrtc import WebRtcTelephony, agent_session, caller_session

router = APIRouter(tags=["web"])

CLOSE_TOO_MANY = 4429  # private-use close code (RFC 6455 7.4.2): 4000 + HTTP's 429


def phone_of(app: Any) -> WebRtcTelephony:
    """The `webrtc` adapter that `helpline.api.web.install` gave the app."""
    return cast(WebRtcTelephony, app.state.webrtc)


def _callers(app: Any) -> RateLimit:
    return cast(RateLimit, app.state.web_callers)


MESSAGES_PER_S = 20.0  # a page sends a few messages a second at most (keys, pings)
MESSAGE_BURST = 40.0
HELLO_TIMEOUT_S = 10.0
CLOSE_POLICY = 1008  # RFC 6455 7.4.1: policy violation


class _SocketChannel:
    """JSON objects over the websocket, with a message budget (review S4): a page that floods
    is closed with 1008; a binary frame or non-JSON text answers an error, never a traceback."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.tokens = MESSAGE_BURST
        self.at = time.monotonic()

    async def send(self, message: dict[str, Any]) -> None:
        await self.websocket.send_json(message)

    def _spend(self) -> bool:
        now = time.monotonic()
        self.tokens = min(MESSAGE_BURST, self.tokens + (now - self.at) * MESSAGES_PER_S)
        self.at = now
        self.tokens -= 1.0
        return self.tokens >= 0

    async def receive(self) -> dict[str, Any] | None:
        """The next JSON object; None when the socket is gone or was closed for flooding."""
        while True:
            event = await self.websocket.receive()
            if event["type"] == "websocket.disconnect":
                return None
            if not self._spend():
                await self.websocket.close(code=CLOSE_POLICY, reason="too many messages")
                return None
            text = event.get("text")
            message: Any = None
            if text is not None:
                with contextlib.suppress(ValueError):
                    message = json.loads(text)
            if isinstance(message, dict):
                return message
            await self.send({"type": "error", "message": "messages are JSON objects (text)"})

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while (message := await self.receive()) is not None:
                yield message


def source_of(host: str) -> str:
    """Whom a limit counts: an IPv4 address, or an IPv6 address's /64 (one subscriber's
    prefix: an attacker has 2^64 addresses in it)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class LiveCallers:
    """Web callers connected right now, per source and in all (review S1)."""

    def __init__(self, per_source: int, total: int) -> None:
        self.per_source = per_source
        self.total = total
        self.counts: dict[str, int] = {}

    def enter(self, source: str) -> str | None:
        """Count one more: None, or why not."""
        if sum(self.counts.values()) >= self.total:
            return "too many web calls: try again later"
        if self.counts.get(source, 0) >= self.per_source:
            return f"at most {self.per_source} web calls at once from one address"
        self.counts[source] = self.counts.get(source, 0) + 1
        return None

    def leave(self, source: str) -> None:
        left = self.counts.get(source, 0) - 1
        if left > 0:
            self.counts[source] = left
        else:
            self.counts.pop(source, None)


@router.websocket("/web/phone")
async def phone_ws(websocket: WebSocket) -> None:
    """A web caller of a tenant's hotline (`?tenant=<id>`, no credentials: the click-to-call
    widget is public), or else an agent's softphone, whose first message authenticates:
    `{"authorization": "Bearer <session or agent token>"}` (a secret in the URL would end in
    logs and in Referer headers)."""
    tenant = websocket.query_params.get("tenant")
    if tenant:
        await _caller(websocket, tenant)
    else:
        await _softphone(websocket)


async def _softphone(websocket: WebSocket) -> None:
    state = app_state_of(websocket.app)
    await websocket.accept()
    channel = _SocketChannel(websocket)
    try:
        hello = await asyncio.wait_for(channel.receive(), HELLO_TIMEOUT_S)
        if hello is None:
            return
        headers = Headers({"authorization": str(hello["authorization"])})
        who = await resolve_principal(headers, state)
    except (HelplineError, KeyError, TimeoutError) as error:
        reason = error.message if isinstance(error, HelplineError) else "send {authorization}"
        with contextlib.suppress(RuntimeError):
            await websocket.close(code=4401, reason=reason[:120])
        return
    except WebSocketDisconnect:
        return
    if who.agent_id is None:
        await websocket.close(code=4403, reason="a softphone needs an agent's session")
        return
    phone = phone_of(websocket.app)
    await agent_session(phone, who.tenant_id, who.agent_id, channel, channel.messages())


async def _caller(websocket: WebSocket, tenant: str) -> None:
    state = app_state_of(websocket.app)
    settings = state.settings
    allowed = settings.web_caller_origins.get(tenant)
    if allowed is not None and websocket.headers.get("origin") not in allowed:
        await websocket.close(code=4403)  # before accepting: the handshake gets a 403
        return
    await websocket.accept()
    # before any lookup: a flood from one address costs one dict entry, not a query each
    source = source_of(websocket.client.host if websocket.client else "unknown")
    wait = _callers(websocket.app).take(source, time.monotonic())
    if wait is not None:
        reason = f"too many calls: try again in {math.ceil(wait)} s"
        await websocket.close(code=CLOSE_TOO_MANY, reason=reason)
        return
    live = cast(LiveCallers, websocket.app.state.web_live_callers)
    refused = live.enter(source)
    if refused is not None:
        await websocket.close(code=CLOSE_TOO_MANY, reason=refused)
        return
    try:
        await ensure_runtime(state, tenant)  # a tenant created while the server runs
        if tenant not in state.hub.tenants:
            await websocket.close(code=4404, reason="tenant: no such tenant")
            return
        runtime = state.hub.runtime(tenant)

        def hotlines() -> set[str]:
            return set(runtime.engine.center.numbers)

        channel = _SocketChannel(websocket)
        violation = await caller_session(
            phone_of(websocket.app),
            tenant,
            channel,
            channel.messages(),
            hotlines,
            allow_private=settings.web_allow_private_candidates,
        )
        with contextlib.suppress(RuntimeError):
            if violation is not None:
                await websocket.close(code=CLOSE_POLICY, reason=violation)
            else:
                await websocket.close()
    finally:
        live.leave(source)
