"""Queue menus and mobile apps in the center document (seed 004).

Menus are what a customer picks from in the IVR, a mobile app or a web page before a queue
takes the call (seed 004 "Estimated Wait Time API": `menu_id`, `menu_type`, `channel_type`,
`lang`, materialized paths). They form trees: a menu with sub-menus routes to them, a leaf
menu puts the call into one Helpline queue. A menu serves some languages (each language has
its "queue structure") and some channels, and may list the caller ids callback calls from it
show (seed 004 "Outbound number logic"; empty: its queue's `outbound_numbers`).

Mobile apps (seed 004 "Multiple Mobile Apps") are configured apart and attached to a
top-level mobile or IVR menu by a direct access point (DAP) of kind `mobile_app`.

The engine routes calls to queues and never reads any of this: `check_menus` validates it
against the rest of the document, naming the path of each bad field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from helpline.core.errors import ConfigError

if TYPE_CHECKING:
    from helpline.config.schema import CenterDoc

MenuType = Literal["ivr_menu", "mobile_menu", "web_menu"]
ChannelType = Literal["voice_call", "chat"]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
PhoneNumber = Annotated[str, Field(pattern=r"^\+?[1-9][0-9]{3,14}$")]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DirectAccessPointDoc(_Doc):
    """An entry into a menu tree. `mobile_app` DAPs attach a mobile app (seed 004 Steps 4, 5);
    user segment and general DAPs are evaluated before them."""

    kind: Literal["general", "user_segment", "mobile_app"] = "general"
    name: str = Field(min_length=1, max_length=200)
    mobile_app: str | None = None  # the app's name, for kind mobile_app


class MenuDoc(_Doc):
    id: int = Field(ge=1, le=2**31 - 1)
    name: str = Field(min_length=1, max_length=200)
    parent: int | None = None
    menu_type: MenuType = "ivr_menu"
    channels: list[ChannelType] = Field(["voice_call"], min_length=1)
    languages: list[Language] = Field(["en"], min_length=1)
    queue: str | None = None  # leaf menus only
    outbound_numbers: list[PhoneNumber] = []
    direct_access_points: list[DirectAccessPointDoc] = []


class MobileAppDoc(_Doc):
    """Seed 004 "Step 3: MMA app configuration"."""

    name: str = Field(min_length=1, max_length=200)
    ios_identifier: str | None = Field(None, min_length=1)
    android_identifier: str | None = Field(None, min_length=1)
    sms_links: bool = False  # agents may send "install" / "open app" SMS links
    app_store_url: str | None = None
    play_store_url: str | None = None
    fallback_phone_number: PhoneNumber | None = None
    fallback_threshold: float | None = Field(None, ge=0, le=1)
    pstn_only_from_app: bool = False  # "Don't permit PSTN calls from outside the app"
    ios_push_certificate: str | None = Field(None, min_length=1)  # PEM
    android_fcm_key: str | None = Field(None, min_length=1)
    active: bool = False


def menu_sections(document: Mapping[str, Any]) -> dict[str, Any]:
    """`menus` and `mobile_apps` of a document, normalized (the engine's `Center` has no
    place for them, so a stored document keeps them beside what `center_document` gives)."""
    # imported here: `config.schema` imports this module, and `MenuSections` takes its
    # `_keyed` collections from `config.schema` (one rule for every section)
    from helpline.config.menu_sections import MenuSections  # noqa: PLC0415

    return MenuSections.of(document).model_dump(mode="json")


# -- cross-references -------------------------------------------------------------------------


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(path, message)


def check_menus(doc: CenterDoc) -> None:
    """Menus and mobile apps against each other and the queues; raises `ConfigError`."""
    menus = _check_tree(doc)
    _check_apps(doc, menus)


def _check_tree(doc: CenterDoc) -> dict[int, MenuDoc]:
    menus: dict[int, MenuDoc] = {}
    for i, menu in enumerate(doc.menus):
        if menu.id in menus:
            raise _fail(f"menus[{i}].id", f"duplicate id {menu.id}")
        menus[menu.id] = menu
    queues = {q.id for q in doc.queues}
    parents = {m.parent for m in doc.menus if m.parent is not None}
    depths: dict[int, int] = {}
    for i, menu in enumerate(doc.menus):
        where = f"menus[{i}]"
        for field, values in (("channels", menu.channels), ("languages", menu.languages)):
            if len(set(values)) != len(values):
                raise _fail(f"{where}.{field}", f"{field} are listed twice")
        if menu.parent is not None:
            parent = menus.get(menu.parent)
            if parent is None:
                raise _fail(f"{where}.parent", f"no menu has id {menu.parent}")
            _no_cycle(menus, menu, where, depths)
            if parent.menu_type != menu.menu_type:
                raise _fail(
                    f"{where}.menu_type",
                    f"a sub-menu has its parent's type ({parent.menu_type})",
                )
            extra = sorted(set(menu.languages) - set(parent.languages))
            if extra:
                raise _fail(
                    f"{where}.languages",
                    f"{', '.join(extra)} not among the parent menu's languages",
                )
        if menu.id in parents and menu.queue is not None:
            raise _fail(
                f"{where}.queue", "a menu with sub-menus routes to them: give queues to leaves"
            )
        if menu.id not in parents and menu.queue is None:
            raise _fail(f"{where}.queue", "a menu without sub-menus needs a queue")
        if menu.queue is not None and menu.queue not in queues:
            raise _fail(f"{where}.queue", f"no queue has id {menu.queue!r}")
    return menus


MAX_DEPTH = 32  # levels of menus; a caller picks from a few, and paths stay short


def _no_cycle(
    menus: Mapping[int, MenuDoc], menu: MenuDoc, where: str, depths: dict[int, int]
) -> None:
    """Walk up to a root or a menu of known depth (linear over all menus): no cycle, and
    no deeper than `MAX_DEPTH`."""
    chain = [menu.id]
    seen = {menu.id}
    parent = menu.parent
    while parent is not None and parent not in depths:
        if parent in seen:
            raise _fail(f"{where}.parent", f"menu {menu.id} is its own ancestor")
        chain.append(parent)
        seen.add(parent)
        found = menus.get(parent)
        parent = found.parent if found is not None else None
    depth = depths[parent] if parent is not None else 0
    for menu_id in reversed(chain):
        depth += 1
        depths[menu_id] = depth
    if depths[menu.id] > MAX_DEPTH:
        raise _fail(f"{where}.parent", f"menus nest at most {MAX_DEPTH} levels deep")


def _check_apps(doc: CenterDoc, menus: Mapping[int, MenuDoc]) -> None:
    names: set[str] = set()
    owners: dict[str, str] = {}  # identifier -> app name
    for i, app in enumerate(doc.mobile_apps):
        where = f"mobile_apps[{i}]"
        if app.name in names:
            raise _fail(f"{where}.name", f"another mobile app is named {app.name!r}")
        names.add(app.name)
        if app.ios_identifier is None and app.android_identifier is None:
            raise _fail(
                f"{where}.ios_identifier", "give ios_identifier or android_identifier (or both)"
            )
        # the same identifier may serve both platforms of one app, never two apps
        for field in ("ios_identifier", "android_identifier"):
            identifier = getattr(app, field)
            owner = owners.get(identifier) if identifier is not None else None
            if owner is not None and owner != app.name:
                raise _fail(f"{where}.{field}", f"{identifier!r} is mobile app {owner!r}'s")
            if identifier is not None:
                owners[identifier] = app.name
        if app.fallback_phone_number is not None and app.fallback_threshold is None:
            raise _fail(f"{where}.fallback_threshold", "a fallback phone number needs it")
        if app.ios_identifier is not None and app.ios_push_certificate is None:
            raise _fail(f"{where}.ios_push_certificate", "an iOS identifier needs the PEM")
        if app.android_identifier is not None and app.android_fcm_key is None:
            raise _fail(f"{where}.android_fcm_key", "an Android identifier needs the FCM key")
    assigned: dict[tuple[str, str], int] = {}  # (menu type, app) -> menu id
    for i, menu in enumerate(doc.menus):
        for j, dap in enumerate(menu.direct_access_points):
            where = f"menus[{i}].direct_access_points[{j}]"
            if dap.kind != "mobile_app":
                if dap.mobile_app is not None:
                    raise _fail(f"{where}.mobile_app", "only a mobile_app access point has it")
                continue
            _check_app_dap(menu, dap, where, names, assigned)
    in_app = {app for (kind, app) in assigned if kind == "mobile_menu"}
    for i, app in enumerate(doc.mobile_apps):
        if app.active and app.name not in in_app:
            raise _fail(
                f"mobile_apps[{i}].active",
                "assign the app to a top-level mobile menu (a mobile_app access point) first",
            )


def _check_app_dap(
    menu: MenuDoc,
    dap: DirectAccessPointDoc,
    where: str,
    apps: set[str],
    assigned: dict[tuple[str, str], int],
) -> None:
    if dap.mobile_app is None:
        raise _fail(f"{where}.mobile_app", "a mobile_app access point names its app")
    if dap.mobile_app not in apps:
        raise _fail(f"{where}.mobile_app", f"no mobile app is named {dap.mobile_app!r}")
    if menu.parent is not None:
        raise _fail(f"{where}.kind", "mobile app access points are for top-level menus only")
    if menu.menu_type == "web_menu":
        raise _fail(f"{where}.kind", "mobile app access points are for mobile and IVR menus")
    if menu.menu_type == "ivr_menu" and "en" not in menu.languages:
        raise _fail(f"{where}.kind", "an IVR menu's mobile app access point is for English")
    key = (menu.menu_type, dap.mobile_app)
    if key in assigned:
        raise _fail(
            f"{where}.mobile_app",
            f"{dap.mobile_app!r} is already assigned to menu {assigned[key]} "
            f"(once per {menu.menu_type} structure)",
        )
    assigned[key] = menu.id
