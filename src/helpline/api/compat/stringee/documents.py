"""The tenant's one center document, read and edited for the Stringee resources, and the
Stringee ids of its items.

Every Stringee resource is a view of the center document (config/schema.py), edited through
the native helpers (`api.center.edit_document`: under the tenant's lock, validated whole,
stored with a version, applied to the live engine). Queues, groups, IVR trees and nodes keep
one id in both APIs (a create here makes the document's id in Stringee's style, `QU_...`).
Agents, numbers, keypresses and group routings have an id of their own in Stringee
(`agentID` vs `stringee_user_id`, `numberID` vs the number): `stringee_ids` maps it, and an
item the native API made gets one the first time it is listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from helpline.api.center import current_document, edit_document
from helpline.api.compat.stringee.auth import Caller
from helpline.api.compat.stringee.replies import DEFAULT_LIMIT, MAX_LIMIT, invalid
from helpline.api.state import AppState
from helpline.config import center_document, parse_center
from helpline.store.compat.stringee import StringeeId, stringee_id

Document = dict[str, Any]

# the mapped kinds and the prefix of the ids Stringee answers for them
PREFIX = {
    "agent": "AG_",
    "number": "NU_",
    "keypress": "NO_KE_",
    "routing": "GR_RO_",
    "queue": "QU_",
    "group": "GR_",
    "ivrtree": "TR_",
    "ivrnode": "NO_",
}


async def read(state: AppState, who: Caller) -> Document:
    """The document with every field spelt out (a stored one may leave defaults out)."""
    _, document = await current_document(state, who.tenant_id)
    return center_document(parse_center(document), name=str(document.get("name", "")))


async def edit(
    state: AppState, who: Caller, change: Callable[[Document], None], *, deleting: str = ""
) -> Document:
    return await edit_document(state, who.tenant_id, change, deleting=deleting or None)


def item(document: Document, field: str, key: str, value: str) -> dict[str, Any] | None:
    for entry in document[field]:
        if str(entry[key]) == value:
            return dict(entry)
    return None


def replace(document: Document, field: str, key: str, value: str, new: dict[str, Any]) -> None:
    document[field] = [new if str(e[key]) == value else e for e in document[field]]


def remove(document: Document, field: str, key: str, value: str) -> None:
    document[field] = [e for e in document[field] if str(e[key]) != value]


def pair(a: str, b: str) -> str:
    """The `ref` of a keypress (node, key) or a group routing (queue, group)."""
    return json.dumps([a, b])


def unpair(ref: str) -> tuple[str, str]:
    a, b = json.loads(ref)
    return str(a), str(b)


class Ids:
    """The caller's tenant's Stringee ids of one kind."""

    def __init__(self, state: AppState, who: Caller, kind: str) -> None:
        self.repo = state.store.stringee
        self.tenant_id = who.tenant_id
        self.kind = kind

    def new(self) -> str:
        return stringee_id(PREFIX[self.kind])

    async def get(self, sid: str) -> StringeeId | None:
        return await self.repo.get_id(self.tenant_id, self.kind, sid)

    async def ref(self, sid: str) -> str:
        """The document id of a Stringee id; an unmapped id is taken as the document's own."""
        row = await self.get(sid)
        return row.ref if row is not None else sid

    async def extra(self, sid: str) -> dict[str, Any]:
        row = await self.get(sid)
        return dict(row.extra) if row is not None else {}

    async def put(self, sid: str, ref: str, extra: dict[str, Any]) -> None:
        await self.repo.put_id(self.tenant_id, self.kind, sid, ref, extra)

    async def update(self, sid: str, ref: str, extra: dict[str, Any]) -> None:
        await self.repo.update_id(self.tenant_id, self.kind, sid, ref=ref, extra=extra)

    async def delete(self, sid: str) -> None:
        await self.repo.delete_id(self.tenant_id, self.kind, sid)

    async def forget(self, ref: str) -> None:
        await self.repo.delete_ref(self.tenant_id, self.kind, ref)

    async def canonical(self, sid: str) -> StringeeId:
        """The mapping row of `sid`, or of the document id `sid` names (made if needed)."""
        row = await self.get(sid)
        if row is None:
            row = (await self.by_ref([sid], adopt=True))[sid]
        return row

    async def rows(self) -> list[StringeeId]:
        return await self.repo.list_ids(self.tenant_id, self.kind)

    async def by_ref(self, refs: list[str], *, adopt: bool) -> dict[str, StringeeId]:
        """Each document id's mapping row; with `adopt`, a new id for those without one."""
        rows = {row.ref: row for row in await self.rows()}
        missing = [ref for ref in refs if ref not in rows]
        if adopt and missing:
            for ref in missing:
                await self.repo.adopt(self.tenant_id, self.kind, ref, self.new())
            rows = {row.ref: row for row in await self.rows()}
        return rows


def page_args(page: int | None, limit: int | None) -> tuple[int, int]:
    """Stringee's `page` (from 1) and `limit` (default 50, at most 100)."""
    page = 1 if page is None else page
    limit = DEFAULT_LIMIT if limit is None else limit
    if page < 1:
        raise invalid("page", "must be 1 or more")
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"must be between 1 and {MAX_LIMIT}")
    return page, limit
