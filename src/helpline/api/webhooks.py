"""Webhook subscriptions over REST (issue 4, point 9).

A subscription is a URL, an event filter and a `whsec_` secret: every delivery is signed per
the Standard Webhooks specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
The secret is shown when the subscription is created, on `GET` of that one subscription and
when it is rotated; never in lists. An endpoint that answers 410 Gone is disabled (see
`disabled_reason`); `PATCH {"enabled": true}` turns it back on.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from helpline.api.deps import Principal, api_key_only, app_state
from helpline.api.state import AppState
from helpline.core.errors import NotFound
from helpline.store import MAX_LIMIT
from helpline.store.models import DeliveryAttempt, WebhookSubscription
from helpline.webhooks import subscriptions as subs

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

State = Annotated[AppState, Depends(app_state)]
Admin = Annotated[Principal, Depends(api_key_only)]

MAX_URL_CHARS = 2000
MAX_EVENT_TYPES = 50
_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")
EVENT_TYPE_PATTERN = r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$"
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def _check_url(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("a URL may not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a port that is not a number in range
        httpx.URL(value)
    except Exception:
        raise ValueError("not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("the URL must be http or https")
    if not parts.hostname:
        raise ValueError("the URL needs a host")
    return value


Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="http or https URL deliveries are POSTed to",
        examples=["https://example.com/helpline/webhooks"],
    ),
    AfterValidator(_check_url),
]
EventType = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=EVENT_TYPE_PATTERN,
        description="an event type such as call.ended, a prefix wildcard such as call.*, or *",
    ),
]
EventTypes = Annotated[
    list[EventType],
    Field(
        max_length=MAX_EVENT_TYPES,
        description="which events to deliver: "
        + ", ".join(subs.EVENT_TYPES)
        + "; `call.*` takes every call event; empty takes every event",
    ),
]
SubscriptionId = Annotated[str, Path(min_length=1, max_length=200)]
Cursor = Annotated[str | None, Query(max_length=500, description="from `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: EventTypes = Field(default_factory=list)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = Field(default=None, description="true turns a disabled endpoint back on")


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="why it was disabled (e.g. 410 Gone)")
    created_at: float


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="whsec_...: verify each delivery's signature with it")


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryAttemptOut(BaseModel):
    id: int
    outbox_id: int
    message_id: str | None = Field(description="the delivery's webhook-id header")
    at: float
    status_code: int | None = Field(description="the endpoint's answer; null if none came")
    error: str | None
    duration_ms: float
    success: bool


class DeliveryAttemptPage(BaseModel):
    items: list[DeliveryAttemptOut]
    next_cursor: str | None


def _out(row: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "event_types": list(row.event_types or ()),
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
        "created_at": row.created_at,
    }


def _with_secret(row: WebhookSubscription) -> dict[str, Any]:
    return {**_out(row), "secret": row.secret}


def _not_found(subscription_id: str) -> NotFound:
    return NotFound(f"webhook subscription {subscription_id} not found", details={"field": "id"})


async def _find(state: AppState, tenant_id: str, subscription_id: str) -> WebhookSubscription:
    if not _ID.fullmatch(subscription_id):
        raise _not_found(subscription_id)
    row = await state.store.webhooks.get_subscription(tenant_id, subscription_id)
    if row is None:
        raise _not_found(subscription_id)
    return row


@router.post("", status_code=201, response_model=WebhookWithSecret)
async def create_webhook(body: WebhookCreate, state: State, who: Admin) -> Any:
    """Subscribe a URL to events; the answer holds the signing secret."""
    row = await state.store.webhooks.create_subscription(
        who.tenant_id, body.url, event_types=_unique(body.event_types)
    )
    subs.subscriptions_changed(state.store, who.tenant_id)
    return _with_secret(row)


@router.get("", response_model=WebhookPage)
async def list_webhooks(state: State, who: Admin, cursor: Cursor = None, limit: Limit = 100) -> Any:
    """The tenant's subscriptions, oldest first (without their secrets)."""
    page = await subs.list_page(state.store, who.tenant_id, cursor=cursor, limit=limit)
    return {"items": [_out(row) for row in page.items], "next_cursor": page.next_cursor}


@router.get("/{subscription_id}", response_model=WebhookWithSecret)
async def get_webhook(subscription_id: SubscriptionId, state: State, who: Admin) -> Any:
    """One subscription, with its signing secret."""
    return _with_secret(await _find(state, who.tenant_id, subscription_id))


@router.patch("/{subscription_id}", response_model=WebhookOut)
async def update_webhook(
    subscription_id: SubscriptionId, body: WebhookUpdate, state: State, who: Admin
) -> Any:
    """Change the URL, the filter, or enable/disable; enabling clears `disabled_reason`."""
    await _find(state, who.tenant_id, subscription_id)
    row = await state.store.webhooks.update_subscription(
        who.tenant_id,
        subscription_id,
        url=body.url,
        event_types=None if body.event_types is None else _unique(body.event_types),
        enabled=body.enabled,
    )
    subs.subscriptions_changed(state.store, who.tenant_id)
    if row is None:  # deleted meanwhile
        raise _not_found(subscription_id)
    return _out(row)


@router.delete("/{subscription_id}", status_code=204, response_class=Response)
async def delete_webhook(subscription_id: SubscriptionId, state: State, who: Admin) -> Response:
    """Unsubscribe; messages not yet delivered are dropped."""
    if not _ID.fullmatch(subscription_id) or not await state.store.webhooks.delete_subscription(
        who.tenant_id, subscription_id
    ):
        raise _not_found(subscription_id)
    subs.subscriptions_changed(state.store, who.tenant_id)
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", response_model=WebhookWithSecret)
async def rotate_webhook_secret(subscription_id: SubscriptionId, state: State, who: Admin) -> Any:
    """A new signing secret; every delivery from now on (retries too) is signed with it."""
    await _find(state, who.tenant_id, subscription_id)
    row = await subs.rotate_secret(state.store, who.tenant_id, subscription_id)
    if row is None:
        raise _not_found(subscription_id)
    return _with_secret(row)


@router.get("/{subscription_id}/attempts", response_model=DeliveryAttemptPage)
async def list_delivery_attempts(
    subscription_id: SubscriptionId,
    state: State,
    who: Admin,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Any:
    """Every try at delivering this subscription's messages, newest first."""
    await _find(state, who.tenant_id, subscription_id)
    page = await state.store.outbox.list_attempts(
        who.tenant_id, subscription_id=subscription_id, cursor=cursor, limit=limit
    )
    messages = await subs.messages_by_id(
        state.store, who.tenant_id, (a.outbox_id for a in page.items)
    )

    def out(attempt: DeliveryAttempt) -> dict[str, Any]:
        message = messages.get(attempt.outbox_id)
        code = attempt.status_code
        return {
            "id": attempt.id,
            "outbox_id": attempt.outbox_id,
            "message_id": message.message_id if message is not None else None,
            "at": attempt.at,
            "status_code": code,
            "error": attempt.error,
            "duration_ms": attempt.duration_ms,
            "success": code is not None and 200 <= code < 300,
        }

    return {"items": [out(a) for a in page.items], "next_cursor": page.next_cursor}
