"""IVR node keypresses (Stringee "IVR node keypress management"; seed 000 1a and Step 2g).

A keypress is one of the node's keys in the center document: action 2 a queue, 3 an outside
number, 4 another node, 6 hang up, 1 voicemail; `EMPTY_KEY` (no key in time) and
`INVALID_KEY` both set the node's default action (Helpline replays the prompt on both, then
takes the default). Its `ivrNodeKeyID` maps onto (node, key).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.compat.stringee import documents as docs
from helpline.api.compat.stringee.auth import Caller, Project, State
from helpline.api.compat.stringee.ivr import DEFAULT_KEYS, node_of, put_node, tree_of
from helpline.api.compat.stringee.replies import failure, invalid, not_found, paged, success
from helpline.store.compat.stringee import StringeeId

router = APIRouter()
Id = Annotated[str, Path(min_length=1, max_length=200)]
Ref = Annotated[str, Field(min_length=1, max_length=200)]
Page = Annotated[int | None, Query()]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KeypressFields(_Body):
    action: Literal[1, 2, 3, 4, 5, 6]
    next_node: Ref | None = None
    queue_id: Ref | None = None
    from_number_callout_to_agent: Annotated[str, Field(max_length=40)] | None = None
    to_phone_number: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    sms: str | None = None


class NewKeypress(KeypressFields):
    node: Ref
    node_key: Annotated[str, Field(pattern=r"^([0-9*#]|EMPTY_KEY|INVALID_KEY)$")]


def _action(fields: dict[str, Any]) -> dict[str, Any]:
    """A keypress's action as a document IVR action, each need named by its Stringee field."""
    action = fields["action"]
    if action == 2:
        if not fields.get("queue_id"):
            raise invalid("queue_id", "needed when action is 2 (route to a queue)")
        return {"kind": "queue", "target": fields["queue_id"]}
    if action == 3:
        if not fields.get("to_phone_number"):
            raise invalid("to_phone_number", "needed when action is 3 (forward to a number)")
        return {"kind": "external", "target": fields["to_phone_number"]}
    if action == 4:
        if not fields.get("next_node"):
            raise invalid("next_node", "needed when action is 4 (go to the next node)")
        return {"kind": "node", "target": fields["next_node"]}
    if action == 5:
        raise invalid("action", "5 (send an SMS) is not supported (Stringee: coming soon)")
    if action == 1:
        return {"kind": "voicemail"}
    return {"kind": "hangup"}


def _set_key(
    document: docs.Document,
    node_id: str,
    key: str,
    action: dict[str, Any] | None,
    *,
    new: bool = False,
) -> None:
    tree = tree_of(document, node_id)
    if tree is None:
        raise not_found("IVR node", "node", node_id)
    node = node_of(tree, node_id)
    if key in DEFAULT_KEYS:
        node["default"] = action or {"kind": "hangup"}
    else:
        keys = dict(node.get("keys") or {})
        if new and key in keys:
            raise failure(409, f"node_key: {key!r} is set on this node already")
        if action is None:
            keys.pop(key, None)
        else:
            keys[key] = action
        node["keys"] = keys
    put_node(document, tree, node)


@router.post("/v1/ivrkeypress")
async def create_keypress(body: NewKeypress, state: State, who: Project) -> dict[str, Any]:
    fields = body.model_dump()
    action = _action(fields)
    ids = docs.Ids(state, who, "keypress")
    ref = docs.pair(body.node, body.node_key)
    await docs.edit(state, who, lambda d: _set_key(d, body.node, body.node_key, action, new=True))
    sid = ids.new()
    await ids.put(sid, ref, _keypress_extra(fields))
    return success(who.project_id, "Create ivr node key success", ivrNodeKeyID=sid)


def _keypress_extra(fields: dict[str, Any]) -> dict[str, Any]:
    """What a keypress has that the document's action does not."""
    keep = ("from_number_callout_to_agent", "sms")
    return {k: fields[k] for k in keep if fields.get(k) is not None}


# a document action -> Stringee's keypress action number and its target field
_ACTION_NUMBER = {"voicemail": 1, "queue": 2, "external": 3, "node": 4, "hangup": 6}
_TARGET_FIELD = {"queue": "queue_id", "external": "to_phone_number", "node": "next_node"}


def _keypress_view(who: Caller, row: StringeeId, action: dict[str, Any]) -> dict[str, Any]:
    node_id, key = docs.unpair(row.ref)
    kind = str(action.get("kind"))
    if kind == "notify" and isinstance(action.get("then"), dict):
        action, kind = action["then"], str(action["then"].get("kind"))  # what happens next
    view: dict[str, Any] = {
        "id": row.stringee_id,
        "project": who.project_id,
        "node": node_id,
        "node_key": key,
        "action": _ACTION_NUMBER.get(kind, 0),  # 0: a Helpline action Stringee has not
    }
    if kind == "repeat":  # the node again: Stringee's "go to the next node", this one
        view.update(action=4, next_node=node_id)
    elif kind in _TARGET_FIELD:
        view[_TARGET_FIELD[kind]] = action.get("target")
    elif kind not in _ACTION_NUMBER:
        view["helpline_action"] = kind
    view.update(row.extra)
    return view


@router.get("/v1/ivrkeypress")
async def list_keypresses(
    state: State,
    who: Project,
    node: Annotated[str, Query(min_length=1, max_length=200)],
    page: Page = None,
    limit: Page = None,
) -> dict[str, Any]:
    """The node's keys, as the document has them (a native key gets a Stringee id too)."""
    page, limit = docs.page_args(page, limit)
    tree = tree_of(await docs.read(state, who), node)
    if tree is None:
        raise not_found("IVR node", "node", node)
    found = node_of(tree, node)
    ids = docs.Ids(state, who, "keypress")
    actions = dict(found.get("keys") or {})
    set_here = {docs.unpair(row.ref) for row in await ids.rows()}
    for key in DEFAULT_KEYS:  # the default action shows as the key that set it, if one did
        if (node, key) in set_here:
            actions[key] = found["default"]
    rows = await ids.by_ref([docs.pair(node, key) for key in actions], adopt=True)
    items = []
    for key, action in actions.items():
        row = rows[docs.pair(node, key)]
        items.append(_keypress_view(who, row, action))
    return paged(
        who.project_id,
        "Load IVR node key success",
        items=items,
        items_key="ivrNodeKeys",
        total_key="totalCount",
        page=page,
        limit=limit,
    )


@router.put("/v1/ivrkeypress/{keypress_id}")
async def update_keypress(keypress_id: Id, body: KeypressFields, state: State, who: Project) -> Any:
    ids = docs.Ids(state, who, "keypress")
    row = await ids.get(keypress_id)
    if row is None:
        raise not_found("IVR node key", "ivrNodeKeyID", keypress_id)
    node_id, key = docs.unpair(row.ref)
    fields = body.model_dump()
    action = _action(fields)
    await docs.edit(state, who, lambda d: _set_key(d, node_id, key, action))
    await ids.put(keypress_id, row.ref, _keypress_extra(fields))
    return success(who.project_id, "Update ivr node key success")


@router.delete("/v1/ivrkeypress/{keypress_id}")
async def delete_keypress(keypress_id: Id, state: State, who: Project) -> dict[str, Any]:
    ids = docs.Ids(state, who, "keypress")
    row = await ids.get(keypress_id)
    if row is None:
        raise not_found("IVR node key", "ivrNodeKeyID", keypress_id)
    node_id, key = docs.unpair(row.ref)
    await docs.edit(state, who, lambda d: _set_key(d, node_id, key, None))
    await ids.delete(keypress_id)
    return success(who.project_id, "Delete ivr node key success")
