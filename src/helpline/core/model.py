"""The center's configuration as the engine sees it: typed, frozen, validated.

The declarative center document (YAML/JSON) is parsed into these by `helpline.config`;
the server's REST API edits the same model. Field names follow the seeds where one exists:
`enable_ivr` (seed 000 1e), `wait_agent_answer_timeout`, `agent_wrap_up_after_calls`,
`wrap_up_time_limit`, `get_list_agents_url` (seed 000 Step 6), `routing_type` and
`manual_status` (seed 000 Step 3a), `recording` (seed 004 "Recording permissions").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Final

from helpline.core.errors import ConfigError

DTMF_KEYS: Final = frozenset("0123456789*#")
AVAILABLE: Final = "AVAILABLE"  # the one manual_status that receives calls (seed 000 Step 3b)


class RoutingType(IntEnum):
    """How an agent is reached (seed 000 Step 3a)."""

    APP = 1  # the agent's app, browser softphone or SIP phone; needs the agent online
    PHONE = 2  # the agent's own phone number; needs `phone_number`


class Strategy(StrEnum):
    """Which eligible agent a queue picks (Asterisk `strategy`, mod_callcenter, TaskRouter)."""

    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    LEAST_TALK_TIME = "least_talk_time"
    RANDOM = "random"
    LINEAR = "linear"
    RING_ALL = "ring_all"
    BEST_PROFICIENCY = "best_proficiency"


class ActionKind(StrEnum):
    """What an IVR key (or a node's default) does."""

    NODE = "node"  # go to another node of the same tree
    QUEUE = "queue"  # enter a queue, optionally with a call priority
    HANGUP = "hangup"
    REPEAT = "repeat"  # play the current node again
    EXTERNAL = "external"  # connect the caller to an outside number
    NOTIFY = "notify"  # notify a URL with the call's data (seed 002), then do `then`
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"  # leave the line; a callback call waits in the target queue


class FallbackKind(StrEnum):
    """Where a queued call goes when the queue is full or it waited too long."""

    QUEUE = "queue"
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    HANGUP = "hangup"


class RecordingMode(StrEnum):
    """Queue-level call recording option (seed 004 "Recording permissions")."""

    RECORD = "record"
    DO_NOT_RECORD = "do_not_record"
    ASK = "ask"  # follow the call's recording permission


def _require(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise ConfigError(path, message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """Something to play: text to speak in a language, or an audio reference."""

    text: str | None = None
    language: str = "en"
    audio: str | None = None

    def __post_init__(self) -> None:
        _require(
            (self.text is None) != (self.audio is None), "prompt", "give exactly one of text, audio"
        )

    def render(self, values: Mapping[str, object]) -> str | None:
        """The text with `{ewt_minutes}`-style placeholders filled; unknown ones stay as-is."""
        if self.text is None:
            return None
        text = self.text
        for key, value in values.items():
            text = text.replace("{" + key + "}", str(value))
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """The outcome of a key press, a node's default, or an exhausted retry count."""

    kind: ActionKind
    target: str | None = None  # node id, queue id, number, URL or mailbox, by kind
    priority: int = 0  # call priority in the queue (QUEUE, CALLBACK); higher goes first
    prompt: Prompt | None = None  # e.g. "goodbye" before HANGUP
    then: Action | None = None  # NOTIFY continues with this action
    notify_when: str = "hangup"  # NOTIFY: "hangup" (seed 002: sent when the call ends) or "now"

    def __post_init__(self) -> None:
        needs_target = {
            ActionKind.NODE,
            ActionKind.QUEUE,
            ActionKind.EXTERNAL,
            ActionKind.NOTIFY,
            ActionKind.CALLBACK,
        }
        if self.kind in needs_target:
            _require(bool(self.target), "target", f"action {self.kind.value!r} needs a target")
        if self.kind is ActionKind.NOTIFY:
            _require(self.then is not None, "then", "a notify action needs `then`")
            _require(self.notify_when in ("hangup", "now"), "notify_when", "'hangup' or 'now'")


HANGUP: Final = Action(kind=ActionKind.HANGUP)


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrNode:
    """A prompt, then a wait for one key (seed 000 1a: a node; a key press is a branch)."""

    id: str
    prompt: Prompt
    keys: Mapping[str, Action] = field(default_factory=dict)
    timeout_s: float = 5.0
    max_retries: int = 2  # invalid or missing input replays the node this many times
    default: Action = HANGUP  # taken once the retries are used up
    invalid_prompt: Prompt | None = None

    def __post_init__(self) -> None:
        _require(self.timeout_s > 0, "timeout_s", "must be > 0")
        _require(self.max_retries >= 0, "max_retries", "must be >= 0")
        for key in self.keys:
            _require(key in DTMF_KEYS, f"keys.{key}", "a key is one of 0-9, * or #")


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrTree:
    id: str
    root: str
    nodes: Mapping[str, IvrNode]


@dataclass(frozen=True, slots=True, kw_only=True)
class Number:
    """A hotline number (seed 000 1e: with `enable_ivr` false, calls go straight to a queue)."""

    number: str
    enable_ivr: bool = False
    ivr_tree: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupTier:
    """A group assigned to a queue with a priority (seed 000 1d); 1 is tried first.

    `after_wait_s` opens the group to a call only once the call has waited that long
    (overflow over time, as TaskRouter workflow steps and Asterisk queue rules do).
    """

    group: str
    priority: int = 1
    after_wait_s: float = 0.0

    def __post_init__(self) -> None:
        _require(self.after_wait_s >= 0, "after_wait_s", "must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fallback:
    kind: FallbackKind = FallbackKind.HANGUP
    target: str | None = None  # queue (QUEUE; CALLBACK, default same queue); VOICEMAIL: mailbox
    prompt: Prompt | None = None

    def __post_init__(self) -> None:
        if self.kind is FallbackKind.QUEUE:
            _require(bool(self.target), "target", "a queue fallback needs a target queue")


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    id: str
    name: str = ""
    strategy: Strategy = Strategy.LONGEST_IDLE
    groups: tuple[GroupTier, ...] = ()
    required_skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum level
    wait_agent_answer_timeout: float = 15.0
    agent_wrap_up_after_calls: bool = False
    wrap_up_time_limit: float | None = 30.0  # None: wrap-up lasts until the agent ends it
    max_size: int | None = None
    on_full: Fallback = field(default_factory=Fallback)
    max_wait_s: float | None = None
    on_max_wait: Fallback = field(default_factory=Fallback)
    greeting: Prompt | None = None
    hold_music: str | None = None
    get_list_agents_url: str | None = None
    router_timeout_s: float = 3.0
    transfer_keeps_position: bool = True
    recording: RecordingMode = RecordingMode.DO_NOT_RECORD
    outbound_numbers: tuple[str, ...] = ()  # caller ids for callback calls (seed 004)

    def __post_init__(self) -> None:
        _require(self.wait_agent_answer_timeout > 0, "wait_agent_answer_timeout", "must be > 0")
        _require(self.router_timeout_s > 0, "router_timeout_s", "must be > 0")
        if self.wrap_up_time_limit is not None:
            _require(self.wrap_up_time_limit >= 0, "wrap_up_time_limit", "must be >= 0")
        if self.max_size is not None:
            _require(self.max_size >= 0, "max_size", "must be >= 0")
        if self.max_wait_s is not None:
            _require(self.max_wait_s > 0, "max_wait_s", "must be > 0")
        for skill, level in self.required_skills.items():
            _require(level >= 0, f"required_skills.{skill}", "a level is >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    id: str
    name: str = ""
    agents: tuple[str, ...] = ()  # in order: the order `linear` follows


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    """An agent (seed 000 Step 3a); `id` is the `stringee_user_id`."""

    id: str
    name: str = ""
    email: str | None = None
    phone_number: str | None = None
    routing_type: RoutingType = RoutingType.APP
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> proficiency
    manual_status: str = AVAILABLE

    def __post_init__(self) -> None:
        _require(bool(self.id), "id", "an agent needs an id")
        for skill, level in self.skills.items():
            _require(level >= 0, f"skills.{skill}", "a proficiency is >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Center-wide routing settings."""

    max_missed_offers: int = 3  # missed offers in a row before an agent is set not ready; 0: never
    missed_status: str = "NOT_AVAILABLE"
    trace_detail_limit: int = 50  # pools up to this size list every agent in the decision trace
    max_fallbacks: int = 5  # a call that keeps falling back (q1 -> q2 -> q1 ...) is ended
    global_number: str | None = None  # caller id when a queue has no outbound numbers (seed 004)


@dataclass(frozen=True, slots=True, kw_only=True)
class Center:
    """The whole center document, as the engine routes on it."""

    numbers: Mapping[str, Number] = field(default_factory=dict)
    ivr_trees: Mapping[str, IvrTree] = field(default_factory=dict)
    queues: Mapping[str, Queue] = field(default_factory=dict)
    groups: Mapping[str, Group] = field(default_factory=dict)
    agents: Mapping[str, Agent] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)

    def validate(self) -> Center:
        """Check every cross-reference; raise `ConfigError` naming the path of the first bad one."""
        for key, number in self.numbers.items():
            path = f"numbers.{key}"
            if number.enable_ivr:
                _require(number.ivr_tree in self.ivr_trees, f"{path}.ivr_tree", "unknown IVR tree")
            else:
                _require(number.queue in self.queues, f"{path}.queue", "unknown queue")
        for tree_id, tree in self.ivr_trees.items():
            _require(tree.root in tree.nodes, f"ivr_trees.{tree_id}.root", "unknown node")
            for node_id, node in tree.nodes.items():
                path = f"ivr_trees.{tree_id}.nodes.{node_id}"
                for key, action in node.keys.items():
                    self._check_action(tree, action, f"{path}.keys.{key}")
                self._check_action(tree, node.default, f"{path}.default")
        for queue_id, queue in self.queues.items():
            path = f"queues.{queue_id}"
            for index, tier in enumerate(queue.groups):
                _require(
                    tier.group in self.groups, f"{path}.groups[{index}].group", "unknown group"
                )
            for name, fallback in (("on_full", queue.on_full), ("on_max_wait", queue.on_max_wait)):
                if fallback.target is not None and fallback.kind is not FallbackKind.VOICEMAIL:
                    _require(
                        fallback.target in self.queues, f"{path}.{name}.target", "unknown queue"
                    )
        for group_id, group in self.groups.items():
            for index, agent_id in enumerate(group.agents):
                _require(
                    agent_id in self.agents, f"groups.{group_id}.agents[{index}]", "unknown agent"
                )
        return self

    def _check_action(self, tree: IvrTree, action: Action, path: str) -> None:
        if action.kind is ActionKind.NODE:
            _require(action.target in tree.nodes, f"{path}.target", "unknown node")
        elif action.kind in (ActionKind.QUEUE, ActionKind.CALLBACK):
            _require(action.target in self.queues, f"{path}.target", "unknown queue")
        if action.then is not None:
            self._check_action(tree, action.then, f"{path}.then")
