"""What the engine asks the outside world to do: typed, frozen, keyword-only commands.

The server dispatches them to the telephony adapter, the store and the webhook outbox; the
simulator turns them into future events; tests assert on them.

The commands every call produces (`StartTimer`, `CancelTimer`, `PlayQueueAudio`, `OfferCall`,
`Bridge`, `Hangup`, `WriteCallRecord`) are `typing.NamedTuple`s, like `Timer`: as immutable and
as typed for mypy (build them by keyword), but made in C, where a frozen dataclass sets each
field through `object.__setattr__` (issue 3: the simulator builds millions). The engine's hot
paths build them positionally, in field order: a class called with keywords packs them into a
dict for its `__new__` and unpacks them again, twice the cost of the tuple itself. Hotter
still, the `new_*` functions below: typed like the class (mypy checks every field), they call
`tuple.__new__` directly, skipping the class call and the named tuple's Python-level `__new__`
(about 100 ns of a 300 ns build; tests/core/test_messages.py checks each against the class). Tell
them apart by type (`isinstance`, `type(x) is`); `plain.typed_equality` makes each equal only
to its own type, as a dataclass is (a bare tuple equals any tuple of equal fields). `plain()`
gives both kinds as a dict by field. Others stay frozen dataclasses; new ones may be either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from helpline.core.model import Prompt, RoutingType
from helpline.core.plain import typed_equality
from helpline.core.records import CallRecord
from helpline.core.timers import Timer

_tuple_new: Final = tuple.__new__


@typed_equality
class StartTimer(NamedTuple):
    timer: Timer
    at: float


@typed_equality
class CancelTimer(NamedTuple):
    timer: Timer


def new_start_timer(timer: Timer, at: float) -> StartTimer:
    return _tuple_new(StartTimer, (timer, at))


def new_cancel_timer(timer: Timer) -> CancelTimer:
    return _tuple_new(CancelTimer, (timer,))


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayPrompt:
    """Play a prompt; with `collect` the caller may press a key during it (barge-in)."""

    call_id: str
    prompt: Prompt
    text: str | None  # the prompt's text with placeholders filled
    collect: bool


@typed_equality
class PlayQueueAudio(NamedTuple):
    """A queued caller hears the greeting once, then hold music until offered (seed 000 2h)."""

    call_id: str
    greeting: Prompt | None
    greeting_text: str | None
    hold_music: str | None


def new_play_queue_audio(
    call_id: str, greeting: Prompt | None, greeting_text: str | None, hold_music: str | None
) -> PlayQueueAudio:
    return _tuple_new(PlayQueueAudio, (call_id, greeting, greeting_text, hold_music))


@dataclass(frozen=True, slots=True, kw_only=True)
class SetHold:
    """Put an answered call on hold (music to the customer) or take it off."""

    call_id: str
    on: bool


@typed_equality
class OfferCall(NamedTuple):
    """Ring an agent for `timeout_s`: the app/SIP phone (routing type 1) or `phone_number` (2)."""

    call_id: str
    agent_id: str
    timeout_s: float
    routing_type: RoutingType
    phone_number: str | None
    from_number: str
    queue_id: str | None
    display: str | None = None  # callout: what the agent's phone shows (seed 000 Step 4)
    agent_line: bool = False  # answer it on the agent's line (`CalloutRequested.agent_line`)


def new_offer_call(  # noqa: PLR0917 (the fields, in order: a named tuple's constructor)
    call_id: str,
    agent_id: str,
    timeout_s: float,
    routing_type: RoutingType,
    phone_number: str | None,
    from_number: str,
    queue_id: str | None,
) -> OfferCall:
    """A queue offer (no callout `display`, not on the agent's line)."""
    return _tuple_new(
        OfferCall,
        (
            call_id,
            agent_id,
            timeout_s,
            routing_type,
            phone_number,
            from_number,
            queue_id,
            None,
            False,
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOffer:
    call_id: str
    agent_id: str


@typed_equality
class Bridge(NamedTuple):
    """Connect the customer and the agent; `record` starts a recording (seed 004)."""

    call_id: str
    agent_id: str
    record: bool = False


def new_bridge(call_id: str, agent_id: str, record: bool) -> Bridge:
    return _tuple_new(Bridge, (call_id, agent_id, record))


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


@typed_equality
class Hangup(NamedTuple):
    """End every leg of the call. Idempotent for the telephony adapter."""

    call_id: str
    reason: str
    prompt: Prompt | None = None  # play this first (e.g. "goodbye")


def new_hangup(call_id: str, reason: str, prompt: Prompt | None) -> Hangup:
    return _tuple_new(Hangup, (call_id, reason, prompt))


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


@typed_equality
class WriteCallRecord(NamedTuple):
    """The call ended: store its one record."""

    record: CallRecord


def new_write_call_record(record: CallRecord) -> WriteCallRecord:
    return _tuple_new(WriteCallRecord, (record,))


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


# -- agent lines (seed 003 "How Call Center Connect Works from the Agent Perspective") ---------
# Not the engine's: the campaign runtime sends these to the telephony adapter itself. A line is
# a call of its own to an agent's phone that stays up across customer calls (a "nailed-up"
# agent connection): calls offered to an agent whose line waits on hold music are answered on
# it at once (a beep, then the customer; seed 003 steps 4 and 7), with no ringing.


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAgentLine:
    """Call the agent (seed 003 step 1). Answered, it hears `announcement` (its agent id,
    spoken; step 2), repeated until `HoldAgentLine`. `phone_number` None: the agent's own
    device (sandbox device, softphone, SIP phone) rather than a number."""

    call_id: str  # the line's own call id
    agent_id: str
    phone_number: str | None
    caller_id: str | None
    announcement: str
    hold_music: str | None
    ring_timeout_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldAgentLine:
    """The agent waits for its next call: hold music on the line (seed 003 steps 3 and 6)."""

    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseAgentLine:
    """Hang up the agent's line, after `farewell` if given (seed 003 step 10; kickAgent)."""

    call_id: str
    reason: str
    farewell: str | None = None


AgentLineCommand = OpenAgentLine | HoldAgentLine | CloseAgentLine
