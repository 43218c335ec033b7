"""`POST /apps/api/v1/calls`: the Callback Call API (seed 004), and the call by id.

The request becomes the engine's `CallbackRequested` (the one `POST /v1/calls/callback`
submits): the call waits in the menu's queue like a caller; once an agent takes it, the end
user is dialled from the outbound number chosen by the seed's table:

| menu's queue has   | number given, well formed | given, not well formed | not given       |
|--------------------|---------------------------|------------------------|-----------------|
| several numbers    | that number               | the first              | the first       |
| one number         | that number               | that one               | that one        |
| no number          | the global number         | the global number      | the global number |

("the first available": the first listed.) A well-formed number that is neither one of them
nor the global number is refused: "should be number owned by tenant, that agent has access
to". A menu's own `outbound_numbers`, when it lists any, are its table; else its queue's.

Tickets (seed 004 "Ticket ID"): a given `ticket_id` is the ticket the call is assigned to
and takes precedence over `end_user_number` (a ticket Helpline knows is dialled at its own
end user's number); without one, the end user's open ticket for the menu is used, else a
new one is opened. A ticket closes once a call on it has reached an agent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from helpline.api.compat.ccai.call_object import CALL_TYPE, call_object
from helpline.api.compat.ccai.menus import MenuNode, menu_tree
from helpline.api.compat.common import is_e164
from helpline.api.deps import Principal, api_key_only, app_state
from helpline.api.errors import VendorError, error_body
from helpline.api.state import AppState
from helpline.config.menus import Language
from helpline.core import events as ev
from helpline.core.errors import NotFound
from helpline.store.compat.ccai import CcaiCall, CcaiTicket

State = Annotated[AppState, Depends(app_state)]
Admin = Annotated[Principal, Depends(api_key_only)]

CALLBACK_MENU_TYPES = ("ivr_menu", "web_menu")  # "Only menu_id's for IVR and web"

router = APIRouter()


def invalid(field: str, message: str, *, where: str = "body") -> VendorError:
    """422 in Helpline's shape, naming the field (of the body, or `where`: "query"), as a
    request failing validation."""
    field = f"{where}.{field}"
    return VendorError(
        422,
        error_body(
            "validation_error",
            f"{field}: {message}",
            {"fields": [{"path": field, "message": message}]},
        ),
        message=f"{field}: {message}",
    )


class CallbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_type: Literal["IncomingCall"]
    recording_permission: Literal[
        "recording_permission_not_asked",
        "recording_permission_denied",
        "recording_permission_granted",
    ] = "recording_permission_not_asked"
    end_user_number: str = Field(min_length=1, max_length=40)
    outbound_number: str | None = Field(None, max_length=40)
    menu_id: int = Field(ge=1, le=2**31 - 1)
    # a ticket id is a number or a word; `true` is neither (lax int would read it as ticket 1)
    ticket_id: (
        Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.:#/-]+$")]
        | Annotated[StrictInt, Field(ge=0)]
        | None
    ) = None
    lang: Language = "en"


def outbound_number(
    requested: str | None, table: Sequence[str], global_number: str | None
) -> str | None:
    """Seed 004 "Outbound number logic" (see the module's table)."""
    if not table:
        return global_number
    if requested is None or not is_e164(requested):
        return table[0]
    if requested in table or requested == global_number:
        return requested
    raise invalid(
        "outbound_number",
        f"{requested} is not a number of this menu's queue ({', '.join(table)}) "
        "nor the global number",
    )


def _callback_menu(node: MenuNode, lang: str) -> str:
    """The queue of a menu that may take a callback call; refuses any other."""
    menu = node.menu
    if menu.menu_type not in CALLBACK_MENU_TYPES:
        raise invalid("menu_id", f"menu {menu.id} is a {menu.menu_type}: only IVR and web menus")
    if menu.queue is None:
        raise invalid("menu_id", f"menu {menu.id} has sub-menus: give one that has a queue")
    if lang not in menu.languages:
        raise invalid("lang", f"menu {menu.id} serves {', '.join(menu.languages)}")
    return menu.queue


async def _served(state: AppState, tenant_id: str, ticket: CcaiTicket) -> bool:
    """A call on the ticket reached an agent: the request it stands for was served."""
    runtime = state.hub.runtime(tenant_id)
    for row in await state.store.ccai.calls_of_ticket(tenant_id, ticket.ticket_id):
        live = runtime.engine.calls.get(row.call_id)
        if live is not None:
            if live.answered_at is not None:
                return True
            continue
        record = await state.store.records.get_record(tenant_id, row.call_id)
        if record is not None and record.answered_at is not None:
            return True
    return False


async def _ticket(state: AppState, tenant_id: str, body: CallbackBody) -> CcaiTicket:
    repo = state.store.ccai
    if body.ticket_id is not None:
        ticket_id = str(body.ticket_id)
        found = await repo.get_ticket(tenant_id, ticket_id)
        if found is not None:
            return found
        return await repo.create_ticket(
            tenant_id,
            ticket_id=ticket_id,
            end_user_number=body.end_user_number,
            menu_id=body.menu_id,
        )
    found = await repo.open_ticket_for(tenant_id, body.end_user_number, body.menu_id)
    if found is not None and await _served(state, tenant_id, found):
        await repo.close_ticket(tenant_id, found.ticket_id)
        found = None
    if found is not None:
        return found
    return await repo.create_ticket(
        tenant_id, end_user_number=body.end_user_number, menu_id=body.menu_id
    )


async def _answer(state: AppState, tenant_id: str, row: CcaiCall) -> dict[str, Any]:
    runtime = state.hub.runtime(tenant_id)
    tree = await menu_tree(state, tenant_id)
    node = tree.nodes.get(row.menu_id)
    path = node.materialized_path if node is not None else None
    center = runtime.engine.center
    live = runtime.engine.calls.get(row.call_id)
    if live is not None:
        return call_object(row, center, now=state.hub.clock(), live=live, materialized_path=path)
    record = await state.store.records.get_record(tenant_id, row.call_id)
    if record is None:  # ended a moment ago: its record is being written
        await runtime.settle()
        record = await state.store.records.get_record(tenant_id, row.call_id)
    return call_object(row, center, now=state.hub.clock(), record=record, materialized_path=path)


@router.post("/apps/api/v1/calls", status_code=201)
@router.post("/manager/api/v1/calls/instantcall", status_code=201)
async def create_call(body: CallbackBody, state: State, who: Admin) -> dict[str, Any]:
    """A call-back call to the end user, queued in the menu's queue (seed 004)."""
    tenant_id = who.tenant_id
    if not is_e164(body.end_user_number):
        raise invalid("end_user_number", "not a phone number (E.164, e.g. +19999999999)")
    tree = await menu_tree(state, tenant_id)
    node = tree.nodes.get(body.menu_id)
    if node is None:
        raise invalid("menu_id", f"no menu has id {body.menu_id}")
    queue_id = _callback_menu(node, body.lang)
    runtime = state.hub.runtime(tenant_id)
    center = runtime.engine.center
    queue = center.queues.get(queue_id)
    if queue is None:  # the document and the engine disagree only while a change applies
        raise invalid("menu_id", f"menu {body.menu_id}'s queue {queue_id} is not running")
    table = node.menu.outbound_numbers or list(queue.outbound_numbers)
    number = outbound_number(body.outbound_number, table, center.settings.global_number)
    ticket = await _ticket(state, tenant_id, body)
    call_id = f"ccai-{uuid.uuid4().hex[:16]}"
    row = await state.store.ccai.add_call(
        tenant_id,
        call_id=call_id,
        menu_id=body.menu_id,
        lang=body.lang,
        ticket_id=ticket.ticket_id,
        end_user_number=ticket.end_user_number,  # the ticket takes precedence
        outbound_number=number,
        recording_permission=body.recording_permission,
    )
    try:
        await runtime.submit(
            ev.CallbackRequested(
                call_id=call_id,
                queue_id=queue_id,
                customer_number=ticket.end_user_number,
                outbound_number=number,
                recording_permission=body.recording_permission,
                data={
                    "ccai_call_id": str(row.id),
                    "menu_id": str(body.menu_id),
                    "lang": body.lang,
                    "ticket_id": ticket.ticket_id,
                    "call_type": CALL_TYPE,
                },
            )
        )
    except BaseException:
        await state.store.ccai.remove_call(tenant_id, row.id)
        raise
    return await _answer(state, tenant_id, row)


@router.get("/apps/api/v1/calls/{call_id}")
@router.get("/manager/api/v1/calls/{call_id}")
async def get_call(
    call_id: Annotated[int, Path(ge=1, le=2**63 - 1)], state: State, who: Admin
) -> dict[str, Any]:
    """The call object of a call made through this API, as it stands now."""
    row = await state.store.ccai.get_call(who.tenant_id, call_id)
    if row is None:
        raise NotFound(f"call {call_id} not found", details={"field": "call_id"})
    return await _answer(state, who.tenant_id, row)
