"""An agent's live state, and the eligibility rule of seed 000 Step 3b."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from helpline.core.model import AVAILABLE, Agent, RoutingType
from helpline.core.states import AgentActivity
from helpline.core.timers import Timer

if TYPE_CHECKING:
    from helpline.core.pools import Pool

_ACTIVITY_REASON: Final = {
    AgentActivity.RESERVED: "ringing",
    AgentActivity.ON_CALL: "busy",
    AgentActivity.WRAP_UP: "wrap_up",
}


def reach_reason(online: bool, phone_number: str | None, routing_type: RoutingType) -> str | None:
    """Seed 000 Step 3b, third rule: routing type 1 needs the agent online, 2 a phone number."""
    if routing_type is RoutingType.APP:
        return None if online else "offline"
    return None if phone_number else "no_phone"


class AgentState:
    """Mutable live state of one agent. The engine changes it; pools index it."""

    __slots__ = (
        "activity",
        "busy_queue",
        "busy_since",
        "call_id",
        "calls_taken",
        "config",
        "id",
        "idle_since",
        "in_pools",
        "last_call_id",
        "manual_status",
        "missed_in_row",
        "online",
        "phone_number",
        "pools",
        "queue_ids",
        "reason",
        "removed",
        "routing_type",
        "staffed",
        "status_since",
        "talk_time",
        "wrap_up_started",
        "wrap_up_timer",
    )

    def __init__(self, config: Agent, now: float) -> None:
        self.id = config.id
        self.config = config
        self.manual_status = config.manual_status
        self.reason = ""
        self.online = False
        self.phone_number = config.phone_number
        self.routing_type = config.routing_type
        self.activity = AgentActivity.IDLE
        self.idle_since = now  # when the agent last became free of a call: longest idle's key
        self.status_since = now
        self.calls_taken = 0
        self.talk_time = 0.0
        self.missed_in_row = 0
        self.call_id: str | None = None  # the call the agent rings for or talks on
        self.last_call_id: str | None = None  # the call whose wrap-up runs
        self.wrap_up_started: float | None = None
        self.wrap_up_timer: Timer | None = None
        self.busy_since: float | None = None  # answered the current call: for the busy time
        self.busy_queue: str | None = None  # the queue whose estimate that busy time feeds
        self.pools: list[Pool] = []  # every (queue, tier) pool the agent belongs to
        self.queue_ids: tuple[str, ...] = ()  # the queues those pools serve
        self.in_pools = False  # currently indexed as eligible in its pools
        self.staffed = False  # logged in and AVAILABLE: counts as a server for wait estimates
        self.removed = False  # no longer in the center document; kept until its call ends

    def ineligibility(self) -> str | None:
        """Why the agent cannot take an offer now, or None if it can (seed 000 Step 3b)."""
        if self.removed:
            return "removed"
        if self.activity is not AgentActivity.IDLE:
            return _ACTIVITY_REASON[self.activity]
        if self.manual_status != AVAILABLE:
            return "not_available"
        return reach_reason(self.online, self.phone_number, self.routing_type)

    def is_staffed(self) -> bool:
        """Counted as serving its queues: AVAILABLE and reachable, free or busy."""
        return (
            not self.removed
            and self.manual_status == AVAILABLE
            and reach_reason(self.online, self.phone_number, self.routing_type) is None
        )
