"""The center document's schema: what `center.yaml`, `PUT /v1/config` and the simulator read.

Pydantic models with `extra="forbid"`, so a misspelt field is an error that names its path
instead of a silently ignored setting. Durations take seconds or a unit: `15s`, `2m`, `1h`,
`250ms`. Collections are lists of objects with an `id` (or `number`), or mappings keyed by
it. An IVR action is `{kind: queue, target: support}`, or one of the short forms
`{queue: support, priority: 2}`, `{node: menu_en}`, `{external: "+1555"}`, `{notify: URL,
then: ...}`, `{voicemail: box}`, `{callback: support}`, or the strings `hangup` and `repeat`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from helpline.config.menus import MenuDoc, MobileAppDoc

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> object:
    """`30`, `30s`, `2m`, `1.5h`, `250ms` -> seconds; anything else is left for pydantic."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration: use seconds or 30s, 2m, 1h, 250ms")
        return float(match.group(1)) * _UNIT_S[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PromptDoc(_Doc):
    text: str | None = None
    language: str = "en"
    audio: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PromptDoc:
        if (self.text is None) == (self.audio is None):
            raise ValueError("give exactly one of text, audio")
        return self


def _prompt(value: object) -> object:
    return {"text": value} if isinstance(value, str) else value


Prompt = Annotated[PromptDoc, BeforeValidator(_prompt)]

ActionKindName = Literal[
    "node", "queue", "hangup", "repeat", "external", "notify", "voicemail", "callback"
]
_SHORT_FORMS = ("node", "queue", "external", "notify", "voicemail", "callback")


class ActionDoc(_Doc):
    kind: ActionKindName
    target: str | None = None
    priority: int = 0
    prompt: Prompt | None = None
    then: ActionDoc | None = None
    notify_when: Literal["hangup", "now"] = "hangup"

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and "kind" not in value:
            for name in _SHORT_FORMS:
                if name in value:
                    rest = {k: v for k, v in value.items() if k != name}
                    return {"kind": name, "target": value[name], **rest}
            for name in ("hangup", "repeat"):
                if name in value:
                    rest = {k: v for k, v in value.items() if k != name}
                    return {"kind": name, **rest}
        return value

    @model_validator(mode="after")
    def _needs(self) -> ActionDoc:
        if self.kind in ("node", "queue", "external", "notify", "callback") and not self.target:
            raise ValueError(f"a {self.kind} action needs a target")
        if self.kind == "notify" and self.then is None:
            raise ValueError("a notify action needs `then`: what the call does next")
        return self


class IvrNodeDoc(_Doc):
    id: str
    prompt: Prompt
    keys: dict[Annotated[str, Field(pattern=r"^[0-9*#]$")], ActionDoc] = {}
    timeout: PositiveDuration = Field(5.0, validation_alias=AliasChoices("timeout", "timeout_s"))
    max_retries: int = Field(2, ge=0)
    default: ActionDoc = ActionDoc(kind="hangup")
    invalid_prompt: Prompt | None = None


def _keyed(field: str) -> Any:
    """Accept a list of objects, or a mapping keyed by their `field`."""

    def convert(value: object) -> object:
        if isinstance(value, dict):
            return [
                {field: key, **item} if isinstance(item, dict) else item
                for key, item in value.items()
            ]
        return value

    return BeforeValidator(convert)


class IvrTreeDoc(_Doc):
    id: str
    root: str
    nodes: Annotated[list[IvrNodeDoc], _keyed("id")]


class NumberDoc(_Doc):
    number: str = Field(min_length=1)
    enable_ivr: bool = False
    ivr_tree: str | None = None
    queue: str | None = None

    @model_validator(mode="after")
    def _routes(self) -> NumberDoc:
        if self.enable_ivr and not self.ivr_tree:
            raise ValueError("enable_ivr needs ivr_tree")
        if not self.enable_ivr and not self.queue:
            raise ValueError("a number without IVR needs a queue (seed 000 1e)")
        return self


class GroupTierDoc(_Doc):
    group: str
    priority: int = 1
    after_wait: Duration = Field(0.0, validation_alias=AliasChoices("after_wait", "after_wait_s"))


def _tier(value: object) -> object:
    return {"group": value} if isinstance(value, str) else value


class FallbackDoc(_Doc):
    kind: Literal["queue", "callback", "voicemail", "hangup"] = "hangup"
    target: str | None = None
    prompt: Prompt | None = None

    @model_validator(mode="after")
    def _needs(self) -> FallbackDoc:
        if self.kind == "queue" and not self.target:
            raise ValueError("a queue fallback needs a target queue")
        return self


def _fallback(value: object) -> object:
    return {"kind": value} if isinstance(value, str) else value


Fallback = Annotated[FallbackDoc, BeforeValidator(_fallback)]

StrategyName = Literal[
    "longest_idle",
    "round_robin",
    "fewest_calls",
    "least_talk_time",
    "random",
    "linear",
    "ring_all",
    "best_proficiency",
]


class QueueDoc(_Doc):
    id: str
    name: str = ""
    strategy: StrategyName = "longest_idle"
    groups: list[Annotated[GroupTierDoc, BeforeValidator(_tier)]] = []
    required_skills: dict[str, Annotated[int, Field(ge=0)]] = {}
    wait_agent_answer_timeout: PositiveDuration = 15.0
    agent_wrap_up_after_calls: bool = False
    wrap_up_time_limit: Duration | None = 30.0
    max_size: int | None = Field(None, ge=0)
    on_full: Fallback = FallbackDoc()
    max_wait: PositiveDuration | None = Field(
        None, validation_alias=AliasChoices("max_wait", "max_wait_s")
    )
    on_max_wait: Fallback = FallbackDoc()
    greeting: Prompt | None = None
    hold_music: str | None = None
    get_list_agents_url: str | None = None
    router_timeout: PositiveDuration = Field(
        3.0, validation_alias=AliasChoices("router_timeout", "router_timeout_s")
    )
    transfer_keeps_position: bool = True
    recording: Literal["record", "do_not_record", "ask"] = "do_not_record"
    outbound_numbers: list[str] = []


class GroupDoc(_Doc):
    id: str
    name: str = ""
    agents: list[str] = []


class AgentDoc(_Doc):
    id: str = Field(min_length=1, validation_alias=AliasChoices("id", "stringee_user_id"))
    name: str = ""
    email: str | None = None
    phone_number: str | None = None
    routing_type: Literal[1, 2] = 1
    skills: dict[str, Annotated[int, Field(ge=0)]] = {}
    manual_status: str = "AVAILABLE"


class SettingsDoc(_Doc):
    max_missed_offers: int = Field(3, ge=0)
    missed_status: str = "NOT_AVAILABLE"
    trace_detail_limit: int = Field(50, ge=0)
    max_fallbacks: int = Field(5, ge=0)
    global_number: str | None = None


class CenterDoc(_Doc):
    """The whole center: numbers, IVR trees, queues, groups, agents, settings."""

    name: str = ""
    settings: SettingsDoc = SettingsDoc()
    numbers: Annotated[list[NumberDoc], _keyed("number")] = []
    ivr_trees: Annotated[list[IvrTreeDoc], _keyed("id")] = []
    queues: Annotated[list[QueueDoc], _keyed("id")] = []
    groups: Annotated[list[GroupDoc], _keyed("id")] = []
    agents: Annotated[list[AgentDoc], _keyed("id")] = []
    # queue menus and mobile apps (seed 004; see config/menus.py): not read by the engine
    menus: Annotated[list[MenuDoc], _keyed("id")] = []
    mobile_apps: Annotated[list[MobileAppDoc], _keyed("name")] = []
