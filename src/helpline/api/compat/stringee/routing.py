"""Group routing (Stringee "Group routing"; seed 000 1d): which groups serve a queue, and
with which priority.

A routing is one tier of the queue in the center document: `primary_group: 1` is priority
1, `0` is priority 2 (its agents get the call only when no agent of a primary group is
available, as queue 2 of seed 000 1d overflows from group 2 to group 3). A tier the native
API made with another priority reads as primary when its priority is 1 or less.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.compat.stringee import documents as docs
from helpline.api.compat.stringee.auth import Caller, Project, State
from helpline.api.compat.stringee.replies import failure, not_found, paged, success

router = APIRouter()
Id = Annotated[str, Path(min_length=1, max_length=200)]
Ref = Annotated[str, Field(min_length=1, max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NewRouting(_Body):
    queue_id: Ref
    group_id: Ref
    primary_group: Literal[0, 1]


class RoutingChange(_Body):
    primary_group: Literal[0, 1]


def priority(primary_group: int) -> int:
    return 1 if primary_group == 1 else 2


def _view(who: Caller, sid: str, queue_id: str, tier: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": sid,
        "project": who.project_id,
        "queue_id": queue_id,
        "group_id": tier["group"],
        "primary_group": 1 if tier.get("priority", 1) <= 1 else 0,
    }


def _set_tier(document: docs.Document, queue_id: str, group_id: str, primary: int) -> None:
    queue = docs.item(document, "queues", "id", queue_id)
    if queue is None:
        raise not_found("queue", "queue_id", queue_id)
    tiers = [t for t in queue["groups"] if t["group"] != group_id]
    tiers.append({"group": group_id, "priority": priority(primary), "after_wait": 0.0})
    docs.replace(document, "queues", "id", queue_id, {**queue, "groups": tiers})


@router.post("/v1/routing-call-to-groups")
async def create_routing(body: NewRouting, state: State, who: Project) -> dict[str, Any]:
    def change(document: docs.Document) -> None:
        queue = docs.item(document, "queues", "id", body.queue_id)
        if queue is None:
            raise not_found("queue", "queue_id", body.queue_id)
        if docs.item(document, "groups", "id", body.group_id) is None:
            raise not_found("group", "group_id", body.group_id)
        if any(t["group"] == body.group_id for t in queue["groups"]):
            raise failure(409, f"group_id: group {body.group_id!r} already serves this queue")
        _set_tier(document, body.queue_id, body.group_id, body.primary_group)

    await docs.edit(state, who, change)
    ids = docs.Ids(state, who, "routing")
    sid = ids.new()
    await ids.put(sid, docs.pair(body.queue_id, body.group_id), {})
    return success(who.project_id, "Create group routing success", groupRoutingID=sid)


@router.get("/v1/routing-call-to-groups")
async def list_routings(
    state: State,
    who: Project,
    queue: Annotated[str, Query(min_length=1, max_length=200)],
    page: Annotated[int | None, Query()] = None,
    limit: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    page, limit = docs.page_args(page, limit)
    found = docs.item(await docs.read(state, who), "queues", "id", queue)
    if found is None:
        raise not_found("queue", "queue", queue)
    tiers = sorted(found["groups"], key=lambda t: t.get("priority", 1))
    refs = [docs.pair(queue, t["group"]) for t in tiers]
    rows = await docs.Ids(state, who, "routing").by_ref(refs, adopt=True)
    items = [
        _view(who, rows[ref].stringee_id, queue, t) for ref, t in zip(refs, tiers, strict=True)
    ]
    return paged(
        who.project_id,
        "Load group routing success",
        items=items,
        items_key="groupRoutings",
        total_key="totalCount",
        page=page,
        limit=limit,
    )


async def _routing(state: State, who: Caller, sid: str) -> tuple[str, str]:
    row = await docs.Ids(state, who, "routing").get(sid)
    if row is None:
        raise not_found("group routing", "groupRoutingID", sid)
    queue_id, group_id = docs.unpair(row.ref)
    queue = docs.item(await docs.read(state, who), "queues", "id", queue_id)
    if queue is None or all(t["group"] != group_id for t in queue["groups"]):
        raise not_found("group routing", "groupRoutingID", sid)
    return queue_id, group_id


@router.put("/v1/routing-call-to-groups/{routing_id}")
async def update_routing(routing_id: Id, body: RoutingChange, state: State, who: Project) -> Any:
    queue_id, group_id = await _routing(state, who, routing_id)
    await docs.edit(
        state, who, lambda document: _set_tier(document, queue_id, group_id, body.primary_group)
    )
    return success(who.project_id, "Update group routing success")


@router.delete("/v1/routing-call-to-groups/{routing_id}")
async def delete_routing(routing_id: Id, state: State, who: Project) -> dict[str, Any]:
    queue_id, group_id = await _routing(state, who, routing_id)

    def change(document: docs.Document) -> None:
        queue = docs.item(document, "queues", "id", queue_id)
        if queue is None:
            raise not_found("queue", "queue_id", queue_id)
        tiers = [t for t in queue["groups"] if t["group"] != group_id]
        docs.replace(document, "queues", "id", queue_id, {**queue, "groups": tiers})

    await docs.edit(state, who, change)
    await docs.Ids(state, who, "routing").delete(routing_id)
    return success(who.project_id, "Delete group routing success")
