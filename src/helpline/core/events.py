"""What the engine is told: typed, frozen, keyword-only events.

Each event comes with the time it happened (`Engine.handle(event, now)`); none carries a clock.
Drivers (the simulator, the server runtime, tests) make these from the outside world.

The events of every call (`CallArrived`, `OfferAnswered`, `CallHungUp`, `TimerFired`) are
classes built as fast as the commands every call produces (see `commands`); `CallArrived`'s
check (a call id) is the engine's, on handling. The rest are frozen dataclasses, which can
validate in `__post_init__`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from helpline.core.errors import ClientError
from helpline.core.model import RoutingType
from helpline.core.plain import freeze_interpreted
from helpline.core.timers import Timer

if TYPE_CHECKING:
    from helpline.core.model import Center


class Party(StrEnum):
    """Who ended a call or a leg."""

    CUSTOMER = "customer"  # the caller of an inbound call, the callee of callout and callback
    AGENT = "agent"
    SYSTEM = "system"


def _need(value: object, name: str) -> None:
    if not value:
        raise ClientError(f"{name} is required", details={"field": name})


@dataclass(init=False, unsafe_hash=True)
class CallArrived:
    """An inbound call reached hotline number `to_number` (seed 000 1e). An empty `call_id` is
    a `ClientError` when the engine handles it."""

    call_id: Final[str]
    from_number: Final[str]
    to_number: Final[str]

    def __init__(self, call_id: str, from_number: str, to_number: str) -> None:
        self.call_id = call_id
        self.from_number = from_number
        self.to_number = to_number


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptEnded:
    """The prompt on a call finished playing; the IVR key timeout counts from here."""

    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitsPressed:
    call_id: str
    digits: str

    def __post_init__(self) -> None:
        _need(self.digits, "digits")


@dataclass(init=False, unsafe_hash=True)
class CallHungUp:
    """A party left the call (or the system ended it, e.g. the API's hang-up)."""

    call_id: Final[str]
    party: Final[Party]
    reason: Final[str]

    def __init__(self, call_id: str, party: Party = Party.CUSTOMER, reason: str = "") -> None:
        self.call_id = call_id
        self.party = party
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStatusSet:
    """The agent's `manual_status` changed (seed 000 Step 3a); all but AVAILABLE is not ready."""

    agent_id: str
    manual_status: str
    reason: str = ""

    def __post_init__(self) -> None:
        _need(self.manual_status, "manual_status")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPresenceChanged:
    """The agent came online or went offline (app, web or SIP phone; seed 000 Step 3a)."""

    agent_id: str
    online: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReachChanged:
    """The agent's phone number or routing type changed (seed 000 Step 3b, routing type 2)."""

    agent_id: str
    phone_number: str | None
    routing_type: RoutingType


@dataclass(init=False, unsafe_hash=True)
class OfferAnswered:
    call_id: Final[str]
    agent_id: Final[str]

    def __init__(self, call_id: str, agent_id: str) -> None:
        self.call_id = call_id
        self.agent_id = agent_id


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferRejected:
    """The agent declined, or the agent's device could not be reached."""

    call_id: str
    agent_id: str
    reason: str = "rejected"


@dataclass(init=False, unsafe_hash=True)
class TimerFired:
    timer: Final[Timer]

    def __init__(self, timer: Timer) -> None:
        self.timer = timer


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpEnded:
    """The agent finished wrap-up early, with an optional disposition and notes."""

    agent_id: str
    disposition: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterReplied:
    """The body the external router (`get_list_agents_url`) answered, parsed from JSON."""

    request_id: str
    body: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterFailed:
    """The external router could not be asked (connection refused, HTTP error, bad JSON)."""

    request_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CalloutRequested:
    """Seed 000 Step 4, method 2: ring the agent first, then the customer, then bridge."""

    call_id: str
    agent_id: str
    customer_number: str
    to_agent_from_number_display: str | None = None
    to_agent_from_number_display_alias: str | None = None
    to_customer_from_number: str | None = None
    answer_timeout_s: float = 30.0
    data: Mapping[str, str] = field(default_factory=dict)  # click2call transaction id (record)
    # a campaign dialer's callout for an agent on its agent line (seed 003): the line, not
    # the agent's presence, reaches it, and only such a callout is answered on the line
    agent_line: bool = False

    def __post_init__(self) -> None:
        _need(self.call_id, "call_id")
        _need(self.customer_number, "customer_number")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRequested:
    """Seed 004 "Callback Call API": a call-back waits in a queue; the customer is dialled
    once an agent takes it."""

    call_id: str
    queue_id: str
    customer_number: str
    outbound_number: str | None = None
    priority: int = 0
    recording_permission: str = "recording_permission_not_asked"
    data: Mapping[str, str] = field(default_factory=dict)  # ticket id, language: kept on the record

    def __post_init__(self) -> None:
        _need(self.call_id, "call_id")
        _need(self.customer_number, "customer_number")


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerAnswered:
    """The customer leg of a callout or callback call answered."""

    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerDialFailed:
    call_id: str
    reason: str = "no_answer"  # busy, no_answer, failed


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldRequested:
    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeRequested:
    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRequested:
    """A blind transfer of an answered call to exactly one of: an agent, a queue, a number."""

    call_id: str
    to_agent: str | None = None
    to_queue: str | None = None
    to_number: str | None = None
    keep_position: bool | None = None  # None: the target queue's `transfer_keeps_position`
    priority: int | None = None

    def __post_init__(self) -> None:
        targets = [t for t in (self.to_agent, self.to_queue, self.to_number) if t]
        if len(targets) != 1:
            raise ClientError(
                "give exactly one of to_agent, to_queue, to_number",
                details={"field": "to_agent"},
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class CenterReplaced:
    """A new center document (`PUT /v1/config`); live calls and agents carry over."""

    center: Center


Event = (
    CallArrived
    | PromptEnded
    | DigitsPressed
    | CallHungUp
    | AgentStatusSet
    | AgentPresenceChanged
    | AgentReachChanged
    | OfferAnswered
    | OfferRejected
    | TimerFired
    | WrapUpEnded
    | RouterReplied
    | RouterFailed
    | CalloutRequested
    | CallbackRequested
    | CustomerAnswered
    | CustomerDialFailed
    | HoldRequested
    | ResumeRequested
    | TransferRequested
    | CenterReplaced
)


# -- agent lines (seed 003; `commands.OpenAgentLine`) -----------------------------------------
# What the telephony adapter reports of an agent line. Not the engine's events: they go to
# the listener the campaign runtime gave the adapter (`ports.Telephony.listen_lines`).


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLineAnswered:
    """The agent picked up its line: it hears the announcement."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLineFailed:
    """The line never came up: `busy`, `no_answer`, `failed` (carrier) or `unreachable`."""

    call_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLineClosed:
    """An answered line ended: the agent hung up (`party` agent), or we closed it (system)."""

    call_id: str
    agent_id: str
    party: Party
    reason: str = ""


AgentLineEvent = AgentLineAnswered | AgentLineFailed | AgentLineClosed


freeze_interpreted(CallArrived, CallHungUp, OfferAnswered, TimerFired)
