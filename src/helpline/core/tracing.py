"""Decision traces: why a call went to whom (issue 2, point 12).

A trace lists, per priority tier of the queue, whether the tier was open to the call, how many
agents it has and how many were eligible; for tiers of up to `trace_detail_limit` agents it
also names every agent and why it was passed over. Larger tiers name the agents the decision
actually looked at, so a trace never costs a scan of a large pool.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from helpline.core.agents import AgentState
from helpline.core.pools import Pool
from helpline.core.records import Candidate, TierView


def tier_view(
    pool: Pool,
    *,
    is_open: bool,
    agents: Mapping[str, AgentState],
    chosen: Collection[str],
    excluded: Collection[str],
    detail_limit: int,
) -> TierView:
    candidates: list[Candidate] = []
    if len(pool.members) <= detail_limit:
        ranked = {agent_id: rank for rank, agent_id in enumerate(pool.ranking(detail_limit))}
        for agent_id in pool.members:
            candidates.append(_candidate(agent_id, pool, is_open, agents, chosen, excluded, ranked))
    else:
        for agent_id in (*chosen, *excluded):
            if agent_id in pool.members:
                candidates.append(_candidate(agent_id, pool, is_open, agents, chosen, excluded, {}))
    return TierView(
        priority=pool.priority,
        groups=pool.groups,
        open=is_open,
        members=len(pool.members),
        eligible=len(pool),
        candidates=tuple(candidates),
    )


def _candidate(  # noqa: PLR0917
    agent_id: str,
    pool: Pool,
    is_open: bool,
    agents: Mapping[str, AgentState],
    chosen: Collection[str],
    excluded: Collection[str],
    ranked: Mapping[str, int],
) -> Candidate:
    if agent_id in chosen:
        return Candidate(agent_id=agent_id, verdict="chosen")
    reason = agents[agent_id].ineligibility()
    if reason is not None:
        return Candidate(agent_id=agent_id, verdict=reason)
    if agent_id in excluded:
        return Candidate(agent_id=agent_id, verdict="missed", detail="missed this call already")
    if not is_open:
        return Candidate(
            agent_id=agent_id,
            verdict="tier_closed",
            detail=f"opens after {pool.after_wait_s:g} s of waiting",
        )
    if chosen:
        rank = ranked.get(agent_id)
        detail = f"ranked {rank + 1} by {pool.strategy.value}" if rank is not None else ""
        return Candidate(agent_id=agent_id, verdict="ranked_below", detail=detail)
    return Candidate(agent_id=agent_id, verdict="lower_tier", detail="a better tier served")


def views_until(
    tiers: Sequence[Pool],
    last: Pool | None,
    *,
    waited: float,
    agents: Mapping[str, AgentState],
    chosen: Collection[str],
    excluded: Collection[str],
    detail_limit: int,
) -> tuple[TierView, ...]:
    """Views of every tier up to and including `last` (the one that served the call)."""
    views: list[TierView] = []
    for pool in tiers:
        views.append(
            tier_view(
                pool,
                is_open=waited + 1e-9 >= pool.after_wait_s,
                agents=agents,
                chosen=chosen if pool is last else (),
                excluded=excluded,
                detail_limit=detail_limit,
            )
        )
        if pool is last:
            break
    return tuple(views)
