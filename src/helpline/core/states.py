"""The two state machines of the engine, each a transition table over an Enum.

An illegal transition raises `IllegalTransition` and leaves the state unchanged (as h11's
`_state.py` does). Every state change of a call or an agent goes through `advance`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, TypeVar

from helpline.core.errors import IllegalTransition


class CallState(StrEnum):
    CREATED = "created"
    IVR = "ivr"  # hearing a node's prompt, waiting for a key
    QUEUED = "queued"  # waiting for an agent (greeting, then hold music)
    OFFERING = "offering"  # ringing one agent (or all, for ring all) from a queue
    RINGING_AGENT = "ringing_agent"  # callout: the agent's leg rings first (seed 000 Step 4)
    DIALING_CUSTOMER = "dialing_customer"  # callout or callback: the customer leg rings
    CONNECTED = "connected"  # customer and agent talk
    HELD = "held"  # the customer hears hold music
    EXTERNAL = "external"  # connected to an outside number
    VOICEMAIL = "voicemail"
    ENDED = "ended"


_LIVE_WITH_AGENT: Final = {
    CallState.QUEUED,
    CallState.VOICEMAIL,  # transferred to a full queue whose fallback is voicemail
    CallState.OFFERING,
    CallState.EXTERNAL,
    CallState.ENDED,
}

CALL_TRANSITIONS: Final[dict[CallState, frozenset[CallState]]] = {
    CallState.CREATED: frozenset(
        {
            CallState.IVR,
            CallState.QUEUED,
            CallState.RINGING_AGENT,
            CallState.VOICEMAIL,  # straight to a full queue whose fallback is voicemail
            CallState.ENDED,
        }
    ),
    CallState.IVR: frozenset(
        {CallState.QUEUED, CallState.EXTERNAL, CallState.VOICEMAIL, CallState.ENDED}
    ),
    CallState.QUEUED: frozenset(
        {CallState.QUEUED, CallState.OFFERING, CallState.VOICEMAIL, CallState.ENDED}
    ),
    CallState.OFFERING: frozenset(
        {
            CallState.QUEUED,  # missed or rejected: back to its place in line
            CallState.CONNECTED,
            CallState.DIALING_CUSTOMER,  # callback: the agent took it, now dial the customer
            CallState.ENDED,
        }
    ),
    CallState.RINGING_AGENT: frozenset({CallState.DIALING_CUSTOMER, CallState.ENDED}),
    CallState.DIALING_CUSTOMER: frozenset({CallState.CONNECTED, CallState.ENDED}),
    CallState.CONNECTED: frozenset({CallState.HELD, *_LIVE_WITH_AGENT}),
    CallState.HELD: frozenset({CallState.CONNECTED, *_LIVE_WITH_AGENT}),
    CallState.EXTERNAL: frozenset({CallState.ENDED}),
    CallState.VOICEMAIL: frozenset({CallState.ENDED}),
    CallState.ENDED: frozenset(),
}


class AgentActivity(StrEnum):
    IDLE = "idle"  # free: may be offered a call if AVAILABLE and reachable
    RESERVED = "reserved"  # an offer rings
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"  # after a call; no offers until the timer or the agent ends it


AGENT_TRANSITIONS: Final[dict[AgentActivity, frozenset[AgentActivity]]] = {
    AgentActivity.IDLE: frozenset({AgentActivity.RESERVED}),
    AgentActivity.RESERVED: frozenset({AgentActivity.IDLE, AgentActivity.ON_CALL}),
    AgentActivity.ON_CALL: frozenset({AgentActivity.WRAP_UP, AgentActivity.IDLE}),
    AgentActivity.WRAP_UP: frozenset({AgentActivity.IDLE}),
}

S = TypeVar("S", CallState, AgentActivity)


def advance(table: dict[S, frozenset[S]], current: S, new: S, kind: str, subject: str) -> S:
    """Return `new` if the table allows `current -> new`, else raise (state unchanged)."""
    if new not in table[current]:
        what = f"{kind} {subject}"  # built only here: this runs on every state change
        raise IllegalTransition(
            f"{what}: {current.value} -> {new.value} is not allowed",
            details={"from": current.value, "to": new.value, "subject": what},
        )
    return new


def system_status(activity: AgentActivity) -> int:
    """Seed 000 Step 3a: `system_status` 0 while on a call (or ringing), 1 otherwise."""
    return 0 if activity in (AgentActivity.RESERVED, AgentActivity.ON_CALL) else 1
