"""The browser side (issue 6): the pages, what only they need, and the phone websocket.

- `/softphone` (seed 002 "Generic Softphone SSO": `?tenant=...&session=...`, embeddable),
  `/wallboard`, `/call`: plain HTML with JavaScript modules under `/web/...`, no build step.
- `GET /v1/web/me`: whose credentials these are (the softphone learns its agent).
- `POST /v1/calls/{id}/answer` and `/reject`: an agent's softphone answers or declines the
  call ringing on it (the sandbox's device endpoints need an API key; a softphone has a session).
- the wallboard's data: helpline.api.wallboard (its routes are included in this router).
- The websocket `/web/phone`: signalling of the `webrtc` telephony adapter (an agent's
  softphone, its session in the first message, or a web caller of a tenant's hotline
  number); its presence is the agent's online presence (routing type 1).
- `PUT /v1/audio/{name}`: a tenant's uploaded audio (checked and converted once, in a thread).

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
from functools import partial
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.datastructures import Headers

from helpline.api import records, wallboard
from helpline.api.deps import (
    Principal,
    api_key_only,
    app_state,
    app_state_of,
    ensure_runtime,
    principal,
    resolve_principal,
)
from helpline.api.errors import Forbidden
from helpline.api.rate_limit import RateLimit
from helpline.api.state import AppState
from helpline.core import events as ev
from helpline.core.errors import ClientError, Conflict, HelplineError, NotFound
from helpline.settings import Settings
from helpline.telephony.virtual import VirtualCarrier
from helpline.telephony.webrtc import (
    WebRtcTelephony,
    agent_session,
    allow_loopback,
    caller_session,
    fast_audio_level,
)

router = APIRouter(tags=["web"])
router.include_router(wallboard.router)  # one router for the composition root to mount

State = Annotated[AppState, Depends(app_state)]
Anyone = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(api_key_only)]
CallId = Annotated[str, PathParam(min_length=1, max_length=100)]

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PAGES = {"softphone": "softphone.html", "wallboard": "wallboard.html", "call": "call.html"}
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}
# no-store: a softphone must never run yesterday's script against today's API; no-referrer:
# the softphone's URL holds its SSO session (seed 002), which no request may carry away
PAGE_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
CLOSE_TOO_MANY = 4429  # private-use close code (RFC 6455 7.4.2): 4000 + HTTP's 429


def _serve_page(name: str) -> None:
    async def page() -> FileResponse:
        return FileResponse(WEB_DIR / PAGES[name], headers=PAGE_HEADERS)

    router.add_api_route(f"/{name}", page, methods=["GET"], include_in_schema=False)


for _name in PAGES:
    _serve_page(_name)


@router.get("/web/{name}", include_in_schema=False)
async def asset(name: Annotated[str, PathParam(pattern=r"^[a-z_]+\.(js|css)$")]) -> FileResponse:
    path = WEB_DIR / name
    if not path.is_file():
        raise NotFound(f"no such file: {name}", details={"field": "name"})
    return FileResponse(
        path, media_type=ASSET_TYPES[path.suffix], headers={"cache-control": "no-store"}
    )


class Me(BaseModel):
    tenant_id: str
    agent_id: str | None
    name: str | None


@router.get("/v1/web/me", response_model=Me, tags=["auth"])
async def me(state: State, who: Anyone) -> Me:
    """Whose credentials these are: the softphone learns its agent from its session."""
    name = None
    if who.agent_id is not None:
        agent = state.hub.runtime(who.tenant_id).engine.center.agents.get(who.agent_id)
        name = agent.name if agent is not None else None
    return Me(tenant_id=who.tenant_id, agent_id=who.agent_id, name=name)


def _ringing_agent(state: AppState, who: Principal, call_id: str) -> str:
    """The one check of who may answer or decline (an agent's own ringing call; an API key
    uses the sandbox's device endpoints instead)."""
    if who.agent_id is None:
        raise Forbidden("only the agent's own softphone answers or declines its calls")
    call = state.hub.runtime(who.tenant_id).engine.calls.get(call_id)
    if call is None or who.agent_id not in (call.agent_id, *call.offered_to):
        raise NotFound(f"call {call_id} not found", details={"field": "call_id"})
    if who.agent_id not in call.offered_to:
        raise Conflict(
            f"call {call_id} is not ringing on {who.agent_id}", details={"field": "call_id"}
        )
    return who.agent_id


@router.post("/v1/calls/{call_id}/answer", status_code=204, tags=["calls"])
async def answer_call(call_id: CallId, state: State, who: Anyone) -> None:
    """The agent's softphone answers the call ringing on it (409 if it no longer rings)."""
    agent_id = _ringing_agent(state, who, call_id)
    await state.hub.runtime(who.tenant_id).submit(
        ev.OfferAnswered(call_id=call_id, agent_id=agent_id)
    )


@router.post("/v1/calls/{call_id}/reject", status_code=204, tags=["calls"])
async def reject_call(call_id: CallId, state: State, who: Anyone) -> None:
    """The agent's softphone declines: the call goes back to its place in line."""
    agent_id = _ringing_agent(state, who, call_id)
    await state.hub.runtime(who.tenant_id).submit(
        ev.OfferRejected(call_id=call_id, agent_id=agent_id)
    )


# -- the phone (the webrtc adapter's signalling) and recordings ----------------------------------


def web_telephony(carrier: VirtualCarrier, settings: Settings | None = None) -> WebRtcTelephony:
    """The `webrtc` adapter in front of the virtual carrier (the composition root calls it).

    Media (prompt cache, uploaded audio, recordings) lives in the settings' `media_dir`
    (`install` points it at the app's settings, should they differ from `settings`).
    """
    allow_loopback()
    fast_audio_level()
    return WebRtcTelephony(carrier, _media_dir(settings or Settings()))


def _media_dir(settings: Settings) -> Path:
    return Path(settings.media_dir).resolve()


def install(app: Any, phone: WebRtcTelephony) -> None:
    """Give the routes the adapter, and the adapter its media folder and recordings' sink."""
    state = app_state_of(app)
    if phone.media_dir != _media_dir(state.settings):
        phone.use_media_dir(_media_dir(state.settings))
    app.state.webrtc = phone
    app.state.web_callers = RateLimit(state.settings.web_caller_per_minute)
    app.state.web_live_callers = _LiveCallers(
        state.settings.web_caller_max_per_source, state.settings.web_caller_max_calls
    )
    phone.on_recording = partial(_store_recording, app)
    records.install_voicemail(app, phone)  # voicemail messages: helpline.api.records


async def _store_recording(
    app: Any, tenant_id: str, call_id: str, path: Path, duration: float
) -> None:
    state = app_state_of(app)
    runtime = state.hub.tenants.get(tenant_id)
    if runtime is not None:  # the call's record is written: point it here
        with contextlib.suppress(TimeoutError):  # a stopped runtime (shutdown) never settles
            await asyncio.wait_for(runtime.settle(), SETTLE_LIMIT_S)
    url = f"{state.settings.base_url()}/v1/call-records/{call_id}/recording"
    await state.store.recordings.add_recording(tenant_id, call_id, url, duration_s=duration)
    records.announce_media(app, tenant_id, call_id, kind="recording", url=url, duration=duration)


def _phone(app: Any) -> WebRtcTelephony:
    return cast(WebRtcTelephony, app.state.webrtc)


def _callers(app: Any) -> RateLimit:
    return cast(RateLimit, app.state.web_callers)


@router.get("/v1/call-records/{call_id}/recording", tags=["call records"])
async def recording(call_id: CallId, state: State, who: Anyone, request: Request) -> FileResponse:
    """The call's recording: a stereo WAV, the caller left, the agent right."""
    if who.is_agent:
        row = await state.store.records.get_record(who.tenant_id, call_id)
        if row is None or row.agent_id != who.agent_id:
            raise NotFound(f"no recording for call {call_id}", details={"field": "call_id"})
    path = _phone(request.app).recording_path(who.tenant_id, call_id)
    if not path.is_file():
        raise NotFound(f"no recording for call {call_id}", details={"field": "call_id"})
    return FileResponse(path, media_type="audio/wav")


MAX_AUDIO_BYTES = 20 * 1024 * 1024
SETTLE_LIMIT_S = 5.0
AudioName = Annotated[str, PathParam(pattern=r"^[\w-]{1,100}$")]


@router.put("/v1/audio/{name}", status_code=201, tags=["audio"])
async def upload_audio(
    name: AudioName, request: Request, state: State, who: Admin
) -> dict[str, Any]:
    """Upload a 16-bit PCM WAV (8-48 kHz, mono or stereo, at most 10 minutes) to use as the
    tenant's prompt, greeting or hold music: name it in the center document's `audio` or
    `hold_music`. It is converted once, here, to what calls play."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_AUDIO_BYTES):
        raise ClientError("body: at most 20 MB of audio", details={"field": "body"})
    body = bytearray()
    async for chunk in request.stream():  # a lying or absent Content-Length: a running cap
        body += chunk
        if len(body) > MAX_AUDIO_BYTES:
            raise ClientError("body: at most 20 MB of audio", details={"field": "body"})
    prompts = _phone(request.app).prompts
    try:  # decode, resample, write: seconds of CPU and disk, never on the event loop
        seconds = await asyncio.to_thread(prompts.store_upload, who.tenant_id, name, bytes(body))
    except ValueError as error:
        raise ClientError(f"body: {error}", details={"field": "body"}) from None
    return {"name": name, "duration_s": seconds}


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


class _LiveCallers:
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
    phone = _phone(websocket.app)
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
    live = cast(_LiveCallers, websocket.app.state.web_live_callers)
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
            _phone(websocket.app),
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
