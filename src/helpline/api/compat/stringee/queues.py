"""Queues, groups, group members and group routing (Stringee "Queue management", "Group
management", "Manage agents in group", "Group routing"; seed 000 1b-1d and Step 6).

A queue is the document's queue: `wait_agent_answer_timeout`, `agent_wrap_up_after_calls`,
`wrap_up_time_limit` and `get_list_agents_url` are the document's own fields;
`record_calls` is its `recording`, `wait_greeting` its greeting (an audio file),
`hold_greeting` its hold music, `maximum_queue_size` / `maximum_queue_wait_time` its
`max_size` / `max_wait` with voicemail beyond them (as Stringee describes). A group routing
is one of the queue's tiers: `primary_group: 1` is priority 1, `0` is priority 2 (served
only when no agent of the primary groups is available, seed 000 1d).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.compat.stringee import documents as docs
from helpline.api.compat.stringee.auth import Caller, Project, State
from helpline.api.compat.stringee.replies import (
    failure,
    invalid,
    not_found,
    paged,
    seconds,
    success,
)

router = APIRouter()
Id = Annotated[str, Path(min_length=1, max_length=200)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Page = Annotated[int | None, Query()]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class QueueFields(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    record_calls: bool | None = None
    agent_wrap_up_after_calls: bool | None = None
    wrap_up_time_limit: Annotated[int, Field(ge=0, le=86400)] | None = None
    schedule: Annotated[int, Field(ge=1, le=2)] | None = None
    wait_agent_answer_timeout: Annotated[int, Field(ge=3, le=3600)] | None = None
    wait_greeting: Text | None = None
    hold_greeting: Text | None = None
    maximum_queue_size: Annotated[int, Field(ge=0, le=100000)] | None = None
    maximum_queue_wait_time: Annotated[int, Field(ge=1, le=86400)] | None = None
    from_number_callout_to_agent: Annotated[str, Field(max_length=40)] | None = None
    get_list_agents_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://")] | None = None
    cond_routing: int | None = None


class NewQueue(QueueFields):
    name: Annotated[str, Field(min_length=1, max_length=200)]


# Stringee's defaults for a new queue ("Create a queue")
_QUEUE_DEFAULTS: dict[str, Any] = {
    "record_calls": True,
    "agent_wrap_up_after_calls": True,
    "wrap_up_time_limit": 10,
    "schedule": 1,
    "wait_agent_answer_timeout": 15,
}
_EXTRA = ("schedule", "from_number_callout_to_agent", "cond_routing")


def _queue_view(who: Caller, queue: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    greeting = queue.get("greeting") or {}
    return {
        "id": queue["id"],
        "project": who.project_id,
        "name": queue.get("name") or "",
        "record_calls": queue.get("recording") == "record",
        "agent_wrap_up_after_calls": queue["agent_wrap_up_after_calls"],
        "wrap_up_time_limit": seconds(queue["wrap_up_time_limit"]),
        "schedule": extra.get("schedule", 1),
        "wait_agent_answer_timeout": seconds(queue["wait_agent_answer_timeout"]),
        "wait_greeting": greeting.get("audio") or greeting.get("text"),
        "hold_greeting": queue.get("hold_music"),
        "maximum_queue_size": queue.get("max_size"),
        "maximum_queue_wait_time": seconds(queue.get("max_wait")),
        "from_number_callout_to_agent": extra.get("from_number_callout_to_agent"),
        "get_list_agents_url": queue.get("get_list_agents_url"),
        "cond_routing": extra.get("cond_routing"),
    }


def _apply(queue: dict[str, Any], fields: dict[str, Any]) -> None:
    """Stringee's queue fields onto a document queue (the fields given, and only those)."""
    simple = {
        "name": "name",
        "agent_wrap_up_after_calls": "agent_wrap_up_after_calls",
        "wrap_up_time_limit": "wrap_up_time_limit",
        "wait_agent_answer_timeout": "wait_agent_answer_timeout",
        "hold_greeting": "hold_music",
        "get_list_agents_url": "get_list_agents_url",
    }
    for field, target in simple.items():
        if field in fields:
            queue[target] = fields[field]
    if "record_calls" in fields:
        queue["recording"] = "record" if fields["record_calls"] else "do_not_record"
    if "wait_greeting" in fields:
        audio = fields["wait_greeting"]
        queue["greeting"] = {"audio": audio} if audio else None
    if "maximum_queue_size" in fields:
        queue["max_size"] = fields["maximum_queue_size"]
        queue["on_full"] = {"kind": "voicemail"}
    if "maximum_queue_wait_time" in fields:
        queue["max_wait"] = fields["maximum_queue_wait_time"]
        queue["on_max_wait"] = {"kind": "voicemail"}


@router.post("/v1/queue")
async def create_queue(body: NewQueue, state: State, who: Project) -> dict[str, Any]:
    ids = docs.Ids(state, who, "queue")
    queue_id = ids.new()
    fields = {**_QUEUE_DEFAULTS, **body.model_dump(exclude_none=True)}
    queue: dict[str, Any] = {"id": queue_id}
    _apply(queue, fields)
    await docs.edit(state, who, lambda document: document["queues"].append(queue))
    await ids.put(queue_id, queue_id, {k: fields[k] for k in _EXTRA if k in fields})
    return success(who.project_id, "Create queue success", queueID=queue_id)


@router.get("/v1/queue")
async def list_queues(state: State, who: Project, page: Page = None, limit: Page = None) -> Any:
    page, limit = docs.page_args(page, limit)
    document = await docs.read(state, who)
    extras = {row.ref: row.extra for row in await docs.Ids(state, who, "queue").rows()}
    items = [_queue_view(who, q, extras.get(q["id"], {})) for q in document["queues"]]
    return paged(
        who.project_id,
        "Load queue(s) success",
        items=items,
        items_key="queues",
        total_key="totalQueues",
        page=page,
        limit=limit,
    )


@router.get("/v1/queue/{queue_id}")
async def get_queue(queue_id: Id, state: State, who: Project) -> dict[str, Any]:
    queue = docs.item(await docs.read(state, who), "queues", "id", queue_id)
    if queue is None:
        raise not_found("queue", "queueID", queue_id)
    extra = await docs.Ids(state, who, "queue").extra(queue_id)
    return success(who.project_id, "Load queue success", data=_queue_view(who, queue, extra))


@router.put("/v1/queue/{queue_id}")
async def update_queue(queue_id: Id, body: QueueFields, state: State, who: Project) -> Any:
    fields = body.model_dump(exclude_unset=True)
    if fields.get("name", "") is None:
        raise invalid("name", "may not be null")

    def change(document: docs.Document) -> None:
        queue = docs.item(document, "queues", "id", queue_id)
        if queue is None:
            raise not_found("queue", "queueID", queue_id)
        _apply(queue, fields)
        docs.replace(document, "queues", "id", queue_id, queue)

    await docs.edit(state, who, change)
    ids = docs.Ids(state, who, "queue")
    extra = {**await ids.extra(queue_id), **{k: fields[k] for k in _EXTRA if k in fields}}
    await ids.put(queue_id, queue_id, extra)
    return success(who.project_id, "Update queue success")


@router.delete("/v1/queue/{queue_id}")
async def delete_queue(queue_id: Id, state: State, who: Project) -> dict[str, Any]:
    def change(document: docs.Document) -> None:
        if docs.item(document, "queues", "id", queue_id) is None:
            raise not_found("queue", "queueID", queue_id)
        docs.remove(document, "queues", "id", queue_id)

    await docs.edit(state, who, change, deleting=f"queue {queue_id}")
    await docs.Ids(state, who, "queue").delete(queue_id)
    return success(who.project_id, "Delete queue success")


# -- groups ------------------------------------------------------------------------------------


class GroupName(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]


def _group_view(who: Caller, group: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": group["id"],
        "project": who.project_id,
        "name": group.get("name") or "",
        "number_of_agent": len(group["agents"]),
    }


@router.post("/v1/group")
async def create_group(body: GroupName, state: State, who: Project) -> dict[str, Any]:
    group_id = docs.Ids(state, who, "group").new()
    group = {"id": group_id, "name": body.name, "agents": []}
    await docs.edit(state, who, lambda document: document["groups"].append(group))
    return success(who.project_id, "Create group success", groupID=group_id)


@router.get("/v1/group")
async def list_groups(state: State, who: Project, page: Page = None, limit: Page = None) -> Any:
    page, limit = docs.page_args(page, limit)
    document = await docs.read(state, who)
    return paged(
        who.project_id,
        "Load group(s) success",
        items=[_group_view(who, g) for g in document["groups"]],
        items_key="groups",
        total_key="totalGroups",
        page=page,
        limit=limit,
    )


@router.put("/v1/group/{group_id}")
async def update_group(group_id: Id, body: GroupName, state: State, who: Project) -> Any:
    def change(document: docs.Document) -> None:
        group = docs.item(document, "groups", "id", group_id)
        if group is None:
            raise not_found("group", "groupID", group_id)
        docs.replace(document, "groups", "id", group_id, {**group, "name": body.name})

    await docs.edit(state, who, change)
    return success(who.project_id, "Update group success")


@router.delete("/v1/group/{group_id}")
async def delete_group(group_id: Id, state: State, who: Project) -> dict[str, Any]:
    def change(document: docs.Document) -> None:
        if docs.item(document, "groups", "id", group_id) is None:
            raise not_found("group", "groupID", group_id)
        docs.remove(document, "groups", "id", group_id)
        for queue in document["queues"]:  # as Stringee: its routings go with it
            queue["groups"] = [t for t in queue["groups"] if t["group"] != group_id]

    await docs.edit(state, who, change, deleting=f"group {group_id}")
    return success(who.project_id, "Delete group success")


# -- agents in groups --------------------------------------------------------------------------


class Membership(_Body):
    agent_id: Annotated[str, Field(min_length=1, max_length=200)]
    group_id: Annotated[str, Field(min_length=1, max_length=200)]


async def _member_refs(state: State, who: Caller, body: Membership) -> tuple[str, str]:
    user_id = await docs.Ids(state, who, "agent").ref(body.agent_id)
    document = await docs.read(state, who)
    if docs.item(document, "agents", "id", user_id) is None:
        raise not_found("agent", "agent_id", body.agent_id)
    if docs.item(document, "groups", "id", body.group_id) is None:
        raise not_found("group", "group_id", body.group_id)
    return user_id, body.group_id


@router.post("/v1/manage-agents-in-group")
async def add_member(body: Membership, state: State, who: Project) -> dict[str, Any]:
    user_id, group_id = await _member_refs(state, who, body)

    def change(document: docs.Document) -> None:
        group = docs.item(document, "groups", "id", group_id)
        if group is None:
            raise not_found("group", "group_id", group_id)
        if user_id in group["agents"]:
            raise failure(409, f"agent_id: agent {body.agent_id!r} is in the group already")
        group["agents"] = [*group["agents"], user_id]
        docs.replace(document, "groups", "id", group_id, group)

    await docs.edit(state, who, change)
    return success(
        who.project_id,
        "Add agent to Group success",
        agentID=body.agent_id,
        groupID=group_id,
    )


@router.get("/v1/manage-agents-in-group")
async def list_members(
    state: State,
    who: Project,
    group: Annotated[str, Query(min_length=1, max_length=200)],
    page: Page = None,
    limit: Page = None,
) -> dict[str, Any]:
    page, limit = docs.page_args(page, limit)
    found = docs.item(await docs.read(state, who), "groups", "id", group)
    if found is None:
        raise not_found("group", "group", group)
    rows = await docs.Ids(state, who, "agent").by_ref(list(found["agents"]), adopt=True)
    items = [
        {"project": who.project_id, "agent_id": rows[a].stringee_id, "group_id": group}
        for a in found["agents"]
    ]
    return paged(
        who.project_id,
        "Load group agent success",
        items=items,
        items_key="groupAgents",
        total_key="totalCount",
        page=page,
        limit=limit,
    )


@router.delete("/v1/manage-agents-in-group")
async def remove_member(
    body: Annotated[Membership, Body()], state: State, who: Project
) -> dict[str, Any]:
    user_id, group_id = await _member_refs(state, who, body)

    def change(document: docs.Document) -> None:
        group = docs.item(document, "groups", "id", group_id)
        if group is None or user_id not in group["agents"]:
            raise not_found("agent in group", "agent_id", body.agent_id)
        group["agents"] = [a for a in group["agents"] if a != user_id]
        docs.replace(document, "groups", "id", group_id, group)

    await docs.edit(state, who, change)
    return success(
        who.project_id, "Remove agent from group success", agentID=body.agent_id, groupID=group_id
    )
