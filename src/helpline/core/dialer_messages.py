"""What the campaign dialer (`helpline.core.dialer`) is told and what it answers (seed 003).

Frozen, keyword-only dataclasses, like the engine's events and commands: its states and
outcomes, a campaign's retry rules, a number and a connection as the store and the API see
them, the events that drive a dialer and the commands it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "AgentAvailability",
    "AgentConnected",
    "AgentKicked",
    "AgentLoggedIn",
    "AgentLoggedOut",
    "AgentMode",
    "CallConnected",
    "CallEnded",
    "CampaignStatus",
    "Connection",
    "CustomerDialed",
    "Dial",
    "DialNumber",
    "DialRefused",
    "DialerCommand",
    "DialerEvent",
    "EndCall",
    "HoldLine",
    "LineDown",
    "LineUp",
    "NumberState",
    "NumbersAdded",
    "Outcome",
    "ResponseStored",
    "Rules",
    "SaveAttempt",
    "SaveCampaign",
    "SaveNumbers",
    "SaveResponse",
    "StartRequested",
    "StopRequested",
    "Tick",
    "WakeAt",
    "outcome_of",
]


class CampaignStatus(StrEnum):
    SETUP = "setup"  # created, never started
    RUNNING = "running"
    STOPPED = "stopped"  # no new dials; calls in progress finish
    FINISHED = "finished"  # every number has its final outcome


class NumberState(StrEnum):
    PENDING = "pending"  # due at `due_at` (now, or a retry later)
    DIALING = "dialing"  # a call for it is live
    DONE = "done"  # final `outcome`


class AgentMode(StrEnum):
    READY = "ready"  # waiting for the next connection (hold music in seed 003 step 3)
    DIALING = "dialing"  # a number is being dialled for it
    CONNECTED = "connected"  # talking to a customer (seed 003 step 4)
    WRAP_UP = "wrap_up"  # the call ended; waits for storeAgentResponse
    CLOSING = "closing"  # responded while still connected; its call is being ended


class Outcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # carrier error, invalid number: final
    NOT_DIALED = "not_dialed"  # the customer was never dialled (agent missed, refused, cancelled)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """How a campaign retries. Defaults: 3 customer dials; busy again after 5 minutes, no
    answer after 10 (CallFire's campaigns retry BUSY and NO_ANS by default)."""

    max_attempts: int = 3
    retry_delay_s: Mapping[Outcome, float] = field(
        default_factory=lambda: {Outcome.BUSY: 300.0, Outcome.NO_ANSWER: 600.0}
    )
    caller_id: str | None = None  # the number customers see
    answer_timeout_s: float = 30.0  # how long the agent's phone rings for each dial


@dataclass(frozen=True, slots=True, kw_only=True)
class DialNumber:
    """One number of a campaign and where it stands."""

    number_id: int
    number: str
    data: Mapping[str, str] = field(default_factory=dict)  # shown to the agent (popup)
    state: NumberState = NumberState.PENDING
    attempts: int = 0  # customer dials made
    dials: int = 0  # calls placed for it, the customer dialled or not (call ids use it)
    due_at: float = 0.0
    outcome: Outcome | None = None  # the last call's outcome; final once DONE
    call_id: str | None = None  # the live call while DIALING


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """What getConnectionForAgent answers: the customer an agent is talking to."""

    call_id: str
    campaign_id: str
    agent_id: str
    number_id: int
    number: str
    attempt: int
    data: Mapping[str, str]
    connected_at: float


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NumbersAdded:
    numbers: tuple[tuple[str, Mapping[str, str]], ...]  # (number, data) in dialling order


@dataclass(frozen=True, slots=True, kw_only=True)
class StartRequested:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class StopRequested:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoggedIn:
    agent_id: str
    available: bool  # idle, AVAILABLE and reachable in the engine right now
    line_up: bool  # its agent line is answered (False: still ringing; no dials yet)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAvailability:
    """The engine's view of the agent changed (idle and available, or not)."""

    agent_id: str
    available: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DialRefused:
    """The engine would not place the call (the agent was taken meanwhile)."""

    call_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerDialed:
    """The agent took the call and the customer's phone is being dialled (the engine's call
    state `dialing_customer`): from now on the call counts as an attempt on the number."""

    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallConnected:
    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded:
    """The call is over. `outcome` is what the record says of the customer leg (`outcome_of`);
    the dialer uses it only if it saw the customer dialled and did not end the call itself
    (else the customer never saw the dial: `NOT_DIALED`)."""

    call_id: str
    outcome: Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseStored:
    """storeAgentResponse: `last_call` logs the agent out of the campaign after this call."""

    agent_id: str
    call_id: str
    last_call: bool
    disposition: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentKicked:
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LineUp:
    """The agent answered its agent line (seed 003 step 1): calls may be connected on it."""

    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LineDown:
    """The agent's line failed or the agent hung up: it leaves the campaign (its phone is
    how it talks to customers). `reason`: `hung_up`, or the failure (`busy`, `no_answer`)."""

    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """The time asked for by `WakeAt` came: retries may be due."""


DialerEvent = (
    NumbersAdded
    | StartRequested
    | StopRequested
    | AgentLoggedIn
    | AgentAvailability
    | DialRefused
    | CustomerDialed
    | CallConnected
    | CallEnded
    | ResponseStored
    | AgentKicked
    | LineUp
    | LineDown
    | Tick
)

# -- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial:
    """Place an agent-first callout: ring `agent_id`, then dial `number` (seed 000 Step 4)."""

    call_id: str
    campaign_id: str
    number_id: int
    number: str
    agent_id: str
    caller_id: str | None
    answer_timeout_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class EndCall:
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WakeAt:
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveCampaign:
    status: CampaignStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveNumbers:
    """The numbers an event changed, each as it stands after it: one write per event (a
    request adding 10000 numbers is one batch, not 10000 transactions)."""

    numbers: tuple[DialNumber, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveAttempt:
    call_id: str
    number_id: int
    agent_id: str
    at: float
    outcome: Outcome | None  # None: placed, not ended yet


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveResponse:
    call_id: str
    number_id: int
    agent_id: str
    disposition: str | None
    notes: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnected:
    connection: Connection


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoggedOut:
    agent_id: str
    reason: str  # last_call, kicked, agent_no_answer, line_hung_up, line_<failure>


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldLine:
    """The agent is ready for its next call: hold music on its line (seed 003 steps 3, 6)."""

    agent_id: str


DialerCommand = (
    Dial
    | EndCall
    | WakeAt
    | SaveCampaign
    | SaveNumbers
    | SaveAttempt
    | SaveResponse
    | AgentConnected
    | AgentLoggedOut
    | HoldLine
)


def outcome_of(result: str, end_reason: str) -> Outcome:
    """What a callout's record (`core.records`) says of its customer leg, for a call whose
    customer was dialled: answered, busy, a carrier failure (`CustomerDialFailed` reasons
    `busy`, `failed`), else not answered (`no_answer`, or the call was ended by someone while
    the customer's phone rang: the number is not to blame, it is tried again later). Whether
    the customer was dialled at all is not read from reason strings: the dialer tracks it."""
    if result == "answered":
        return Outcome.ANSWERED
    if end_reason == "busy":
        return Outcome.BUSY
    if end_reason == "failed":
        return Outcome.FAILED
    return Outcome.NO_ANSWER
