"""What the engine asks the outside world to do: typed, frozen, keyword-only commands.

The server dispatches them to the telephony adapter, the store and the webhook outbox; the
simulator turns them into future events; tests assert on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helpline.core.model import Prompt, RoutingType
from helpline.core.records import CallRecord
from helpline.core.timers import Timer


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTimer:
    timer: Timer
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    timer: Timer


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayPrompt:
    """Play a prompt; with `collect` the caller may press a key during it (barge-in)."""

    call_id: str
    prompt: Prompt
    text: str | None  # the prompt's text with placeholders filled
    collect: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayQueueAudio:
    """A queued caller hears the greeting once, then hold music until offered (seed 000 2h)."""

    call_id: str
    greeting: Prompt | None
    greeting_text: str | None
    hold_music: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetHold:
    """Put an answered call on hold (music to the customer) or take it off."""

    call_id: str
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferCall:
    """Ring an agent for `timeout_s`: the app/SIP phone (routing type 1) or `phone_number` (2)."""

    call_id: str
    agent_id: str
    timeout_s: float
    routing_type: RoutingType
    phone_number: str | None
    from_number: str
    queue_id: str | None
    display: str | None = None  # callout: what the agent's phone shows (seed 000 Step 4)


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOffer:
    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Bridge:
    """Connect the customer and the agent; `record` starts a recording (seed 004)."""

    call_id: str
    agent_id: str
    record: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DialCustomer:
    """Dial the customer leg of a callout or callback call."""

    call_id: str
    number: str
    caller_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialExternal:
    """Connect the caller to an outside number (IVR action or blind transfer)."""

    call_id: str
    number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartVoicemail:
    call_id: str
    mailbox: str | None
    prompt: Prompt | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup:
    """End every leg of the call. Idempotent for the telephony adapter."""

    call_id: str
    reason: str
    prompt: Prompt | None = None  # play this first (e.g. "goodbye")


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify:
    """An IVR call notification (seed 002): GET `url` with the call's data as a query string."""

    call_id: str
    url: str
    params: Mapping[str, str]
    method: str = "GET"


@dataclass(frozen=True, slots=True, kw_only=True)
class AskRouter:
    """POST the queue's waiting calls to `get_list_agents_url` (seed 000 Step 5a)."""

    request_id: str
    queue_id: str
    url: str
    body: Mapping[str, Any]
    timeout_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStateChanged:
    """Published for live views (websocket, webhooks): a call moved."""

    call_id: str
    state: str
    queue_id: str | None
    agent_id: str | None
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChanged:
    """Published for live views: an agent's statuses changed (seed 000 Step 3a fields)."""

    agent_id: str
    manual_status: str
    system_status: int
    activity: str
    online: bool
    reason: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteCallRecord:
    """The call ended: store its one record."""

    record: CallRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class AmendCallRecord:
    """Wrap-up ended after the call: add its duration, disposition and notes to the record."""

    call_id: str
    agent_id: str
    wrap_up_s: float
    disposition: str | None
    notes: str | None


Command = (
    StartTimer
    | CancelTimer
    | PlayPrompt
    | PlayQueueAudio
    | SetHold
    | OfferCall
    | CancelOffer
    | Bridge
    | DialCustomer
    | DialExternal
    | StartVoicemail
    | Hangup
    | Notify
    | AskRouter
    | CallStateChanged
    | AgentStateChanged
    | WriteCallRecord
    | AmendCallRecord
)
