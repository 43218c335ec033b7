"""Call records (issue 4, point 7) and recordings metadata.

`GET /v1/call-records?start=&end=&cursor=&limit=`: records that ended in [start, end), oldest
first, with a stable cursor (records that end while a client pages appear on later pages,
never twice) and a capped limit; `GET /v1/call-records/{id}`; the same list as CSV at
`GET /v1/call-records.csv`, streamed page by page; `GET /v1/call-records/{id}/voicemail`, the
caller's voicemail message (a mono WAV) of a call that went to a mailbox, once it is kept.
When a recording or a message is kept, `call.media_ready` says so, live and as a webhook
(`api/media_ready.py`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path as FilePath
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from helpline.api.deps import Principal, app_state, app_state_of, principal
from helpline.api.media_ready import keep_media
from helpline.api.state import AppState
from helpline.core.errors import NotFound
from helpline.store.serialize import record_to_dict
from helpline.telephony.webrtc import WebRtcTelephony
from helpline.telephony.webrtc.voicemail import voicemail_path

router = APIRouter(prefix="/v1", tags=["call records"])

State = Annotated[AppState, Depends(app_state)]
Anyone = Annotated[Principal, Depends(principal)]
log = logging.getLogger("helpline.api")

MAX_LIMIT = 1000

Start = Annotated[float | None, Query(description="epoch seconds: ended at or after")]
End = Annotated[float | None, Query(description="epoch seconds: ended before")]
Cursor = Annotated[str | None, Query(max_length=500, description="from `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


class Leg(BaseModel):
    agent_id: str | None
    queue_id: str | None
    offered_at: float | None
    answered_at: float | None
    ended_at: float | None
    talk_s: float
    hold_s: float
    external_number: str | None = None


class CallRecordOut(BaseModel):
    call_id: str
    direction: str
    from_number: str
    to_number: str
    result: str = Field(
        description="answered, abandoned_in_ivr, abandoned_in_queue, "
        "ended_in_ivr, no_agent, failed, transferred_external, "
        "voicemail or callback_requested"
    )
    disconnected_by: str
    end_reason: str
    created_at: float
    queued_at: float | None
    offered_at: float | None
    answered_at: float | None
    ended_at: float
    wait_s: float
    talk_s: float
    hold_s: float
    wrap_up_s: float | None
    queue_id: str | None
    agent_id: str | None
    ivr_tree: str | None
    ivr_path: list[str]
    keys: str
    priority: int
    legs: list[Leg]
    decisions: list[dict[str, Any]] = Field(description="why the call went to whom")
    recorded: bool
    recording_url: str | None = None
    voicemail_url: str | None = Field(
        default=None, description="the caller's voicemail message (a mono WAV), if one was left"
    )
    disposition: str | None = None
    notes: str | None = None
    data: dict[str, str]


class CallRecordPage(BaseModel):
    items: list[CallRecordOut]
    next_cursor: str | None


class RecordingOut(BaseModel):
    id: str
    call_id: str
    url: str
    duration_s: float | None
    content_type: str | None
    created_at: float


class RecordingPage(BaseModel):
    items: list[RecordingOut]
    next_cursor: str | None


def _visible(who: Principal, record: dict[str, Any]) -> bool:
    if not who.is_agent:
        return True
    return any(leg.get("agent_id") == who.agent_id for leg in record["legs"])


@router.get("/call-records", response_model=CallRecordPage)
async def list_records(
    *,
    state: State,
    who: Anyone,
    start: Start = None,
    end: End = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Any:
    page = await state.store.records.list_records(
        who.tenant_id, start=start, end=end, cursor=cursor, limit=limit
    )
    items = [record_to_dict(row) for row in page.items]
    return {"items": [r for r in items if _visible(who, r)], "next_cursor": page.next_cursor}


_CSV_FIELDS = (
    "call_id", "direction", "from_number", "to_number", "result", "disconnected_by",
    "end_reason", "created_at", "queued_at", "offered_at", "answered_at", "ended_at", "wait_s",
    "talk_s", "hold_s", "wrap_up_s", "queue_id", "agent_id", "ivr_tree", "ivr_path", "keys",
    "priority", "legs", "recorded", "recording_url", "voicemail_url", "disposition", "notes",
)  # fmt: skip


@router.get(
    "/call-records.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "the records as CSV"}},
)
async def records_csv(
    state: State, who: Anyone, start: Start = None, end: End = None
) -> StreamingResponse:
    """Every record that ended in [start, end), as CSV (one row a call; legs as JSON)."""

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_CSV_FIELDS)
        cursor: str | None = None
        while True:
            page = await state.store.records.list_records(
                who.tenant_id, start=start, end=end, cursor=cursor, limit=MAX_LIMIT
            )
            for row in page.items:
                record = record_to_dict(row)
                if not _visible(who, record):
                    continue
                writer.writerow([_cell(record.get(name)) for name in _CSV_FIELDS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="call-records.csv"'},
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@router.get("/call-records/{call_id}", response_model=CallRecordOut)
async def get_record(
    call_id: Annotated[str, Path(min_length=1, max_length=200)], state: State, who: Anyone
) -> Any:
    row = await state.store.records.get_record(who.tenant_id, call_id)
    record = record_to_dict(row) if row is not None else None
    if record is None or not _visible(who, record):
        raise NotFound(f"call record {call_id} not found", details={"field": "call_id"})
    return record


@router.get("/recordings", response_model=RecordingPage, tags=["recordings"])
async def list_recordings(
    state: State, who: Anyone, cursor: Cursor = None, limit: Limit = 100
) -> Any:
    page = await state.store.recordings.list_recordings(who.tenant_id, cursor=cursor, limit=limit)
    return {"items": [_recording(r) for r in page.items], "next_cursor": page.next_cursor}


@router.get("/recordings/{recording_id}", response_model=RecordingOut, tags=["recordings"])
async def get_recording(
    recording_id: Annotated[str, Path(min_length=1, max_length=200)], state: State, who: Anyone
) -> Any:
    found = await state.store.recordings.get_recording(who.tenant_id, recording_id)
    if found is None:
        raise NotFound(f"recording {recording_id} not found", details={"field": "recording_id"})
    return _recording(found)


def _recording(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "call_id": row.call_id,
        "url": row.url,
        "duration_s": row.duration_s,
        "content_type": row.content_type,
        "created_at": row.created_at,
    }


@router.get("/call-records/{call_id}/voicemail", response_class=FileResponse)
async def voicemail(
    call_id: Annotated[str, Path(min_length=1, max_length=100)],
    state: State,
    who: Anyone,
    request: Request,
) -> FileResponse:
    """The caller's voicemail message: a 16-bit mono WAV at 16 kHz (the same rights as the
    call's recording: an API key, or the agent who had the call)."""
    missing = NotFound(
        f"no voicemail message (yet) for call {call_id}", details={"field": "call_id"}
    )
    row = await state.store.records.get_record(who.tenant_id, call_id)
    if row is None or (who.is_agent and row.agent_id != who.agent_id):
        raise missing
    # the file exists from the beep on, but is whole (its WAV header's sizes written) only once
    # the message has ended and the record points at it (`_store_voicemail`)
    if not row.voicemail_url:
        raise missing
    path = voicemail_path(_phone(request.app).media_dir, who.tenant_id, call_id)
    if not path.is_file():
        raise missing
    return FileResponse(path, media_type="audio/wav")


def install_voicemail(app: Any, phone: WebRtcTelephony) -> None:
    """Give the adapter's voicemail its length limit and a sink that points records at
    their messages (the composition root calls it with the other web wiring)."""
    phone.voicemail.max_s = app_state_of(app).settings.voicemail_max_s
    phone.voicemail.on_message = partial(_store_voicemail, app)


async def _store_voicemail(
    app: Any, tenant_id: str, call_id: str, path: FilePath, duration: float
) -> None:
    state = app_state_of(app)
    url = f"{state.settings.base_url()}/v1/call-records/{call_id}/voicemail"
    await keep_media(
        app,
        tenant_id,
        call_id,
        kind="voicemail",
        url=url,
        duration=duration,
        point=partial(state.store.records.set_voicemail_url, tenant_id, call_id, url),
    )


def _phone(app: Any) -> WebRtcTelephony:
    return cast(WebRtcTelephony, app.state.webrtc)
