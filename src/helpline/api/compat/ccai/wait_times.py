"""`GET /apps/api/v1/wait_times` (seed 004 "Estimated Wait Time API").

One entry per queue menu (a leaf menu: the one that puts the call into a queue), with the
wait a caller joining that queue now can expect: the engine's own estimate (QL, Ibrahim &
Whitt; `Engine.estimated_wait`, the one `GET /v1/queues/{id}/wait-time` answers), never a
second one. Filters, all optional but `lang`:

- `menu_id`: the menu and its sub-menus (a prefix of materialized paths); default the roots;
- `channel_type`: `voice_call` or `chat`; `menu_type`: `ivr_menu`, `mobile_menu`, `web_menu`;
- `wait[from]` / `wait[to]`: a wait greater than / less than that many minutes (the seed:
  "Positive Int only", so 1 or more);
- `lang`: the language whose queue structure is asked for (the menus that serve it): one of
  the seed's enum (`LANGUAGES`) or a language some menu of the tenant serves, else 422 naming
  `lang`; a language of the enum that no menu serves has no queue structure: `[]`.

Each entry: `menu_id`, `menu_type`, `wait` (minutes, the seed's table), the wait in seconds
under each channel the menu serves (`voice_call`, `chat`: the vendor's published example,
"Menu ID 10 estimated wait time is 120 seconds"), `materialized_path`, `logged_in_agents`,
`available_agents`. The seed's `wait` is a required INT: with no agent logged in to the
queue there is no estimate, so such a menu is left out of the answer (a client reading
`wait` as a number never meets null).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from helpline.api.compat.ccai.calls import invalid
from helpline.api.compat.ccai.menus import MenuNode, menu_tree
from helpline.api.deps import Principal, api_key_only, app_state
from helpline.api.state import AppState
from helpline.config.menus import Language
from helpline.core.agents import AgentState
from helpline.core.engine import Engine
from helpline.core.states import AgentActivity

State = Annotated[AppState, Depends(app_state)]
Admin = Annotated[Principal, Depends(api_key_only)]

router = APIRouter()

# seed 004 "Estimated Wait Time API", `lang` enum: 'Ex: "en" "es" "fr" "de" "it" "ja" "ko"
# "pt" "pt-BR" "sv"'
LANGUAGES = frozenset({"en", "es", "fr", "de", "it", "ja", "ko", "pt", "pt-BR", "sv"})


def wait_minutes(seconds: float) -> int:
    """Whole minutes, rounded up (a caller told "2 minutes" should not wait 2.5); whole
    seconds first, so 540.0000001 s is 9 minutes, not 10."""
    return -(-round(seconds) // 60)


def _members(engine: Engine, queue_id: str) -> list[AgentState]:
    queue = engine.center.queues[queue_id]
    ids = {
        agent_id
        for tier in queue.groups
        for agent_id in engine.center.groups[tier.group].agents
        if agent_id in engine.agents
    }
    return [engine.agents[agent_id] for agent_id in sorted(ids)]


def entry(engine: Engine, node: MenuNode, channels: Sequence[str]) -> dict[str, Any]:
    queue_id = node.menu.queue
    assert queue_id is not None  # leaf menus only
    estimate = engine.estimated_wait(queue_id)
    seconds = None if estimate.ql_s is None else round(estimate.ql_s)
    members = _members(engine, queue_id)
    found: dict[str, Any] = {
        "menu_id": node.menu.id,
        "menu_type": node.menu.menu_type,
        "wait": None if estimate.ql_s is None else wait_minutes(estimate.ql_s),
    }
    for channel in channels:
        found[channel] = seconds
    found["materialized_path"] = node.materialized_path
    found["logged_in_agents"] = estimate.staffed
    found["available_agents"] = sum(
        1 for a in members if a.staffed and a.activity is AgentActivity.IDLE
    )
    return found


def _within(wait: int, wait_from: int | None, wait_to: int | None) -> bool:
    return (wait_from is None or wait > wait_from) and (wait_to is None or wait < wait_to)


@router.get("/apps/api/v1/wait_times")
async def wait_times(  # keyword-only: the query's parameters have no order
    *,
    state: State,
    who: Admin,
    lang: Annotated[Language, Query(description="the language's queue structure")],
    menu_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    channel_type: Literal["voice_call", "chat"] | None = None,
    menu_type: Literal["ivr_menu", "mobile_menu", "web_menu"] | None = None,
    wait_from: Annotated[int | None, Query(alias="wait[from]", ge=1, le=10**6)] = None,
    wait_to: Annotated[int | None, Query(alias="wait[to]", ge=1, le=10**6)] = None,
) -> list[dict[str, Any]]:
    tree = await menu_tree(state, who.tenant_id)
    served = {language for node in tree.under(None) for language in node.menu.languages}
    if lang not in LANGUAGES and lang not in served:
        raise invalid(
            "lang",
            f"{lang} is none of {' '.join(sorted(LANGUAGES))} (seed 004) and no menu serves it",
            where="query",
        )
    engine = state.hub.runtime(who.tenant_id).engine
    found = []
    for node in tree.under(menu_id):
        menu = node.menu
        if not node.is_leaf or lang not in menu.languages:
            continue
        if menu_type is not None and menu.menu_type != menu_type:
            continue
        if channel_type is not None and channel_type not in menu.channels:
            continue
        channels = [channel_type] if channel_type is not None else list(menu.channels)
        item = entry(engine, node, channels)
        if item["wait"] is None:
            continue  # nobody logged in: no estimate, and `wait` may not be null
        if _within(item["wait"], wait_from, wait_to):
            found.append(item)
    return found
