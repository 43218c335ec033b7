"""Eligible-agent pools: what makes a routing decision cost O(log n), not a scan.

A queue's groups, by priority, form tiers (seed 000 1d); each (queue, tier) has a `Pool` of
the agents who may serve it (group members who have the queue's required skills). A pool
indexes only its *eligible* agents, in the order of the queue's strategy, so a decision peeks
the top of a heap instead of looking at every agent:

- agents join a pool's index when they become eligible, with a key fixed at that moment
  (idle since, calls taken, talk time, proficiency, agent order, last offer by this queue);
  those quantities only change while the agent is not eligible, so keys never go stale;
- leaving is O(1): the entry is forgotten, and its heap entry is skipped when it surfaces
  (lazy deletion, as `heapq`'s documentation suggests), with a rebuild when the heap is
  mostly dead entries;
- `random` draws from an index-addressable list; `ring_all` rings the whole list.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Collection, Mapping
from typing import Final

from helpline.core.agents import AgentState
from helpline.core.model import Strategy

_NO_HEAP: Final = (Strategy.RANDOM, Strategy.RING_ALL)
_RANDOM_TRIES: Final = 8

# enum members the hot paths read, as module globals: on Python 3.11 `CallState.QUEUED` goes
# through `EnumType.__getattr__` (about 100 ns), a global takes about 10 ns
_FEWEST_CALLS: Final = Strategy.FEWEST_CALLS
_LEAST_TALK_TIME: Final = Strategy.LEAST_TALK_TIME
_LINEAR: Final = Strategy.LINEAR
_LONGEST_IDLE: Final = Strategy.LONGEST_IDLE
_RANDOM: Final = Strategy.RANDOM
_RING_ALL: Final = Strategy.RING_ALL
_ROUND_ROBIN: Final = Strategy.ROUND_ROBIN


class Pool:
    """The agents of one priority tier of one queue, indexed by the queue's strategy."""

    __slots__ = (
        "_entries",
        "_heap",
        "_index",
        "_stamp",
        "_stamps",
        "after_wait_s",
        "eligible",
        "groups",
        "members",
        "priority",
        "queue_id",
        "round_robin",
        "scores",
        "strategy",
    )

    def __init__(
        self,
        *,
        queue_id: str,
        priority: int,
        groups: tuple[str, ...],
        after_wait_s: float,
        strategy: Strategy,
        members: Mapping[str, int],
        scores: Mapping[str, int],
        round_robin: dict[str, int],
    ) -> None:
        self.queue_id = queue_id
        self.priority = priority
        self.groups = groups
        self.after_wait_s = after_wait_s
        self.strategy = strategy
        self.members = dict(members)  # agent id -> position (the order `linear` follows)
        self.scores = dict(scores)  # agent id -> proficiency on the queue's skills
        self.round_robin = round_robin  # agent id -> serial of the queue's last offer to it
        self.eligible: list[str] = []  # eligible agent ids, any order
        self._index: dict[str, int] = {}  # agent id -> its slot in `eligible`
        self._heap: list[tuple[float, float, int, str]] = []
        self._stamps: dict[str, int] = {}  # agent id -> stamp of its live heap entry
        self._stamp = 0

    def __len__(self) -> int:
        return len(self.eligible)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._index

    def _key(self, agent: AgentState) -> tuple[float, float]:
        order = float(self.members[agent.id])
        strategy = self.strategy
        if strategy is _LONGEST_IDLE:
            return (agent.idle_since, order)
        if strategy is _LINEAR:
            return (order, 0.0)
        if strategy is _ROUND_ROBIN:
            # least recently offered by this queue first: cycles through agents in order
            return (float(self.round_robin.get(agent.id, -1)), order)
        if strategy is _FEWEST_CALLS:
            return (float(agent.calls_taken), agent.idle_since)
        if strategy is _LEAST_TALK_TIME:
            return (agent.talk_time, agent.idle_since)
        # BEST_PROFICIENCY: highest score first, then longest idle
        return (-float(self.scores.get(agent.id, 0)), agent.idle_since)

    def add(self, agent: AgentState) -> None:
        """Index an agent that just became eligible."""
        agent_id = agent.id
        index = self._index
        if agent_id in index:
            return
        eligible = self.eligible
        index[agent_id] = len(eligible)
        eligible.append(agent_id)
        strategy = self.strategy
        if strategy not in _NO_HEAP:
            self._stamp = stamp = self._stamp + 1
            self._stamps[agent_id] = stamp
            if strategy is _LONGEST_IDLE:  # the default: `_key`, inlined
                first, second = agent.idle_since, float(self.members[agent_id])
            else:
                first, second = self._key(agent)
            heap = self._heap
            heapq.heappush(heap, (first, second, stamp, agent_id))
            if len(heap) > 2 * len(eligible) + 64:
                self._compact()

    def discard(self, agent_id: str) -> None:
        """Forget an agent that is no longer eligible (O(1))."""
        slot = self._index.pop(agent_id, None)
        if slot is None:
            return
        last = self.eligible.pop()
        if last != agent_id:
            self.eligible[slot] = last
            self._index[last] = slot
        self._stamps.pop(agent_id, None)

    def _compact(self) -> None:
        live = self._stamps
        self._heap = [entry for entry in self._heap if live.get(entry[3]) == entry[2]]
        heapq.heapify(self._heap)

    def pick(self, exclude: Collection[str], rng: random.Random) -> list[str]:
        """The agent(s) the strategy chooses, skipping `exclude`; empty if none is eligible.

        Costs O(log n) plus the excluded agents met on the way (a call's missed agents: few).
        """
        if not self.eligible:
            return []
        skip = exclude
        strategy = self.strategy
        if strategy is _RING_ALL:
            return [agent_id for agent_id in self.eligible if agent_id not in skip]
        if strategy is _RANDOM:
            return self._pick_random(skip, rng)
        if skip:
            return self._pick_heap(skip)
        # nobody to skip (a call's first offer): `_pick_heap` without its bookkeeping
        heap = self._heap
        stamps = self._stamps
        while heap:
            entry = heap[0]
            if stamps.get(entry[3]) == entry[2]:
                return [entry[3]]
            heapq.heappop(heap)  # a dead entry: the agent left the pool since
        return []

    def _pick_random(self, skip: Collection[str], rng: random.Random) -> list[str]:
        eligible = self.eligible
        for _ in range(_RANDOM_TRIES):
            agent_id = eligible[rng.randrange(len(eligible))]
            if agent_id not in skip:
                return [agent_id]
        rest = [agent_id for agent_id in eligible if agent_id not in skip]
        return [rest[rng.randrange(len(rest))]] if rest else []

    def _pick_heap(self, skip: Collection[str]) -> list[str]:
        heap = self._heap
        stamps = self._stamps
        popped: list[tuple[float, float, int, str]] = []
        chosen: list[str] = []
        while heap:
            entry = heap[0]
            if stamps.get(entry[3]) != entry[2]:
                heapq.heappop(heap)  # a dead entry: the agent left the pool since
                continue
            if entry[3] in skip:
                popped.append(heapq.heappop(heap))
                continue
            chosen.append(entry[3])
            break
        for entry in popped:
            heapq.heappush(heap, entry)
        return chosen

    def ranking(self, limit: int) -> list[str]:
        """Up to `limit` eligible agents in the strategy's order (for decision traces)."""
        if self.strategy in _NO_HEAP:
            return self.eligible[:limit]
        live = [entry for entry in self._heap if self._stamps.get(entry[3]) == entry[2]]
        return [entry[3] for entry in heapq.nsmallest(limit, live)]
