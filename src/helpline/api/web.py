"""The browser side (issue 6): the pages, what only they need, and the phone websocket.

- `/softphone` (seed 002 "Generic Softphone SSO": `?tenant=...&session=...`, embeddable),
  `/wallboard`, `/call`: plain HTML with JavaScript modules under `/web/...`, no build step.
- `GET /v1/web/me`: whose credentials these are (the softphone learns its agent).
- `POST /v1/calls/{id}/answer` and `/reject`: an agent's softphone answers or declines the
  call ringing on it (the sandbox's device endpoints need an API key; a softphone has a session).
- the wallboard's data: helpline.api.wallboard (its routes are included in this router).
- The websocket `/web/phone`: helpline.api.web_phone (its routes are included too), the
  signalling of the `webrtc` telephony adapter and the fences around web callers.
- `PUT /v1/audio/{name}`: a tenant's uploaded audio (checked and converted once, in a thread).
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel

from helpline.api import records, wallboard, web_phone
from helpline.api.deps import Principal, api_key_only, app_state, app_state_of, principal
from helpline.api.errors import Forbidden
from helpline.api.media_ready import keep_media
from helpline.api.rate_limit import RateLimit
from helpline.api.state import AppState
from helpline.api.web_phone import LiveCallers, phone_of, source_of
from helpline.core import events as ev
from helpline.core.errors import ClientError, Conflict, NotFound
from helpline.settings import Settings
from helpline.store.base import new_id
from helpline.telephony.virtual import VirtualCarrier
from helpline.telephony.webrtc import WebRtcTelephony, allow_loopback, fast_audio_level

__all__ = ["install", "router", "source_of", "web_telephony"]

router = APIRouter(tags=["web"])
router.include_router(wallboard.router)  # one router for the composition root to mount
router.include_router(web_phone.router)

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
    app.state.web_live_callers = LiveCallers(
        state.settings.web_caller_max_per_source, state.settings.web_caller_max_calls
    )
    phone.on_recording = partial(_store_recording, app)
    records.install_voicemail(app, phone)  # voicemail messages: helpline.api.records


async def _store_recording(
    app: Any, tenant_id: str, call_id: str, path: Path, duration: float
) -> None:
    state = app_state_of(app)
    url = f"{state.settings.base_url()}/v1/call-records/{call_id}/recording"
    recording_id = new_id("rcd")  # one id for every try: a retry adds no second recording

    async def point() -> bool:
        await state.store.recordings.add_recording(
            tenant_id, call_id, url, duration_s=duration, recording_id=recording_id
        )
        return True  # kept even before its record exists (`add_recording`)

    await keep_media(
        app, tenant_id, call_id, kind="recording", url=url, duration=duration, point=point
    )


@router.get("/v1/call-records/{call_id}/recording", tags=["call records"])
async def recording(call_id: CallId, state: State, who: Anyone, request: Request) -> FileResponse:
    """The call's recording: a stereo WAV, the caller left, the agent right (once kept)."""
    missing = NotFound(f"no recording (yet) for call {call_id}", details={"field": "call_id"})
    if who.is_agent:
        row = await state.store.records.get_record(who.tenant_id, call_id)
        if row is None or row.agent_id != who.agent_id:
            raise missing
    # the file grows while the call is up; it is whole (its WAV sizes written) only once the
    # recording is kept (`_store_recording`), so serve it from then on
    kept = await state.store.recordings.list_recordings(who.tenant_id, call_id=call_id, limit=1)
    path = phone_of(request.app).recording_path(who.tenant_id, call_id)
    if not kept.items or not path.is_file():
        raise missing
    return FileResponse(path, media_type="audio/wav")


MAX_AUDIO_BYTES = 20 * 1024 * 1024
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
    prompts = phone_of(request.app).prompts
    try:  # decode, resample, write: seconds of CPU and disk, never on the event loop
        seconds = await asyncio.to_thread(prompts.store_upload, who.tenant_id, name, bytes(body))
    except ValueError as error:
        raise ClientError(f"body: {error}", details={"field": "body"}) from None
    return {"name": name, "duration_s": seconds}
