"""Load, validate and export the center document (ARCHITECTURE.md, "The center document").

One schema (`schema.CenterDoc`), one validator, errors naming the path of each bad field:
`parse_center` turns a parsed document into the engine's `core.model.Center`;
`center_document` turns a `Center` back into a plain document; `load_center` reads YAML or
JSON from a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from helpline.config import schema as s
from helpline.config.menus import check_menus
from helpline.core import model as m
from helpline.core.errors import ConfigError

_T = TypeVar("_T")


def error_path(loc: Sequence[int | str]) -> str:
    """`("queues", 0, "max_wait")` -> `queues[0].max_wait`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(document)"


def validation_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as `{path, message}` pairs, without pydantic's internal branch names."""
    found: list[dict[str, str]] = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        message = str(item["msg"]).removeprefix("Value error, ")
        found.append({"path": error_path(loc), "message": message})
    return found


def parse_center(document: Any) -> m.Center:
    """Validate a parsed document (dict) and build the engine's `Center`."""
    try:
        doc = s.CenterDoc.model_validate(document)
    except ValidationError as error:
        errors = validation_errors(error)
        first = errors[0]
        raised = ConfigError(first["path"], first["message"])
        raised.details["errors"] = errors
        raise raised from None
    return _to_center(doc).validate()


def load_document(path: str | Path) -> Any:
    """Read YAML or JSON (JSON is YAML too); errors say the file and line."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(str(source), f"cannot read: {error.strerror}") from None
    try:
        return yaml.safe_load(text) if source.suffix != ".json" else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise ConfigError(str(source), f"not valid YAML/JSON: {error}") from None


def load_center(path: str | Path) -> m.Center:
    return parse_center(load_document(path))


def _unique(items: Sequence[_T], key: str, where: str) -> dict[str, _T]:
    found: dict[str, _T] = {}
    for index, item in enumerate(items):
        name = getattr(item, key)
        if name in found:
            raise ConfigError(f"{where}[{index}].{key}", f"duplicate {key} {name!r}")
        found[name] = item
    return found


def _prompt(doc: s.PromptDoc | None) -> m.Prompt | None:
    if doc is None:
        return None
    return m.Prompt(text=doc.text, language=doc.language, audio=doc.audio)


def _action(doc: s.ActionDoc) -> m.Action:
    return m.Action(
        kind=m.ActionKind(doc.kind),
        target=doc.target,
        priority=doc.priority,
        prompt=_prompt(doc.prompt),
        then=_action(doc.then) if doc.then is not None else None,
        notify_when=doc.notify_when,
    )


def _node(doc: s.IvrNodeDoc) -> m.IvrNode:
    prompt = _prompt(doc.prompt)
    assert prompt is not None
    return m.IvrNode(
        id=doc.id,
        prompt=prompt,
        keys={key: _action(action) for key, action in doc.keys.items()},
        timeout_s=doc.timeout,
        max_retries=doc.max_retries,
        default=_action(doc.default),
        invalid_prompt=_prompt(doc.invalid_prompt),
    )


def _fallback(doc: s.FallbackDoc) -> m.Fallback:
    return m.Fallback(kind=m.FallbackKind(doc.kind), target=doc.target, prompt=_prompt(doc.prompt))


def _queue(doc: s.QueueDoc, index: int) -> m.Queue:
    try:
        return m.Queue(
            id=doc.id,
            name=doc.name,
            strategy=m.Strategy(doc.strategy),
            groups=tuple(
                m.GroupTier(group=t.group, priority=t.priority, after_wait_s=t.after_wait)
                for t in doc.groups
            ),
            required_skills=dict(doc.required_skills),
            wait_agent_answer_timeout=doc.wait_agent_answer_timeout,
            agent_wrap_up_after_calls=doc.agent_wrap_up_after_calls,
            wrap_up_time_limit=doc.wrap_up_time_limit,
            max_size=doc.max_size,
            on_full=_fallback(doc.on_full),
            max_wait_s=doc.max_wait,
            on_max_wait=_fallback(doc.on_max_wait),
            greeting=_prompt(doc.greeting),
            hold_music=doc.hold_music,
            get_list_agents_url=doc.get_list_agents_url,
            router_timeout_s=doc.router_timeout,
            transfer_keeps_position=doc.transfer_keeps_position,
            recording=m.RecordingMode(doc.recording),
            outbound_numbers=tuple(doc.outbound_numbers),
        )
    except ConfigError as error:
        raise ConfigError(
            f"queues[{index}].{error.path}", error.message.split(": ", 1)[-1]
        ) from None


def _to_center(doc: s.CenterDoc) -> m.Center:
    numbers = _unique(doc.numbers, "number", "numbers")
    trees = _unique(doc.ivr_trees, "id", "ivr_trees")
    queues = _unique(doc.queues, "id", "queues")
    groups = _unique(doc.groups, "id", "groups")
    agents = _unique(doc.agents, "id", "agents")
    for tree_index, tree in enumerate(doc.ivr_trees):
        _unique(tree.nodes, "id", f"ivr_trees[{tree_index}].nodes")
    check_menus(doc)  # menus and mobile apps: configuration the engine does not read
    return m.Center(
        numbers={
            key: m.Number(
                number=n.number, enable_ivr=n.enable_ivr, ivr_tree=n.ivr_tree, queue=n.queue
            )
            for key, n in numbers.items()
        },
        ivr_trees={
            key: m.IvrTree(id=t.id, root=t.root, nodes={n.id: _node(n) for n in t.nodes})
            for key, t in trees.items()
        },
        queues={key: _queue(q, i) for i, (key, q) in enumerate(queues.items())},
        groups={
            key: m.Group(id=g.id, name=g.name, agents=tuple(g.agents)) for key, g in groups.items()
        },
        agents={
            key: m.Agent(
                id=a.id,
                name=a.name,
                email=a.email,
                phone_number=a.phone_number,
                routing_type=m.RoutingType(a.routing_type),
                skills=dict(a.skills),
                manual_status=a.manual_status,
            )
            for key, a in agents.items()
        },
        settings=m.Settings(
            max_missed_offers=doc.settings.max_missed_offers,
            missed_status=doc.settings.missed_status,
            trace_detail_limit=doc.settings.trace_detail_limit,
            max_fallbacks=doc.settings.max_fallbacks,
            global_number=doc.settings.global_number,
        ),
    )


# -- export ------------------------------------------------------------------------------------


def _prompt_doc(prompt: m.Prompt | None) -> dict[str, Any] | None:
    if prompt is None:
        return None
    out: dict[str, Any] = {"language": prompt.language}
    if prompt.text is not None:
        out["text"] = prompt.text
    else:
        out["audio"] = prompt.audio
    return out


def _action_doc(action: m.Action) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": action.kind.value}
    if action.target is not None:
        out["target"] = action.target
    if action.priority:
        out["priority"] = action.priority
    if action.prompt is not None:
        out["prompt"] = _prompt_doc(action.prompt)
    if action.then is not None:
        out["then"] = _action_doc(action.then)
        out["notify_when"] = action.notify_when
    return out


def _fallback_doc(fallback: m.Fallback) -> dict[str, Any]:
    return {
        "kind": fallback.kind.value,
        "target": fallback.target,
        "prompt": _prompt_doc(fallback.prompt),
    }


def center_document(center: m.Center, *, name: str = "") -> dict[str, Any]:
    """The center as a plain document that `parse_center` reads back to an equal `Center`."""
    settings = center.settings
    return {
        "name": name,
        "settings": {
            "max_missed_offers": settings.max_missed_offers,
            "missed_status": settings.missed_status,
            "trace_detail_limit": settings.trace_detail_limit,
            "max_fallbacks": settings.max_fallbacks,
            "global_number": settings.global_number,
        },
        "numbers": [
            {
                "number": n.number,
                "enable_ivr": n.enable_ivr,
                "ivr_tree": n.ivr_tree,
                "queue": n.queue,
            }
            for n in center.numbers.values()
        ],
        "ivr_trees": [
            {
                "id": tree.id,
                "root": tree.root,
                "nodes": [
                    {
                        "id": node.id,
                        "prompt": _prompt_doc(node.prompt),
                        "keys": {key: _action_doc(a) for key, a in node.keys.items()},
                        "timeout": node.timeout_s,
                        "max_retries": node.max_retries,
                        "default": _action_doc(node.default),
                        "invalid_prompt": _prompt_doc(node.invalid_prompt),
                    }
                    for node in tree.nodes.values()
                ],
            }
            for tree in center.ivr_trees.values()
        ],
        "queues": [_queue_doc(q) for q in center.queues.values()],
        "groups": [
            {"id": g.id, "name": g.name, "agents": list(g.agents)} for g in center.groups.values()
        ],
        "agents": [
            {
                "id": a.id,
                "name": a.name,
                "email": a.email,
                "phone_number": a.phone_number,
                "routing_type": int(a.routing_type),
                "skills": dict(a.skills),
                "manual_status": a.manual_status,
            }
            for a in center.agents.values()
        ],
    }


def _queue_doc(q: m.Queue) -> dict[str, Any]:
    return {
        "id": q.id,
        "name": q.name,
        "strategy": q.strategy.value,
        "groups": [
            {"group": t.group, "priority": t.priority, "after_wait": t.after_wait_s}
            for t in q.groups
        ],
        "required_skills": dict(q.required_skills),
        "wait_agent_answer_timeout": q.wait_agent_answer_timeout,
        "agent_wrap_up_after_calls": q.agent_wrap_up_after_calls,
        "wrap_up_time_limit": q.wrap_up_time_limit,
        "max_size": q.max_size,
        "on_full": _fallback_doc(q.on_full),
        "max_wait": q.max_wait_s,
        "on_max_wait": _fallback_doc(q.on_max_wait),
        "greeting": _prompt_doc(q.greeting),
        "hold_music": q.hold_music,
        "get_list_agents_url": q.get_list_agents_url,
        "router_timeout": q.router_timeout_s,
        "transfer_keeps_position": q.transfer_keeps_position,
        "recording": q.recording.value,
        "outbound_numbers": list(q.outbound_numbers),
    }


def merged(center: m.Center, **changes: Mapping[str, Any]) -> m.Center:
    """A copy of `center` with some collections replaced (used by the simulator's staffing)."""
    fields: dict[str, Any] = {
        "numbers": center.numbers,
        "ivr_trees": center.ivr_trees,
        "queues": center.queues,
        "groups": center.groups,
        "agents": center.agents,
        "settings": center.settings,
    }
    fields.update(changes)
    return m.Center(**fields).validate()
