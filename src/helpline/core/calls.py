"""A call's live state, and a queue's live state (its line of waiting calls)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from helpline.core.model import IvrNode, Queue, RoutingType
from helpline.core.pools import Pool
from helpline.core.records import Decision, Direction, Leg
from helpline.core.states import CallState
from helpline.core.timers import Timer


class RouterStatus(StrEnum):
    """Where a call of a queue with `get_list_agents_url` stands with the external router."""

    NONE = "none"  # the queue routes by groups
    PENDING = "pending"  # asked; the reply decides
    LISTED = "listed"  # the reply gave this call an ordered agent list
    FALLBACK = "fallback"  # no usable reply: group routing (seed 000 Step 5 never loses a call)


# what every new call starts with, as module globals: on Python 3.11 `CallState.CREATED` goes
# through `EnumType.__getattr__` (about 100 ns), a global takes about 10 ns
_CREATED: Final = CallState.CREATED
_INBOUND: Final = Direction.INBOUND
_ROUTER_NONE: Final = RouterStatus.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedAgent:
    """One agent of a version 2 router reply (seed 000 Step 5b)."""

    agent_id: str
    routing_type: RoutingType
    phone_number: str | None
    answer_timeout_s: float


class Call:
    """Mutable live state of one call."""

    __slots__ = (
        "agent_id",
        "answered_at",
        "caller_id",
        "created_at",
        "customer_number",
        "data",
        "decisions",
        "direction",
        "display",
        "enqueued_at",
        "fallbacks",
        "from_number",
        "hold_started",
        "hold_total",
        "id",
        "in_queue",
        "ivr_path",
        "ivr_tree",
        "keys",
        "leg_answered_at",
        "leg_hold",
        "leg_offered_at",
        "legs",
        "missed",
        "node",
        "notify_urls",
        "offer_serial",
        "offered_at",
        "offered_to",
        "overdue",
        "position_time",
        "priority",
        "queue_id",
        "queued_at",
        "recording_permission",
        "retries",
        "router_agents",
        "router_status",
        "seq",
        "state",
        "talk_total",
        "timers",
        "to_number",
        "transfer_queue",
        "wait_total",
    )

    def __init__(
        self, call_id: str, direction: Direction, from_number: str, to_number: str, now: float
    ) -> None:
        self.id = call_id
        self.direction = direction
        self.from_number = from_number
        self.to_number = to_number
        self.customer_number = from_number if direction is _INBOUND else to_number
        self.caller_id: str | None = None  # what the customer sees on outbound legs
        self.display: str | None = None  # what the agent sees on a callout
        self.state = _CREATED
        self.created_at = now
        # IVR
        self.ivr_tree: str | None = None
        self.node: IvrNode | None = None
        self.retries = 0
        # immutable, grown by copying: most calls never add to them, and an empty tuple or
        # string costs nothing to make (a call is built per simulated caller), where a list does
        self.ivr_path: tuple[str, ...] = ()
        self.keys = ""  # the keys pressed, in order
        self.notify_urls: tuple[str, ...] = ()
        # queue
        self.queue_id: str | None = None
        self.priority = 0
        self.position_time = now  # its place in line: arrival, or the original one on transfer
        self.seq = 0
        self.queued_at: float | None = None  # first time in any queue
        self.enqueued_at = now  # entered the current queue
        self.in_queue = False  # in a queue's stint (waiting or ringing an agent from it)
        self.wait_total = 0.0
        self.fallbacks = 0
        self.overdue = False  # reached the queue's max wait while ringing an agent
        self.router_status = _ROUTER_NONE
        self.router_agents: tuple[ListedAgent, ...] = ()
        # offers
        self.offered_at: float | None = None
        self.offered_to: list[str] = []
        self.offer_serial = 0
        self.missed: set[str] = set()
        self.leg_offered_at: float | None = None
        self.transfer_queue: str | None = None  # set while offered to one agent by transfer
        # talking
        self.agent_id: str | None = None
        self.answered_at: float | None = None
        self.leg_answered_at: float | None = None
        self.hold_started: float | None = None
        self.hold_total = 0.0
        self.leg_hold = 0.0
        self.talk_total = 0.0
        self.legs: list[Leg] = []
        self.decisions: tuple[Decision, ...] = ()  # empty unless traced: see `ivr_path`
        self.recording_permission = "recording_permission_not_asked"
        self.data: dict[str, str] = {}
        self.timers: list[Timer] = []  # the live timers about this call


class QueueState:
    """Live state of one queue: its tiers of agents and its line of waiting calls.

    The line is one heap per priority level, ordered by (place-in-line time, arrival serial):
    first come, first served within a priority level (seed 000 1b). Leaving from the middle
    (abandon, fallback) is O(1) by forgetting the call; its heap entry is skipped later.
    """

    __slots__ = (
        "abandon_weight",
        "busy_mean_s",
        "busy_samples",
        "config",
        "id",
        "last_started_wait",
        "levels",
        "lines",
        "round_robin",
        "router_backlog",
        "router_request",
        "staffed",
        "tiers",
        "wait_weight",
        "waiting",
    )

    def __init__(self, config: Queue, tiers: list[Pool], round_robin: dict[str, int]) -> None:
        self.id = config.id
        self.config = config
        self.tiers = tiers  # by priority, best first
        self.round_robin = round_robin
        self.lines: dict[int, list[tuple[float, int, str]]] = {}
        self.levels: list[int] = []  # priority levels present, highest first
        self.waiting: dict[str, Call] = {}  # calls in line (not those ringing an agent)
        self.router_request: str | None = None
        self.router_backlog = False
        self.staffed = 0  # agents serving this queue who are AVAILABLE and reachable
        # estimator inputs (core/estimators.py): agent busy time per call, abandonment
        self.busy_mean_s: float | None = None
        self.busy_samples = 0
        self.abandon_weight = 0.0
        self.wait_weight = 0.0
        self.last_started_wait: float | None = None  # LES: wait of the last call answered

    def push(self, call: Call) -> None:
        line = self.lines.get(call.priority)
        if line is None:
            line = self.lines[call.priority] = []
            self.levels = sorted(self.lines, reverse=True)
        heapq.heappush(line, (call.position_time, call.seq, call.id))
        self.waiting[call.id] = call

    def remove(self, call_id: str) -> None:
        self.waiting.pop(call_id, None)

    def head(self, level: int) -> Call | None:
        """The first call in line at this priority level, dropping entries of calls gone."""
        line = self.lines[level]
        waiting = self.waiting
        while line:
            call = waiting.get(line[0][2])
            if call is not None and call.seq == line[0][1]:
                return call
            heapq.heappop(line)
        return None

    def in_order(self) -> list[Call]:
        """Every waiting call, in service order (priority, then place in line)."""
        ordered: list[Call] = []
        for level in self.levels:
            calls = [c for c in self.waiting.values() if c.priority == level]
            calls.sort(key=lambda c: (c.position_time, c.seq))
            ordered.extend(calls)
        return ordered

    def head_key(self) -> tuple[int, float]:
        """Sort key of the queue's most deserving call: higher priority, then longer wait."""
        for level in self.levels:
            call = self.head(level)
            if call is not None:
                return (-level, call.position_time)
        return (1, 0.0)
