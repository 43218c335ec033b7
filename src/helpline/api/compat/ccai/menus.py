"""Queue menus and mobile apps as the CCAI API shows them (seed 004).

Both live in the tenant's center document (`menus:` and `mobile_apps:`, validated by
`helpline.config.menus`; edited with `PUT /v1/config`). Each menu gets two materialized
paths: `id_path` ("1/11/12": its ancestors' ids and its own), by which `menu_id` filters a
menu's whole sub-tree with one prefix test, and `materialized_path` ("Support / Technical /
Internet": the names), which the vendor's answers show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from helpline.api.center import current_document
from helpline.api.deps import Principal, api_key_only, app_state
from helpline.api.state import AppState
from helpline.config.menu_sections import MenuSections
from helpline.config.menus import MenuDoc, MobileAppDoc
from helpline.core.errors import NotFound

State = Annotated[AppState, Depends(app_state)]
Admin = Annotated[Principal, Depends(api_key_only)]
MenuId = Annotated[int, Path(ge=1, le=2**31 - 1)]

PATH_SEPARATOR = " / "


@dataclass(frozen=True, slots=True)
class MenuNode:
    menu: MenuDoc
    id_path: str  # "1/11/12"
    materialized_path: str  # "Support / Technical / Internet"
    children: tuple[int, ...]

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def covers(self, other: MenuNode) -> bool:
        """`other` is this menu or one of its sub-menus (a prefix of materialized paths)."""
        return other.id_path == self.id_path or other.id_path.startswith(self.id_path + "/")


class MenuTree:
    """The menus of one center document, in tree order (parents first, siblings as listed)."""

    def __init__(self, sections: MenuSections) -> None:
        self.apps: list[MobileAppDoc] = list(sections.mobile_apps)
        children: dict[int | None, list[MenuDoc]] = {}
        for menu in sections.menus:
            children.setdefault(menu.parent, []).append(menu)
        self.nodes: dict[int, MenuNode] = {}
        # depth first, siblings in document order; a stack, not recursion: any depth
        stack: list[tuple[MenuDoc, str, str]] = [(m, "", "") for m in children.get(None, [])]
        stack.reverse()
        while stack:
            menu, ids, names = stack.pop()
            id_path = f"{ids}/{menu.id}" if ids else str(menu.id)
            path = f"{names}{PATH_SEPARATOR}{menu.name}" if names else menu.name
            kids = children.get(menu.id, [])
            self.nodes[menu.id] = MenuNode(menu, id_path, path, tuple(m.id for m in kids))
            stack.extend((kid, id_path, path) for kid in reversed(kids))

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> MenuTree:
        return cls(MenuSections.of(document))

    def get(self, menu_id: int, *, field: str = "menu_id") -> MenuNode:
        node = self.nodes.get(menu_id)
        if node is None:
            raise NotFound(f"{field}: no menu has id {menu_id}", details={"field": field})
        return node

    def under(self, menu_id: int | None) -> list[MenuNode]:
        """The menu and every sub-menu of it; every menu when `menu_id` is None."""
        if menu_id is None:
            return list(self.nodes.values())
        top = self.get(menu_id)
        return [node for node in self.nodes.values() if top.covers(node)]


async def menu_tree(state: AppState, tenant_id: str) -> MenuTree:
    _, document = await current_document(state, tenant_id)
    return MenuTree.of(document)


# -- answers -----------------------------------------------------------------------------------


def menu_view(node: MenuNode) -> dict[str, Any]:
    menu = node.menu
    return {
        "id": menu.id,
        "name": menu.name,
        "parent_id": menu.parent,
        "menu_type": menu.menu_type,
        "channels": list(menu.channels),
        "languages": list(menu.languages),
        "materialized_path": node.materialized_path,
        "id_path": node.id_path,
        "children": list(node.children),
        "queue_id": menu.queue,
        "outbound_numbers": list(menu.outbound_numbers),
        "direct_access_points": [dap.model_dump() for dap in menu.direct_access_points],
    }


def app_view(app: MobileAppDoc, tree: MenuTree) -> dict[str, Any]:
    """Seed 004 Step 3 fields; push credentials only as configured or not. `status`: an app
    not assigned to a top-level mobile menu cannot be switched on (Step 3, app list)."""
    daps = [
        {"menu_id": node.menu.id, "menu_type": node.menu.menu_type, "name": dap.name}
        for node in tree.nodes.values()
        for dap in node.menu.direct_access_points
        if dap.kind == "mobile_app" and dap.mobile_app == app.name
    ]
    assigned = any(d["menu_type"] == "mobile_menu" for d in daps)
    return {
        "name": app.name,
        "ios_identifier": app.ios_identifier,
        "android_identifier": app.android_identifier,
        "sms_links": app.sms_links,
        "app_store_url": app.app_store_url,
        "play_store_url": app.play_store_url,
        "fallback_phone_number": app.fallback_phone_number,
        "fallback_threshold": app.fallback_threshold,
        "pstn_only_from_app": app.pstn_only_from_app,
        "ios_push_configured": app.ios_push_certificate is not None,
        "android_push_configured": app.android_fcm_key is not None,
        "active": app.active,
        "status": "active" if app.active else ("off" if assigned else "not_assigned"),
        "direct_access_points": daps,
    }


router = APIRouter()


@router.get("/manager/api/v1/menus")
@router.get("/apps/api/v1/menus")
async def list_menus(state: State, who: Admin) -> list[dict[str, Any]]:
    """Every menu, in tree order, with its materialized path."""
    tree = await menu_tree(state, who.tenant_id)
    return [menu_view(node) for node in tree.nodes.values()]


@router.get("/manager/api/v1/menus/{menu_id}")
@router.get("/apps/api/v1/menus/{menu_id}")
async def get_menu(menu_id: MenuId, state: State, who: Admin) -> dict[str, Any]:
    tree = await menu_tree(state, who.tenant_id)
    return menu_view(tree.get(menu_id))


@router.get("/manager/api/v1/mobile_apps")
async def list_mobile_apps(state: State, who: Admin) -> list[dict[str, Any]]:
    """Settings > Developer Settings > Mobile Apps (seed 004 "Multiple Mobile Apps")."""
    tree = await menu_tree(state, who.tenant_id)
    return [app_view(app, tree) for app in tree.apps]
