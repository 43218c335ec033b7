"""Queue menus and mobile apps in the center document (seed 004): what a valid document is,
and every rule a document can break, each error naming the bad field's path. Pure: the
document is validated as the server, the simulator and `helpline config check` do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ccai_support import ccai_center

from helpline.config import center_document, parse_center
from helpline.config.menus import menu_sections
from helpline.core.errors import ConfigError

Change = Callable[[dict[str, Any]], None]


def _menu(document: dict[str, Any], menu_id: int) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in document["menus"] if m["id"] == menu_id)
    return found


def _app(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in document["mobile_apps"] if a["name"] == name)
    return found


def test_the_test_center_is_valid_and_its_sections_round_trip() -> None:
    document = ccai_center()
    parse_center(document)
    sections = menu_sections(document)
    assert [m["id"] for m in sections["menus"]] == [1, 10, 11, 12, 13, 2, 20, 29, 42, 30]
    assert _menu(sections, 11)["menu_type"] == "ivr_menu"  # the default
    assert _menu(sections, 11)["languages"] == ["en"]
    assert _menu(sections, 11)["channels"] == ["voice_call"]
    # the engine's document and the menu sections together read back the same
    again = {**center_document(parse_center(document)), **sections}
    assert menu_sections(again) == sections
    parse_center(again)


def test_menus_and_apps_may_be_mappings_keyed_by_id_and_name() -> None:
    document = ccai_center()
    document["menus"] = {m.pop("id"): m for m in document["menus"]}
    document["mobile_apps"] = {a.pop("name"): a for a in document["mobile_apps"]}
    parse_center(document)
    assert menu_sections(document) == menu_sections(ccai_center())


def _set(path: list[Any], value: Any) -> Change:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _add_menu(**menu: Any) -> Change:
    return lambda document: document["menus"].append(menu)


def _add_app(**app: Any) -> Change:
    return lambda document: document["mobile_apps"].append(app)


def _dap(menu_id: int, **dap: Any) -> Change:
    def change(document: dict[str, Any]) -> None:
        _menu(document, menu_id).setdefault("direct_access_points", []).append(dap)

    return change


MOBILE_DAP = {"kind": "mobile_app", "name": "entry"}

# menus: 0:1 Support, 1:10, 2:11, 3:12, 4:13, 5:2 Sales, 6:20 App, 7:29, 8:42, 9:30 Web
BROKEN: list[tuple[str, Change, str, str]] = [
    ("leaf without queue", _set(["menus", 5, "queue"], None), "menus[5].queue", "needs a queue"),
    ("parent with queue", _set(["menus", 0, "queue"], "sales"), "menus[0].queue", "sub-menus"),
    ("unknown queue", _set(["menus", 3, "queue"], "nope"), "menus[3].queue", "no queue"),
    ("unknown parent", _set(["menus", 3, "parent"], 77), "menus[3].parent", "no menu has id 77"),
    ("duplicate id", _add_menu(id=12, name="Again", queue="tv"), "menus[10].id", "duplicate"),
    ("cycle", _set(["menus", 0, "parent"], 12), "menus[0].parent", "its own ancestor"),
    (
        "type differs from the parent's",
        _set(["menus", 1, "menu_type"], "web_menu"),
        "menus[1].menu_type",
        "parent's type",
    ),
    (
        "a language the parent lacks",
        _set(["menus", 3, "languages"], ["en", "fr"]),
        "menus[3].languages",
        "fr not among",
    ),
    ("no channel", _set(["menus", 5, "channels"], []), "menus[5].channels", "at least 1"),
    ("bad channel", _set(["menus", 5, "channels"], ["fax"]), "menus[5].channels[0]", ""),
    ("twice a channel", _set(["menus", 9, "channels"], ["chat", "chat"]), "menus[9].channels", ""),
    ("bad menu type", _set(["menus", 5, "menu_type"], "sms_menu"), "menus[5].menu_type", ""),
    ("bad language", _set(["menus", 5, "languages"], ["English"]), "menus[5].languages[0]", ""),
    ("id not positive", _set(["menus", 5, "id"], 0), "menus[5].id", ""),
    (
        "bad outbound",
        _set(["menus", 9, "outbound_numbers"], ["x"]),
        "menus[9].outbound_numbers[0]",
        "",
    ),
    ("misspelt field", _set(["menus", 5, "queeue"], "sales"), "menus[5].queeue", ""),
    (
        "mobile app DAP below the top",
        _dap(29, **MOBILE_DAP, mobile_app="Staff App"),
        "menus[7].direct_access_points[0].kind",
        "top-level",
    ),
    (
        "mobile app DAP on a web menu",
        _dap(30, **MOBILE_DAP, mobile_app="Staff App"),
        "menus[9].direct_access_points[0].kind",
        "mobile and IVR",
    ),
    (
        "DAP for an unknown app",
        _dap(2, **MOBILE_DAP, mobile_app="Nope"),
        "menus[5].direct_access_points[0].mobile_app",
        "no mobile app",
    ),
    (
        "DAP without its app",
        _dap(2, **MOBILE_DAP),
        "menus[5].direct_access_points[0].mobile_app",
        "names its app",
    ),
    (
        "an app in two top-level mobile menus",
        _add_menu(
            id=50,
            name="Second",
            menu_type="mobile_menu",
            queue="tv",
            direct_access_points=[{**MOBILE_DAP, "mobile_app": "Customer App"}],
        ),
        "menus[10].direct_access_points[0].mobile_app",
        "already assigned to menu 20",
    ),
    (
        "a general DAP naming an app",
        _dap(2, kind="general", name="g", mobile_app="Staff App"),
        "menus[5].direct_access_points[0].mobile_app",
        "only a mobile_app",
    ),
    (
        "two apps, one name",
        _add_app(name="Staff App", android_identifier="x", android_fcm_key="k"),
        "mobile_apps[2].name",
        "another mobile app",
    ),
    ("no identifier", _add_app(name="Bare"), "mobile_apps[2].ios_identifier", "or both"),
    (
        "an identifier of another app",
        _add_app(name="Copy", ios_identifier="com.example.staff", ios_push_certificate="pem"),
        "mobile_apps[2].ios_identifier",
        "'Staff App'",
    ),
    (
        "fallback number without threshold",
        _set(["mobile_apps", 0, "fallback_threshold"], None),
        "mobile_apps[0].fallback_threshold",
        "needs it",
    ),
    (
        "threshold above 1",
        _set(["mobile_apps", 0, "fallback_threshold"], 1.5),
        "mobile_apps[0].fallback_threshold",
        "",
    ),
    (
        "fallback number not a number",
        _set(["mobile_apps", 0, "fallback_phone_number"], "714"),
        "mobile_apps[0].fallback_phone_number",
        "",
    ),
    (
        "iOS without PEM",
        _set(["mobile_apps", 0, "ios_push_certificate"], None),
        "mobile_apps[0].ios_push_certificate",
        "PEM",
    ),
    (
        "Android without FCM",
        _set(["mobile_apps", 1, "android_fcm_key"], None),
        "mobile_apps[1].android_fcm_key",
        "FCM",
    ),
    (
        "active without DAP",
        _set(["mobile_apps", 1, "active"], True),
        "mobile_apps[1].active",
        "top-level mobile menu",
    ),
]


@pytest.mark.parametrize(
    ("change", "path", "words"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_each_broken_rule_names_its_path(change: Change, path: str, words: str) -> None:
    document = ccai_center()
    change(document)
    with pytest.raises(ConfigError) as raised:
        parse_center(document)
    assert raised.value.path == path, raised.value
    assert words in raised.value.message


def test_rules_the_seed_allows() -> None:
    document = ccai_center()
    # one identifier for both platforms of one app (seed 004 Step 3.4)
    assert _app(document, "Customer App")["ios_identifier"] == "com.example.customer"
    assert _app(document, "Customer App")["android_identifier"] == "com.example.customer"
    # an app may have a DAP in the IVR structure too (Step 5), for English
    _menu(document, 1)["direct_access_points"] = [{**MOBILE_DAP, "mobile_app": "Customer App"}]
    # and one app per structure: Staff App takes another top-level mobile menu
    document["menus"].append(
        {
            "id": 60,
            "name": "Staff",
            "menu_type": "mobile_menu",
            "queue": "tv",
            "direct_access_points": [{**MOBILE_DAP, "mobile_app": "Staff App"}],
        }
    )
    _app(document, "Staff App")["active"] = True
    # the seed's language codes, region subtags included
    _menu(document, 2)["languages"] = [
        "en",
        "es",
        "fr",
        "de",
        "it",
        "ja",
        "ko",
        "pt",
        "pt-BR",
        "sv",
    ]
    # user segment and general DAPs anywhere
    _menu(document, 12)["direct_access_points"] = [{"kind": "user_segment", "name": "VIP"}]
    parse_center(document)


def test_an_ivr_mobile_app_dap_is_for_english() -> None:
    document = ccai_center()
    document["menus"].append(
        {
            "id": 70,
            "name": "Soporte",
            "languages": ["es"],
            "queue": "tv",
            "direct_access_points": [{**MOBILE_DAP, "mobile_app": "Staff App"}],
        }
    )
    with pytest.raises(ConfigError) as raised:
        parse_center(document)
    assert raised.value.path == "menus[10].direct_access_points[0].kind"
    assert "English" in raised.value.message


def _chain(levels: int) -> dict[str, Any]:
    menus: list[dict[str, Any]] = [
        {"id": level, "name": f"Level {level}", "parent": level - 1 if level > 1 else None}
        for level in range(1, levels + 1)
    ]
    menus[-1]["queue"] = "q"
    menus.reverse()  # children listed before their parents: order does not matter
    return {"queues": [{"id": "q"}], "menus": menus}


def test_menus_nest_at_most_32_levels() -> None:
    parse_center(_chain(32))
    with pytest.raises(ConfigError) as raised:
        parse_center(_chain(33))
    assert raised.value.path == "menus[0].parent"
    assert "at most 32 levels" in raised.value.message
