"""Agents (Stringee "Agent management"; seed 000 Step 3a).

An agent is the center document's agent whose id is its `stringee_user_id` (the id the
engine, the router's version 2 reply and agent tokens use); Stringee's `agentID` maps onto
it. `system_status` (seed 000 Step 3a: 0 on a call, 1 free) comes from the live engine. A
`manual_status` change is stored in the document and applied to the live agent at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.compat.stringee import documents as docs
from helpline.api.compat.stringee.auth import Project, State
from helpline.api.compat.stringee.replies import failure, not_found, paged, success
from helpline.core import events as ev
from helpline.core.states import system_status

router = APIRouter()
Id = Annotated[str, Path(min_length=1, max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # as Stringee: fields it does not know are left


Text = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(min_length=1, max_length=40)]


# seed 000 Step 3a: an agent receives calls only while its `manual_status` is AVAILABLE;
# Stringee's agent API sample sets "NOT AVAILABLE"; Helpline's own missed-call status (the
# center document's `missed_status` default) is NOT_AVAILABLE. Nothing else is a status.
ManualStatus = Literal["AVAILABLE", "NOT AVAILABLE", "NOT_AVAILABLE"]


class NewAgent(_Body):
    name: Text
    stringee_user_id: Text
    manual_status: ManualStatus = "AVAILABLE"
    routing_type: Literal[1, 2] = 1
    phone_number: Phone | None = None


class AgentChange(_Body):
    name: Text | None = None
    manual_status: ManualStatus | None = None
    routing_type: Literal[1, 2] | None = None
    phone_number: Phone | None = None


def _view(state: State, who: Any, agent: dict[str, Any], sid: str) -> dict[str, Any]:
    runtime = state.hub.tenants.get(who.tenant_id)
    live = runtime.engine.agents.get(agent["id"]) if runtime is not None else None
    return {
        "id": sid,
        "project": who.project_id,
        "name": agent.get("name") or "",
        "stringee_user_id": agent["id"],
        "phone_number": agent.get("phone_number") or "",
        "routing_type": agent.get("routing_type", 1),
        "manual_status": live.manual_status if live is not None else agent["manual_status"],
        "system_status": system_status(live.activity) if live is not None else 1,
        "online": bool(live.online) if live is not None else False,
    }


@router.post("/v1/agent")
async def create_agent(body: NewAgent, state: State, who: Project) -> dict[str, Any]:
    ids = docs.Ids(state, who, "agent")
    user_id = body.stringee_user_id
    agent = {
        "id": user_id,
        "name": body.name,
        "phone_number": body.phone_number,
        "routing_type": body.routing_type,
        "manual_status": body.manual_status,
    }

    def change(document: docs.Document) -> None:
        if docs.item(document, "agents", "id", user_id) is not None:
            raise failure(409, f"stringee_user_id: agent {user_id!r} exists")
        document["agents"].append(agent)

    await docs.edit(state, who, change)
    sid = ids.new()
    await ids.put(sid, user_id, {})
    return success(who.project_id, "Create agent success", agentID=sid)


@router.get("/v1/agent")
async def list_agents(
    state: State,
    who: Project,
    page: Annotated[int | None, Query()] = None,
    limit: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    page, limit = docs.page_args(page, limit)
    document = await docs.read(state, who)
    agents = document["agents"]
    rows = await docs.Ids(state, who, "agent").by_ref([a["id"] for a in agents], adopt=True)
    items = [_view(state, who, a, rows[a["id"]].stringee_id) for a in agents]
    return paged(
        who.project_id,
        "Load agent(s) success",
        items=items,
        items_key="agents",
        total_key="totalAgents",
        page=page,
        limit=limit,
    )


async def _agent_ref(state: State, who: Project, sid: str) -> str:
    user_id = await docs.Ids(state, who, "agent").ref(sid)
    if docs.item(await docs.read(state, who), "agents", "id", user_id) is None:
        raise not_found("agent", "agentID", sid)
    return user_id


@router.get("/v1/agent/{agent_id}")
async def get_agent(agent_id: Id, state: State, who: Project) -> dict[str, Any]:
    user_id = await _agent_ref(state, who, agent_id)
    agent = docs.item(await docs.read(state, who), "agents", "id", user_id)
    assert agent is not None
    return success(who.project_id, "Load agent success", data=_view(state, who, agent, agent_id))


@router.put("/v1/agent/{agent_id}")
async def update_agent(agent_id: Id, body: AgentChange, state: State, who: Project) -> Any:
    user_id = await _agent_ref(state, who, agent_id)
    fields = body.model_dump(exclude_unset=True)
    if "routing_type" in fields and fields["routing_type"] is None:
        del fields["routing_type"]

    def change(document: docs.Document) -> None:
        agent = docs.item(document, "agents", "id", user_id)
        if agent is None:
            raise not_found("agent", "agentID", agent_id)
        agent.update({k: v for k, v in fields.items() if v is not None or k == "phone_number"})
        docs.replace(document, "agents", "id", user_id, agent)

    await docs.edit(state, who, change)
    if body.manual_status is not None:  # the live agent too, not only the next restart
        await state.hub.runtime(who.tenant_id).submit(
            ev.AgentStatusSet(agent_id=user_id, manual_status=body.manual_status, reason="")
        )
    return success(who.project_id, "Update agent success")


@router.delete("/v1/agent/{agent_id}")
async def delete_agent(agent_id: Id, state: State, who: Project) -> dict[str, Any]:
    user_id = await _agent_ref(state, who, agent_id)

    def change(document: docs.Document) -> None:
        docs.remove(document, "agents", "id", user_id)
        for group in document["groups"]:  # as Stringee: the agent leaves its groups
            group["agents"] = [a for a in group["agents"] if a != user_id]

    await docs.edit(state, who, change, deleting=f"agent {agent_id}")
    await docs.Ids(state, who, "agent").forget(user_id)
    return success(who.project_id, "Delete agent success")
