"""What the CCAI tests share: a center with a tree of queue menus and mobile apps, the
vendor's paths, a way to put calls into queues through the sandbox carrier, and the seed's
call object (one copy, checked by `assert_call_shape` wherever a call object comes back)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from api_support import connected, device, ok, place, put_document, wait_state

V1 = "/compat/ccai/apps/api/v1"
MANAGER = "/compat/ccai/manager/api/v1"

GLOBAL_NUMBER = "+18885550000"
SAMPLE_OUTBOUND = "+18888888888"  # seed 004's sample: menu 12's one outbound number
BILLING_NUMBERS = ["+18885550101", "+18885550102"]
WEB_NUMBER = "+18885550301"

# hotline numbers straight into a queue, to put callers in line
LINES = {"billing": "+18885550010", "internet": "+18885550012", "sales": "+18885550002"}

_CENTER: dict[str, Any] = {
    "name": "CCAI test center",
    "settings": {"global_number": GLOBAL_NUMBER},
    "numbers": [{"number": number, "queue": queue} for queue, number in LINES.items()],
    "queues": [
        {
            "id": "billing",
            "groups": ["billing_team"],
            "outbound_numbers": BILLING_NUMBERS,
            "recording": "ask",
        },
        {
            "id": "internet",
            "groups": ["tech_team"],
            "outbound_numbers": [SAMPLE_OUTBOUND],
            "recording": "record",
        },
        {"id": "tv", "groups": ["tv_team"]},
        {"id": "sales", "groups": ["sales_team"], "recording": "do_not_record"},
    ],
    "groups": [
        {"id": "billing_team", "agents": ["ann", "amy", "abe"]},
        {"id": "tech_team", "agents": ["ben"]},
        {"id": "tv_team", "agents": ["tia"]},
        {"id": "sales_team", "agents": ["cat"]},
    ],
    "agents": [
        {"id": name, "name": name.title()} for name in ("ann", "amy", "abe", "ben", "tia", "cat")
    ],
    # the tree: 1 Support (en, es) > 10 Subscription, 11 Technical > 12 Internet, 13 TV;
    # 2 Sales; 20 Customer App (mobile) > 29 Laptop, 42 Desktop; 30 Web
    "menus": [
        {"id": 1, "name": "Support", "languages": ["en", "es"]},
        {
            "id": 10,
            "name": "Subscription",
            "parent": 1,
            "queue": "billing",
            "languages": ["en", "es"],
        },
        {"id": 11, "name": "Technical", "parent": 1},
        {"id": 12, "name": "Internet", "parent": 11, "queue": "internet"},
        {"id": 13, "name": "TV", "parent": 11, "queue": "tv"},
        {"id": 2, "name": "Sales", "queue": "sales"},
        {
            "id": 20,
            "name": "Customer App",
            "menu_type": "mobile_menu",
            "channels": ["voice_call", "chat"],
            "direct_access_points": [
                {"kind": "mobile_app", "name": "Customer app entry", "mobile_app": "Customer App"}
            ],
        },
        {
            "id": 29,
            "name": "Laptop",
            "parent": 20,
            "menu_type": "mobile_menu",
            "channels": ["voice_call", "chat"],
            "queue": "billing",
        },
        {
            "id": 42,
            "name": "Desktop",
            "parent": 20,
            "menu_type": "mobile_menu",
            "channels": ["chat"],
            "queue": "internet",
        },
        {
            "id": 30,
            "name": "Web",
            "menu_type": "web_menu",
            "channels": ["chat", "voice_call"],
            "queue": "sales",
            "outbound_numbers": [WEB_NUMBER],
        },
    ],
    "mobile_apps": [
        {
            "name": "Customer App",
            "ios_identifier": "com.example.customer",
            "android_identifier": "com.example.customer",
            "ios_push_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "android_fcm_key": "fcm-secret-key",
            "fallback_phone_number": "+17144505656",
            "fallback_threshold": 0.98,
            "sms_links": True,
            "app_store_url": "https://apps.example.com/customer",
            "active": True,
        },
        {
            "name": "Staff App",
            "android_identifier": "com.example.staff",
            "android_fcm_key": "fcm-staff-key",
        },
    ],
}


def ccai_center() -> dict[str, Any]:
    """A fresh copy of the test center."""
    return copy.deepcopy(_CENTER)


async def use_center(client: httpx.AsyncClient, document: dict[str, Any] | None = None) -> None:
    await put_document(client, document or ccai_center())


async def line_up(
    client: httpx.AsyncClient, queue: str, agents: list[str], waiting: int
) -> list[str]:
    """Every agent online and on a call of `queue`, then `waiting` more callers in line.
    Returns the call ids: the connected ones first."""
    calls = []
    for index, agent in enumerate(agents):
        await device(client, agent)
        call_id = await place(client, LINES[queue], from_number=f"+1555200{index:04d}")
        await connected(client, call_id, agent)
        calls.append(call_id)
    for index in range(waiting):
        call_id = await place(client, LINES[queue], from_number=f"+1555300{index:04d}")
        await wait_state(client, call_id, "queued")
        calls.append(call_id)
    return calls


async def post_call(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    body: dict[str, Any] = {"call_type": "IncomingCall", "end_user_number": "+19999999999"}
    body.update(fields)
    return await client.post(f"{V1}/calls", json=body)


async def make_call(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    found: dict[str, Any] = ok(await post_call(client, **fields), 201)
    return found


# seed 004 "Success response sample", verbatim
SAMPLE: dict[str, Any] = {
    "id": 6868,
    "lang": "en",
    "call_type": "IncomingCall",
    "status": "queued",
    "created_at": "2019-04-04T15:42:14.000Z",
    "queued_at": "2019-04-04T15:42:14.000Z",
    "assigned_at": None,
    "connected_at": None,
    "ends_at": None,
    "scheduled_at": None,
    "wait_duration": 0,
    "call_duration": 0,
    "hold_duration": 0,
    "rating": None,
    "has_feedback": False,
    "out_ticket_id": None,
    "out_ticket_url": None,
    "verified": False,
    "recording_url": None,
    "voicemail_reason": "not_voicemail",
    "deflection": "no_deflection",
    "disconnected_by": "disconnected_by_unknown",
    "fail_reason": "nothing",
    "fail_details": None,
    "support_number": "+18888888888",
    "selected_menu": 12,
    "menu_path": None,
    "queue_priority_level": 0,
    "agent_info": None,
    "end_user": None,
    "photos": [],
    "videos": [],
    "transfers": [],
    "participants": [],
    "offer_type": "cascade",
    "offer_events": [],
    "answer_type": "manual",
    "outbound_number": "+18888888888",
}
# what the sample's nulls hold once known
NULLABLE: dict[str, type | tuple[type, ...]] = {
    "assigned_at": str,
    "connected_at": str,
    "ends_at": str,
    "scheduled_at": str,
    "rating": int,
    "out_ticket_id": str,  # seed 004 request table: ticket_id String
    "out_ticket_url": str,
    "recording_url": str,
    "fail_details": str,
    "menu_path": str,
    "agent_info": dict,
    "end_user": dict,
}


def assert_call_shape(body: dict[str, Any]) -> None:
    """Every key of the sample and no other, each of the sample's type (or null where the
    sample has null)."""
    assert set(body) == set(SAMPLE), set(body) ^ set(SAMPLE)
    for key, sample in SAMPLE.items():
        value = body[key]
        if sample is None:
            assert value is None or isinstance(value, NULLABLE[key]), (key, value)
        else:
            assert type(value) is type(sample), (key, value)
    for key in ("created_at", "queued_at", "assigned_at", "connected_at", "ends_at"):
        value = body[key]
        assert value is None or (len(value) == 24 and value.endswith("Z")), (key, value)
