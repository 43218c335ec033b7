"""What the engine asks the outside world to do: typed, frozen, keyword-only commands.

The server dispatches them to the telephony adapter, the store and the webhook outbox; the
simulator turns them into future events; tests assert on them.

The commands every call produces (`StartTimer`, `CancelTimer`, `PlayQueueAudio`, `OfferCall`,
`Bridge`, `Hangup`, `WriteCallRecord`) are plain classes with `Final` fields and an
`__init__` of their own (issue 3: the simulator builds millions): compiled, each is a native
class built in C in about 30 ns, where a frozen dataclass sets each field through
`object.__setattr__` (400 ns). They are as read-only (`plain.freeze_interpreted`), as typed
and as comparable (an instance equals only its own type) as the frozen dataclasses that
make up the rest; the engine builds them positionally, tests by keyword. `plain()` gives
both kinds as a dict by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from helpline.core.model import Prompt, RoutingType
from helpline.core.plain import freeze_interpreted
from helpline.core.records import CallRecord
from helpline.core.timers import Timer


@dataclass(init=False, unsafe_hash=True)
class StartTimer:
    timer: Final[Timer]
    at: Final[float]

    def __init__(self, timer: Timer, at: float) -> None:
        self.timer = timer
        self.at = at


@dataclass(init=False, unsafe_hash=True)
class CancelTimer:
    timer: Final[Timer]

    def __init__(self, timer: Timer) -> None:
        self.timer = timer


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayPrompt:
    """Play a prompt; with `collect` the caller may press a key during it (barge-in)."""

    call_id: str
    prompt: Prompt
    text: str | None  # the prompt's text with placeholders filled
    collect: bool


@dataclass(init=False, unsafe_hash=True)
class PlayQueueAudio:
    """A queued caller hears the greeting once, then hold music until offered (seed 000 2h)."""

    call_id: Final[str]
    greeting: Final[Prompt | None]
    greeting_text: Final[str | None]
    hold_music: Final[str | None]

    def __init__(
        self,
        call_id: str,
        greeting: Prompt | None,
        greeting_text: str | None,
        hold_music: str | None,
    ) -> None:
        self.call_id = call_id
        self.greeting = greeting
        self.greeting_text = greeting_text
        self.hold_music = hold_music


@dataclass(frozen=True, slots=True, kw_only=True)
class SetHold:
    """Put an answered call on hold (music to the customer) or take it off."""

    call_id: str
    on: bool


@dataclass(init=False, unsafe_hash=True)
class OfferCall:
    """Ring an agent for `timeout_s`: the app/SIP phone (routing type 1) or `phone_number` (2)."""

    call_id: Final[str]
    agent_id: Final[str]
    timeout_s: Final[float]
    routing_type: Final[RoutingType]
    phone_number: Final[str | None]
    from_number: Final[str]
    queue_id: Final[str | None]
    display: Final[str | None]  # callout: what the agent's phone shows (seed 000 Step 4)
    agent_line: Final[bool]  # answer it on the agent's line (`CalloutRequested.agent_line`)

    def __init__(  # noqa: PLR0917 (a queue offer is built positionally, in field order)
        self,
        call_id: str,
        agent_id: str,
        timeout_s: float,
        routing_type: RoutingType,
        phone_number: str | None,
        from_number: str,
        queue_id: str | None,
        display: str | None = None,
        agent_line: bool = False,
    ) -> None:
        self.call_id = call_id
        self.agent_id = agent_id
        self.timeout_s = timeout_s
        self.routing_type = routing_type
        self.phone_number = phone_number
        self.from_number = from_number
        self.queue_id = queue_id
        self.display = display
        self.agent_line = agent_line


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOffer:
    call_id: str
    agent_id: str


@dataclass(init=False, unsafe_hash=True)
class Bridge:
    """Connect the customer and the agent; `record` starts a recording (seed 004)."""

    call_id: Final[str]
    agent_id: Final[str]
    record: Final[bool]

    def __init__(self, call_id: str, agent_id: str, record: bool = False) -> None:
        self.call_id = call_id
        self.agent_id = agent_id
        self.record = record


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


@dataclass(init=False, unsafe_hash=True)
class Hangup:
    """End every leg of the call. Idempotent for the telephony adapter."""

    call_id: Final[str]
    reason: Final[str]
    prompt: Final[Prompt | None]  # play this first (e.g. "goodbye")

    def __init__(self, call_id: str, reason: str, prompt: Prompt | None = None) -> None:
        self.call_id = call_id
        self.reason = reason
        self.prompt = prompt


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


@dataclass(init=False, unsafe_hash=True)
class WriteCallRecord:
    """The call ended: store its one record."""

    record: Final[CallRecord]

    def __init__(self, record: CallRecord) -> None:
        self.record = record


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


freeze_interpreted(
    StartTimer, CancelTimer, PlayQueueAudio, OfferCall, Bridge, Hangup, WriteCallRecord
)
