"""IVR trees and nodes (Stringee "IVR tree" and "IVR tree node" management; seed 000 1a and
Step 2b); keypresses are in `keypresses`.

The center document holds a tree with its root and nodes; a tree Stringee creates empty has
neither yet, so until its first node (which becomes the root, `isRootNode: true`) it lives
only beside its id here, and numbers cannot use it. A node's prompt is text to speak
(`node_play_mode: "talk"`) or an audio file (`"play"`); `keypress_timeout` is its timeout and
`loop_count` the plays before its default action (`max_retries = loop_count - 1`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.compat.stringee import documents as docs
from helpline.api.compat.stringee.auth import Caller, Project, State
from helpline.api.compat.stringee.replies import failure, not_found, paged, seconds, success

router = APIRouter()
Id = Annotated[str, Path(min_length=1, max_length=200)]
Ref = Annotated[str, Field(min_length=1, max_length=200)]
Page = Annotated[int | None, Query()]
DEFAULT_KEYS = ("EMPTY_KEY", "INVALID_KEY")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TreeName(_Body):
    tree_name: Annotated[str, Field(min_length=1, max_length=200)]


class NodeFields(_Body):
    node_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    node_play_mode: Literal["talk", "play"] | None = None
    node_play_content: Annotated[str, Field(min_length=1, max_length=5000)] | None = None
    bargeIn: bool | None = None
    loop_count: Annotated[int, Field(ge=1, le=20)] | None = None
    sched: Annotated[int, Field(ge=0)] | None = None
    voice: Annotated[str, Field(max_length=200)] | None = None
    speed: Annotated[int, Field(ge=-3, le=3)] | None = None
    keypress_timeout: Annotated[int, Field(ge=1, le=600)] | None = None


class NewNode(NodeFields):
    tree: Ref
    node_name: Annotated[str, Field(min_length=1, max_length=200)]
    node_play_mode: Literal["talk", "play"]
    node_play_content: Annotated[str, Field(min_length=1, max_length=5000)]


# -- where things are in the document ----------------------------------------------------------


def tree_of(document: docs.Document, node_id: str) -> dict[str, Any] | None:
    for tree in document["ivr_trees"]:
        if any(n["id"] == node_id for n in tree["nodes"]):
            return dict(tree)
    return None


def node_of(tree: dict[str, Any], node_id: str) -> dict[str, Any]:
    return dict(next(n for n in tree["nodes"] if n["id"] == node_id))


def put_node(document: docs.Document, tree: dict[str, Any], node: dict[str, Any]) -> None:
    tree = {**tree, "nodes": [node if n["id"] == node["id"] else n for n in tree["nodes"]]}
    docs.replace(document, "ivr_trees", "id", tree["id"], tree)


# -- trees -------------------------------------------------------------------------------------


@router.post("/v1/ivrtree")
async def create_tree(body: TreeName, state: State, who: Project) -> dict[str, Any]:
    ids = docs.Ids(state, who, "ivrtree")
    tree_id = ids.new()
    await ids.put(tree_id, tree_id, {"tree_name": body.tree_name})
    return success(who.project_id, "Create ivr tree success", ivrTreeID=tree_id)


async def _trees(state: State, who: Caller) -> list[dict[str, Any]]:
    """Every tree: those of the document, then those with no node yet."""
    document = await docs.read(state, who)
    names = {row.ref: row.extra.get("tree_name", "") for row in await _tree_rows(state, who)}
    trees = [
        {"id": t["id"], "tree_name": names.get(t["id"], t["id"]), "root_node": t["root"]}
        for t in document["ivr_trees"]
    ]
    listed = {t["id"] for t in trees}
    trees += [
        {"id": ref, "tree_name": name, "root_node": ""}
        for ref, name in names.items()
        if ref not in listed
    ]
    return [{**t, "project": who.project_id} for t in trees]


async def _tree_rows(state: State, who: Caller) -> list[Any]:
    return await docs.Ids(state, who, "ivrtree").rows()


@router.get("/v1/ivrtree")
async def list_trees(state: State, who: Project, page: Page = None, limit: Page = None) -> Any:
    page, limit = docs.page_args(page, limit)
    return paged(
        who.project_id,
        "Load IVR tree success",
        items=await _trees(state, who),
        items_key="ivrTrees",
        total_key="totalCount",
        page=page,
        limit=limit,
    )


async def _find_tree(state: State, who: Caller, tree_id: str, field: str) -> dict[str, Any]:
    for tree in await _trees(state, who):
        if tree["id"] == tree_id:
            return tree
    raise not_found("IVR tree", field, tree_id)


@router.put("/v1/ivrtree/{tree_id}")
async def update_tree(tree_id: Id, body: TreeName, state: State, who: Project) -> Any:
    await _find_tree(state, who, tree_id, "ivrTreeID")
    await docs.Ids(state, who, "ivrtree").put(tree_id, tree_id, {"tree_name": body.tree_name})
    return success(who.project_id, "Update ivr tree success")


@router.delete("/v1/ivrtree/{tree_id}")
async def delete_tree(tree_id: Id, state: State, who: Project) -> dict[str, Any]:
    await _find_tree(state, who, tree_id, "ivrTreeID")
    await docs.edit(
        state,
        who,
        lambda document: docs.remove(document, "ivr_trees", "id", tree_id),
        deleting=f"IVR tree {tree_id}",
    )
    await docs.Ids(state, who, "ivrtree").delete(tree_id)
    return success(who.project_id, "Delete ivr tree success")


# -- nodes -------------------------------------------------------------------------------------


def _node_view(who: Caller, tree_id: str, node: dict[str, Any], extra: dict[str, Any]) -> Any:
    prompt = node.get("prompt") or {}
    return {
        "id": node["id"],
        "project": who.project_id,
        "tree": tree_id,
        "node_name": extra.get("node_name", node["id"]),
        "node_play_mode": "play" if prompt.get("audio") else "talk",
        "node_play_content": prompt.get("audio") or prompt.get("text") or "",
        "bargeIn": extra.get("bargeIn", True),
        "loop_count": node.get("max_retries", 0) + 1,
        "sched": extra.get("sched", 0),
        "voice": extra.get("voice", ""),
        "speed": extra.get("speed", 0),
        "keypress_timeout": seconds(node.get("timeout", 5)),
    }


def _apply_node(node: dict[str, Any], fields: dict[str, Any]) -> None:
    mode = fields.get("node_play_mode")
    content = fields.get("node_play_content")
    if mode is not None or content is not None:
        prompt = node.get("prompt") or {}
        mode = mode or ("play" if prompt.get("audio") else "talk")
        content = content or prompt.get("audio") or prompt.get("text")
        node["prompt"] = {"audio": content} if mode == "play" else {"text": content}
    if fields.get("keypress_timeout") is not None:
        node["timeout"] = fields["keypress_timeout"]
    if fields.get("loop_count") is not None:
        node["max_retries"] = fields["loop_count"] - 1


_NODE_EXTRA = ("node_name", "bargeIn", "sched", "voice", "speed")


@router.post("/v1/ivrnode")
async def create_node(body: NewNode, state: State, who: Project) -> dict[str, Any]:
    tree = await _find_tree(state, who, body.tree, "tree")
    ids = docs.Ids(state, who, "ivrnode")
    node_id = ids.new()
    node: dict[str, Any] = {"id": node_id, "keys": {}, "max_retries": 0}
    fields = body.model_dump(exclude_none=True)
    _apply_node(node, fields)
    is_root = not tree["root_node"]

    def change(document: docs.Document) -> None:
        current = docs.item(document, "ivr_trees", "id", body.tree)
        if current is None:
            document["ivr_trees"].append({"id": body.tree, "root": node_id, "nodes": [node]})
        else:
            current["nodes"] = [*current["nodes"], node]
            docs.replace(document, "ivr_trees", "id", body.tree, current)

    await docs.edit(state, who, change)
    await ids.put(node_id, node_id, {k: fields[k] for k in _NODE_EXTRA if k in fields})
    return success(who.project_id, "Create ivr node success", ivrNodeID=node_id, isRootNode=is_root)


@router.get("/v1/ivrnode")
async def list_nodes(
    state: State,
    who: Project,
    tree: Annotated[str, Query(min_length=1, max_length=200)],
    page: Page = None,
    limit: Page = None,
) -> dict[str, Any]:
    page, limit = docs.page_args(page, limit)
    await _find_tree(state, who, tree, "tree")
    found = docs.item(await docs.read(state, who), "ivr_trees", "id", tree)
    extras = {row.ref: row.extra for row in await docs.Ids(state, who, "ivrnode").rows()}
    nodes = found["nodes"] if found is not None else []
    return paged(
        who.project_id,
        "Load IVR node success",
        items=[_node_view(who, tree, n, extras.get(n["id"], {})) for n in nodes],
        items_key="ivrNodes",
        total_key="totalCount",
        page=page,
        limit=limit,
    )


@router.put("/v1/ivrnode/{node_id}")
async def update_node(node_id: Id, body: NodeFields, state: State, who: Project) -> Any:
    fields = body.model_dump(exclude_none=True)

    def change(document: docs.Document) -> None:
        tree = tree_of(document, node_id)
        if tree is None:
            raise not_found("IVR node", "ivrNodeID", node_id)
        node = node_of(tree, node_id)
        _apply_node(node, fields)
        put_node(document, tree, node)

    await docs.edit(state, who, change)
    ids = docs.Ids(state, who, "ivrnode")
    extra = {**await ids.extra(node_id), **{k: fields[k] for k in _NODE_EXTRA if k in fields}}
    await ids.put(node_id, node_id, extra)
    return success(who.project_id, "Update ivr node success")


@router.delete("/v1/ivrnode/{node_id}")
async def delete_node(node_id: Id, state: State, who: Project) -> dict[str, Any]:
    def change(document: docs.Document) -> None:
        tree = tree_of(document, node_id)
        if tree is None:
            raise not_found("IVR node", "ivrNodeID", node_id)
        rest = [n for n in tree["nodes"] if n["id"] != node_id]
        if not rest:  # the tree's last node: the tree has nothing to play any more
            docs.remove(document, "ivr_trees", "id", tree["id"])
        elif tree["root"] == node_id:
            raise failure(409, f"ivrNodeID: {node_id!r} is the root node of its tree")
        else:
            docs.replace(document, "ivr_trees", "id", tree["id"], {**tree, "nodes": rest})

    await docs.edit(state, who, change, deleting=f"IVR node {node_id}")
    await docs.Ids(state, who, "ivrnode").delete(node_id)
    return success(who.project_id, "Delete ivr node success")
