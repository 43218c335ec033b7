"""The center document over REST (issue 4, point 4): `GET`/`PUT /v1/config`, and numbers, IVR
trees, queues, groups (and members), group routing and agents as resources of it.

Every change edits the tenant's one center document, validates the whole of it (a reference
to something that does not exist is a 422 naming the path; deleting something still in use
is a 409 saying where), stores it with a new version and hands it to the live engine, whose
calls and agents carry over.
"""

# No `from __future__ import annotations` here: the resource routes annotate their bodies
# with a class chosen at run time, which FastAPI must see as an object, not a string.

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, Field

from helpline.api.deps import Principal, api_key_only, app_state
from helpline.api.state import AppState
from helpline.config import center_document, parse_center
from helpline.config import schema as s
from helpline.config.menus import menu_sections
from helpline.core.errors import ClientError, ConfigError, Conflict, NotFound
from helpline.core.events import CenterReplaced

State = Annotated[AppState, Depends(app_state)]
Admin = Annotated[Principal, Depends(api_key_only)]


async def current_document(state: AppState, tenant_id: str) -> tuple[int, dict[str, Any]]:
    found = await state.store.configs.get_config(tenant_id)
    if found is None:
        return 0, center_document(parse_center({}))
    return found.version, dict(found.document)


async def replace_document(
    state: AppState, tenant_id: str, document: Any, *, expected_version: int | None = None
) -> tuple[int, dict[str, Any]]:
    """Validate, store and apply a whole document; returns the new version and document."""
    center = parse_center(document)
    normalized = center_document(center, name=str((document or {}).get("name", "")))
    normalized.update(menu_sections(document or {}))  # seed 004 menus: not in the engine's Center
    stored = await state.store.configs.put_config(
        tenant_id, normalized, expected_version=expected_version
    )
    await state.hub.runtime(tenant_id).submit(CenterReplaced(center=center))
    return stored.version, normalized


async def edit_document(
    state: AppState,
    tenant_id: str,
    change: Callable[[dict[str, Any]], None],
    *,
    deleting: str | None = None,
) -> dict[str, Any]:
    """Read-modify-write the document under the tenant's lock."""
    async with state.config_lock(tenant_id):
        version, document = await current_document(state, tenant_id)
        change(document)
        try:
            _, stored = await replace_document(state, tenant_id, document, expected_version=version)
        except ConfigError as error:
            if deleting is not None:  # the only new error a deletion can cause: a reference
                raise Conflict(
                    f"{deleting} is still in use at {error.path}: change that first",
                    details={"path": error.path},
                ) from None
            raise
        return stored


# -- the whole document ------------------------------------------------------------------------

config_router = APIRouter(prefix="/v1", tags=["config"])


class ConfigVersion(BaseModel):
    version: int
    document: s.CenterDoc


@config_router.get("/config", response_model=ConfigVersion)
async def get_config(state: State, who: Admin, response: Response) -> ConfigVersion:
    """The whole center document: the same schema `helpline simulate` reads."""
    version, document = await current_document(state, who.tenant_id)
    response.headers["ETag"] = f'"{version}"'
    return ConfigVersion(version=version, document=s.CenterDoc.model_validate(document))


@config_router.put("/config", response_model=ConfigVersion)
async def put_config(
    body: s.CenterDoc,
    state: State,
    who: Admin,
    response: Response,
    if_match: Annotated[
        str | None, Header(description="a version from ETag: fail if changed")
    ] = None,
) -> ConfigVersion:
    """Replace the whole center document; live calls and agents carry over."""
    expected = None
    if if_match is not None:
        try:
            expected = int(if_match.strip('"W/ '))
        except ValueError:
            raise ClientError(
                "If-Match: give a version number from ETag", details={"field": "If-Match"}
            ) from None
    async with state.config_lock(who.tenant_id):
        version, document = await replace_document(
            state, who.tenant_id, body.model_dump(by_alias=False), expected_version=expected
        )
    response.headers["ETag"] = f'"{version}"'
    return ConfigVersion(version=version, document=s.CenterDoc.model_validate(document))


# -- resources of the document -----------------------------------------------------------------


def _page(items: list[dict[str, Any]], key: str, cursor: str | None, limit: int) -> dict[str, Any]:
    ordered = sorted(items, key=lambda item: str(item[key]))
    if cursor is not None:
        try:
            after = base64.urlsafe_b64decode(cursor.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ClientError(
                "cursor: not a cursor this API gave", details={"field": "cursor"}
            ) from None
        ordered = [item for item in ordered if str(item[key]) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    next_cursor = base64.urlsafe_b64encode(str(page[-1][key]).encode()).decode() if more else None
    return {"items": page, "next_cursor": next_cursor}


def resource_router(
    path: str, field: str, key: str, model: type[BaseModel], label: str
) -> APIRouter:
    """CRUD routes for one collection of the center document."""
    router = APIRouter(prefix=f"/v1/{path}", tags=[path])
    Key = Annotated[str, Path(min_length=1, max_length=200)]

    class Page(BaseModel):
        items: list[model]  # type: ignore[valid-type]
        next_cursor: str | None

    Page.__name__ = f"{model.__name__.removesuffix('Doc')}Page"

    def find(document: dict[str, Any], name: str) -> dict[str, Any]:
        for item in document[field]:
            if str(item[key]) == name:
                return dict(item)
        raise NotFound(f"{label} {name} not found", details={"field": key})

    @router.get("", response_model=Page, summary=f"List {path}")
    async def list_items(
        state: State,
        who: Admin,
        cursor: Annotated[str | None, Query(max_length=400)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Any:
        _, document = await current_document(state, who.tenant_id)
        return _page(document[field], key, cursor, limit)

    @router.post("", status_code=201, response_model=model, summary=f"Create a {label}")
    async def create_item(body: model, state: State, who: Admin) -> Any:  # type: ignore[valid-type]
        item = cast(BaseModel, body).model_dump()
        name = str(item[key])

        def change(document: dict[str, Any]) -> None:
            if any(str(existing[key]) == name for existing in document[field]):
                raise Conflict(f"{label} {name} already exists", details={"field": key})
            document[field].append(item)

        stored = await edit_document(state, who.tenant_id, change)
        return find(stored, name)

    @router.get("/{name}", response_model=model, summary=f"Get a {label}")
    async def get_item(name: Key, state: State, who: Admin) -> Any:
        _, document = await current_document(state, who.tenant_id)
        return find(document, name)

    @router.put("/{name}", response_model=model, summary=f"Replace a {label}")
    async def put_item(name: Key, body: model, state: State, who: Admin) -> Any:  # type: ignore[valid-type]
        item = cast(BaseModel, body).model_dump()
        if str(item[key]) != name:
            raise ClientError(
                f"{key}: the body says {item[key]!r} but the path says {name!r}",
                details={"field": key},
            )

        def change(document: dict[str, Any]) -> None:
            find(document, name)
            document[field] = [item if str(x[key]) == name else x for x in document[field]]

        stored = await edit_document(state, who.tenant_id, change)
        return find(stored, name)

    @router.delete("/{name}", status_code=204, summary=f"Delete a {label}")
    async def delete_item(name: Key, state: State, who: Admin) -> None:
        def change(document: dict[str, Any]) -> None:
            find(document, name)
            document[field] = [x for x in document[field] if str(x[key]) != name]

        await edit_document(state, who.tenant_id, change, deleting=f"{label} {name}")

    return router


numbers_router = resource_router("numbers", "numbers", "number", s.NumberDoc, "number")
ivr_router = resource_router("ivr-trees", "ivr_trees", "id", s.IvrTreeDoc, "IVR tree")
queues_router = resource_router("queues", "queues", "id", s.QueueDoc, "queue")
groups_router = resource_router("groups", "groups", "id", s.GroupDoc, "group")
agents_router = resource_router("agents", "agents", "id", s.AgentDoc, "agent")


# -- group members and group routing -----------------------------------------------------------

members_router = APIRouter(prefix="/v1", tags=["groups"])


class Member(BaseModel):
    agent_id: str = Field(min_length=1, max_length=200)


class Tiers(BaseModel):
    groups: list[s.GroupTierDoc]


def _item(document: dict[str, Any], field: str, name: str, label: str) -> dict[str, Any]:
    for item in document[field]:
        if item["id"] == name:
            return dict(item)
    raise NotFound(f"{label} {name} not found", details={"field": "id"})


@members_router.post("/groups/{group_id}/members", status_code=201, response_model=s.GroupDoc)
async def add_member(group_id: str, body: Member, state: State, who: Admin) -> Any:
    def change(document: dict[str, Any]) -> None:
        group = _item(document, "groups", group_id, "group")
        if body.agent_id in group["agents"]:
            raise Conflict(
                f"agent {body.agent_id} is already in group {group_id}",
                details={"field": "agent_id"},
            )
        for item in document["groups"]:
            if item["id"] == group_id:
                item["agents"] = [*item["agents"], body.agent_id]

    stored = await edit_document(state, who.tenant_id, change)
    return _item(stored, "groups", group_id, "group")


@members_router.delete("/groups/{group_id}/members/{agent_id}", status_code=204)
async def remove_member(group_id: str, agent_id: str, state: State, who: Admin) -> None:
    def change(document: dict[str, Any]) -> None:
        group = _item(document, "groups", group_id, "group")
        if agent_id not in group["agents"]:
            raise NotFound(
                f"agent {agent_id} is not in group {group_id}", details={"field": "agent_id"}
            )
        for item in document["groups"]:
            if item["id"] == group_id:
                item["agents"] = [a for a in item["agents"] if a != agent_id]

    await edit_document(state, who.tenant_id, change)


@members_router.get("/queues/{queue_id}/groups", response_model=Tiers, tags=["queues"])
async def get_group_routing(queue_id: str, state: State, who: Admin) -> Any:
    """The queue's groups with their priority and overflow delay (seed 000 1d)."""
    _, document = await current_document(state, who.tenant_id)
    return {"groups": _item(document, "queues", queue_id, "queue")["groups"]}


@members_router.put("/queues/{queue_id}/groups", response_model=Tiers, tags=["queues"])
async def put_group_routing(queue_id: str, body: Tiers, state: State, who: Admin) -> Any:
    tiers = [tier.model_dump() for tier in body.groups]

    def change(document: dict[str, Any]) -> None:
        _item(document, "queues", queue_id, "queue")
        for item in document["queues"]:
            if item["id"] == queue_id:
                item["groups"] = tiers

    stored = await edit_document(state, who.tenant_id, change)
    return {"groups": _item(stored, "queues", queue_id, "queue")["groups"]}
