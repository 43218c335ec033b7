"""Menus with materialized paths and multiple mobile apps (seed 004), as configuration: edited
in the center document through the native API, shown by the CCAI API."""

from __future__ import annotations

import pytest
from api_support import Api, error_of, field_paths, ok
from ccai_support import MANAGER, V1, ccai_center, use_center

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_menus_with_their_materialized_paths(api: Api) -> None:
    await use_center(api.client)
    menus = ok(await api.client.get(f"{MANAGER}/menus"))
    assert [m["id"] for m in menus] == [1, 10, 11, 12, 13, 2, 20, 29, 42, 30]  # tree order
    paths = {m["id"]: (m["id_path"], m["materialized_path"]) for m in menus}
    assert paths[1] == ("1", "Support")
    assert paths[12] == ("1/11/12", "Support / Technical / Internet")
    assert paths[42] == ("20/42", "Customer App / Desktop")
    internet = ok(await api.client.get(f"{MANAGER}/menus/12"))
    assert internet == {
        "id": 12,
        "name": "Internet",
        "parent_id": 11,
        "menu_type": "ivr_menu",
        "channels": ["voice_call"],
        "languages": ["en"],
        "materialized_path": "Support / Technical / Internet",
        "id_path": "1/11/12",
        "children": [],
        "queue_id": "internet",
        "outbound_numbers": [],
        "direct_access_points": [],
    }
    assert ok(await api.client.get(f"{V1}/menus/11"))["children"] == [12, 13]
    error = error_of(await api.client.get(f"{MANAGER}/menus/99"), 404, "not_found")
    assert error["details"] == {"field": "menu_id"}
    assert ok(await api.other.get(f"{MANAGER}/menus")) == []  # another tenant's: none


async def test_mobile_apps_and_their_access_points(api: Api) -> None:
    await use_center(api.client)
    apps = ok(await api.client.get(f"{MANAGER}/mobile_apps"))
    assert [a["name"] for a in apps] == ["Customer App", "Staff App"]
    customer, staff = apps
    assert customer["status"] == "active"
    assert customer["direct_access_points"] == [
        {"menu_id": 20, "menu_type": "mobile_menu", "name": "Customer app entry"}
    ]
    assert (customer["ios_push_configured"], customer["android_push_configured"]) == (True, True)
    assert (customer["fallback_phone_number"], customer["fallback_threshold"]) == (
        "+17144505656",
        0.98,
    )
    # the push credentials are never shown back
    assert "fcm-secret-key" not in str(apps) and "BEGIN CERTIFICATE" not in str(apps)
    # Staff App is not assigned to an in-app queue yet: it cannot be switched on
    assert staff["status"] == "not_assigned"
    assert staff["direct_access_points"] == []

    # assign it to a top-level mobile menu: it can be switched on, then it is active
    document = ccai_center()
    document["menus"].append(
        {
            "id": 60,
            "name": "Staff",
            "menu_type": "mobile_menu",
            "queue": "tv",
            "direct_access_points": [
                {"kind": "mobile_app", "name": "Staff entry", "mobile_app": "Staff App"}
            ],
        }
    )
    await use_center(api.client, document)
    staff = ok(await api.client.get(f"{MANAGER}/mobile_apps"))[1]
    assert (staff["status"], staff["active"]) == ("off", False)
    document["mobile_apps"][1]["active"] = True
    await use_center(api.client, document)
    assert ok(await api.client.get(f"{MANAGER}/mobile_apps"))[1]["status"] == "active"


async def test_the_center_document_keeps_menus_and_apps(api: Api) -> None:
    await use_center(api.client)
    stored = ok(await api.client.get("/v1/config"))["document"]
    assert [m["id"] for m in stored["menus"]] == [1, 10, 11, 12, 13, 2, 20, 29, 42, 30]
    assert [a["name"] for a in stored["mobile_apps"]] == ["Customer App", "Staff App"]
    # editing another part of the document keeps them
    ok(await api.client.put("/v1/groups/tv_team", json={"id": "tv_team", "agents": ["tia"]}))
    again = ok(await api.client.get("/v1/config"))["document"]
    assert (again["menus"], again["mobile_apps"]) == (stored["menus"], stored["mobile_apps"])


async def test_a_bad_menu_is_refused_naming_its_path(api: Api) -> None:
    await use_center(api.client)
    document = ccai_center()
    document["menus"][3]["queue"] = "nowhere"
    error = error_of(await api.client.put("/v1/config", json=document), 422)
    assert field_paths(error) == ["menus[3].queue"]
    document = ccai_center()
    document["menus"][3]["channels"] = ["fax"]
    error = error_of(await api.client.put("/v1/config", json=document), 422)
    assert field_paths(error) == ["body.menus[3].channels[0]"]  # the body as FastAPI reads it
    # nothing changed
    assert ok(await api.client.get(f"{MANAGER}/menus/12"))["queue_id"] == "internet"


async def test_a_queue_a_menu_uses_cannot_be_deleted(api: Api) -> None:
    await use_center(api.client)
    error = error_of(await api.client.delete("/v1/queues/tv"), 409, "conflict")
    assert error["details"] == {"path": "menus[4].queue"}
    assert ok(await api.client.get("/v1/queues/tv"))["id"] == "tv"
