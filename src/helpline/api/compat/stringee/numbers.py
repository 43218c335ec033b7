"""Hotline numbers (Stringee "Number management"; seed 000 1e and Step 2i).

A number is the document's number: `enable_ivr` with `ivr_menu` (the IVR tree) sends its
calls into the IVR, `enable_ivr: false` with `queue_id` straight to a queue. `nickname`,
`allow_outbound_calls` and `record_outbound_calls` have no place in the center document and
are kept beside Stringee's `numberID`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.compat.stringee import documents as docs
from helpline.api.compat.stringee.auth import Caller, Project, State
from helpline.api.compat.stringee.replies import failure, invalid, not_found, paged, success

router = APIRouter()
Id = Annotated[str, Path(min_length=1, max_length=200)]
Ref = Annotated[str, Field(min_length=1, max_length=200)]
_EXTRA = ("nickname", "allow_outbound_calls", "record_outbound_calls")


class NumberChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    nickname: Annotated[str, Field(max_length=200)] | None = None
    allow_outbound_calls: bool | None = None
    enable_ivr: bool | None = None
    ivr_menu: Ref | None = None
    queue_id: Ref | None = None
    record_outbound_calls: bool | None = None


class NewNumber(NumberChange):
    number: Annotated[str, Field(min_length=1, max_length=40)]
    allow_outbound_calls: bool
    enable_ivr: bool


def _view(who: Caller, sid: str, number: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": sid,
        "project": who.project_id,
        "number": number["number"],
        "nickname": extra.get("nickname", ""),
        "allow_outbound_calls": extra.get("allow_outbound_calls", True),
        "enable_ivr": number["enable_ivr"],
        "ivr_menu": number.get("ivr_tree") or "",
        "queue_id": number.get("queue") or "",
        "record_outbound_calls": extra.get("record_outbound_calls", False),
    }


def _number_doc(document: docs.Document, number: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The document's number from Stringee's fields, each checked by its Stringee name."""
    enable_ivr = bool(fields.get("enable_ivr"))
    tree = fields.get("ivr_menu") or None
    queue = fields.get("queue_id") or None
    if enable_ivr and tree is None:
        raise invalid("ivr_menu", "an IVR tree id is needed when enable_ivr is true")
    if not enable_ivr and queue is None:
        raise invalid("queue_id", "a queue id is needed when enable_ivr is false")
    if tree is not None and docs.item(document, "ivr_trees", "id", tree) is None:
        raise invalid("ivr_menu", f"IVR tree {tree!r} not found, or it has no node yet")
    if queue is not None and docs.item(document, "queues", "id", queue) is None:
        raise invalid("queue_id", f"queue {queue!r} not found")
    return {"number": number, "enable_ivr": enable_ivr, "ivr_tree": tree, "queue": queue}


@router.post("/v1/number")
async def create_number(body: NewNumber, state: State, who: Project) -> dict[str, Any]:
    fields = body.model_dump()

    def change(document: docs.Document) -> None:
        if docs.item(document, "numbers", "number", body.number) is not None:
            raise failure(409, f"number: {body.number!r} exists")
        document["numbers"].append(_number_doc(document, body.number, fields))

    await docs.edit(state, who, change)
    ids = docs.Ids(state, who, "number")
    sid = ids.new()
    await ids.put(sid, body.number, {k: fields[k] for k in _EXTRA if fields[k] is not None})
    return success(who.project_id, "Create number success", numberID=sid)


@router.get("/v1/number")
async def list_numbers(
    state: State,
    who: Project,
    page: Annotated[int | None, Query()] = None,
    limit: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    page, limit = docs.page_args(page, limit)
    numbers = (await docs.read(state, who))["numbers"]
    rows = await docs.Ids(state, who, "number").by_ref([n["number"] for n in numbers], adopt=True)
    items = [_view(who, rows[n["number"]].stringee_id, n, rows[n["number"]].extra) for n in numbers]
    return paged(
        who.project_id,
        "Load number(s) success",
        items=items,
        items_key="numbers",
        total_key="totalNumbers",
        page=page,
        limit=limit,
    )


async def _number(state: State, who: Caller, sid: str) -> tuple[str, str, dict[str, Any]]:
    """The number, its canonical `numberID` and its extra fields."""
    ids = docs.Ids(state, who, "number")
    number = await ids.ref(sid)
    if docs.item(await docs.read(state, who), "numbers", "number", number) is None:
        raise not_found("number", "numberID", sid)
    row = await ids.canonical(sid)
    return number, row.stringee_id, dict(row.extra)


@router.put("/v1/number/{number_id}")
async def update_number(number_id: Id, body: NumberChange, state: State, who: Project) -> Any:
    number, number_id, extra = await _number(state, who, number_id)
    given = body.model_dump(exclude_unset=True)

    def change(document: docs.Document) -> None:
        current = docs.item(document, "numbers", "number", number)
        if current is None:
            raise not_found("number", "numberID", number_id)
        fields = {
            "enable_ivr": current["enable_ivr"],
            "ivr_menu": current.get("ivr_tree"),
            "queue_id": current.get("queue"),
            **given,
        }
        docs.replace(document, "numbers", "number", number, _number_doc(document, number, fields))

    await docs.edit(state, who, change)
    extra.update({k: given[k] for k in _EXTRA if k in given})
    await docs.Ids(state, who, "number").put(number_id, number, extra)
    return success(who.project_id, "Update number success")


@router.delete("/v1/number/{number_id}")
async def delete_number(number_id: Id, state: State, who: Project) -> dict[str, Any]:
    number, _, _ = await _number(state, who, number_id)
    await docs.edit(state, who, lambda document: docs.remove(document, "numbers", "number", number))
    await docs.Ids(state, who, "number").forget(number)
    return success(who.project_id, "Delete number success")
