"""Estimated wait time from live state (issue 2, point 13).

Three delay estimators for a caller who joins a queue now, after Ibrahim & Whitt, "Real-time
delay estimation based on delay history" (MSOM 2009) and "Real-time delay estimation in
overloaded multiserver queues with abandonments" (Management Science 2009):

- QL (queue length): with n callers ahead, s agents serving, service rate mu per agent and
  abandonment rate theta per waiting caller, the caller moves up one place at rate
  s*mu + k*theta while k callers are ahead of it, so
  E[W | n ahead] = sum_{k=0..n} 1 / (s*mu + k*theta).
- HOL (head of line): how long the caller at the head of the line has waited so far.
- LES (last to enter service): the wait of the last caller who reached an agent.

mu comes from the mean time agents are busy per call (talk, hold and wrap-up), theta from the
maximum-likelihood estimate for exponential patience: abandonments over total time waited.
Both are averaged over roughly the last `HORIZON` calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from helpline.core.calls import QueueState
from helpline.core.plain import freeze_interpreted

HORIZON: Final = 2000  # calls: how far back the running estimates of mu and theta look
DEFAULT_BUSY_S: Final = 180.0  # assumed handle time until the queue has seen a call


@dataclass(init=False, unsafe_hash=True)
class WaitEstimate:
    """What a caller joining `queue_id` now can expect; seconds, None when no agent serves.

    The simulator asks for one for every caller who waits: as fast to build as the commands
    every call produces (see `helpline.core.commands`).
    """

    queue_id: Final[str]
    waiting: Final[int]
    staffed: Final[int]
    ql_s: Final[float | None]
    hol_s: Final[float]
    les_s: Final[float | None]

    def __init__(  # noqa: PLR0917 (the fields, in order)
        self,
        queue_id: str,
        waiting: int,
        staffed: int,
        ql_s: float | None,
        hol_s: float,
        les_s: float | None,
    ) -> None:
        self.queue_id = queue_id
        self.waiting = waiting
        self.staffed = staffed
        self.ql_s = ql_s
        self.hol_s = hol_s
        self.les_s = les_s


freeze_interpreted(WaitEstimate)


def record_busy_time(queue: QueueState, busy_s: float) -> None:
    """An agent finished a call of this queue after being busy `busy_s` with it."""
    queue.busy_samples += 1
    weight = max(1.0 / queue.busy_samples, 1.0 / HORIZON)
    mean = queue.busy_mean_s if queue.busy_mean_s is not None else busy_s
    queue.busy_mean_s = mean + weight * (busy_s - mean)


def record_wait(
    queue: QueueState, waited_s: float, abandoned: bool, *, served: bool = False
) -> None:
    """A call left the line (served, abandoned, or fell back) after waiting `waited_s`."""
    decay = 1.0 - 1.0 / HORIZON
    queue.wait_weight = queue.wait_weight * decay + waited_s
    queue.abandon_weight = queue.abandon_weight * decay + (1.0 if abandoned else 0.0)
    if served:  # LES: only a call that reached an agent
        queue.last_started_wait = waited_s


def ql_wait(ahead: int, servers: int, mu: float, theta: float) -> float | None:
    """E[W | `ahead` callers in front] for M/M/s+M (Ibrahim & Whitt); None if nobody serves."""
    if servers <= 0 or mu <= 0:
        return None
    base = servers * mu
    if theta <= 0:
        return (ahead + 1) / base
    return sum(1.0 / (base + k * theta) for k in range(ahead + 1))


def idle_agent_for_newcomer(queue: QueueState) -> bool:
    """An eligible agent idles in a tier open to a caller who has not waited yet."""
    if queue.config.get_list_agents_url:
        return False  # the router decides who serves; nothing is known before it answers
    return any(len(pool) and pool.after_wait_s <= 0 for pool in queue.tiers)


def estimate(queue: QueueState, now: float, ahead: int | None = None) -> WaitEstimate:
    """Estimate for a new caller (or one with `ahead` callers in front of it).

    A new caller who finds the line empty and an eligible agent idle waits 0.
    """
    waiting = len(queue.waiting)
    if ahead is None and not waiting and idle_agent_for_newcomer(queue):
        return WaitEstimate(
            queue_id=queue.id,
            waiting=0,
            staffed=queue.staffed,
            ql_s=0.0,
            hol_s=0.0,
            les_s=queue.last_started_wait,
        )
    busy = queue.busy_mean_s if queue.busy_mean_s is not None else DEFAULT_BUSY_S
    theta = queue.abandon_weight / queue.wait_weight if queue.wait_weight > 0 else 0.0
    position = waiting if ahead is None else ahead
    hol = 0.0
    for level in queue.levels:
        head = queue.head(level)
        if head is not None:
            hol = max(hol, now - head.enqueued_at)
    return WaitEstimate(
        queue_id=queue.id,
        waiting=waiting,
        staffed=queue.staffed,
        ql_s=ql_wait(position, queue.staffed, 1.0 / busy if busy > 0 else 0.0, theta),
        hol_s=hol,
        les_s=queue.last_started_wait,
    )


def head_wait(queue: QueueState, call_id: str, now: float) -> float | None:
    """HOL for a caller already in line: how long the first caller ahead of `call_id` has
    waited (None if nobody is ahead). The simulator scores it against the wait that follows."""
    oldest = None
    for level in queue.levels:
        head = queue.head(level)
        if (
            head is not None
            and head.id != call_id
            and (oldest is None or head.enqueued_at < oldest)
        ):
            oldest = head.enqueued_at
    return None if oldest is None else now - oldest
