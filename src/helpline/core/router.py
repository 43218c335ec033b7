"""External routing through `get_list_agents_url` (issue 2, point 9; seed 000 Step 5).

When a call joins a queue that has the URL, the engine asks the external router about the
queue's waiting calls (one request at a time per queue; calls that join meanwhile go in the
next one). A version 2 reply gives each call an ordered agent list, each agent with its own
routing type and answer timeout; the call is offered to the first free agent of its list,
then the next (seed 000 Step 5b). A missing, late or malformed reply, or a call the reply
leaves out, falls back to group routing: the call is never lost.
"""

from __future__ import annotations

from typing import Any

from helpline.core import commands as cmd
from helpline.core.agents import reach_reason
from helpline.core.calls import Call, ListedAgent, QueueState, RouterStatus
from helpline.core.model import AVAILABLE, RoutingType
from helpline.core.records import Decision
from helpline.core.routing import OfferTarget, QueueLayer
from helpline.core.states import AgentActivity
from helpline.core.timers import TimerKind


class MalformedReply(ValueError):
    """The router's reply does not follow seed 000 Step 5b; the message names the field."""


def parse_reply(body: Any) -> dict[str, tuple[ListedAgent, ...]]:
    """Validate a version 2 reply and return each call's agent list, by call id."""
    if not isinstance(body, dict):
        raise MalformedReply("the reply is not a JSON object")
    if body.get("version") != 2:
        raise MalformedReply("version: must be 2")
    calls = body.get("calls")
    if not isinstance(calls, list):
        raise MalformedReply("calls: must be an array")
    result: dict[str, tuple[ListedAgent, ...]] = {}
    for i, entry in enumerate(calls):
        if not isinstance(entry, dict) or not isinstance(entry.get("callId"), str):
            raise MalformedReply(f"calls[{i}].callId: must be a string")
        agents = entry.get("agents")
        if not isinstance(agents, list):
            raise MalformedReply(f"calls[{i}].agents: must be an array")
        listed: list[ListedAgent] = []
        for j, agent in enumerate(agents):
            path = f"calls[{i}].agents[{j}]"
            if not isinstance(agent, dict):
                raise MalformedReply(f"{path}: must be an object")
            user_id = agent.get("stringee_user_id")
            if not isinstance(user_id, str) or not user_id:
                raise MalformedReply(f"{path}.stringee_user_id: must be a non-empty string")
            routing = agent.get("routing_type")
            if routing not in (1, 2) or isinstance(routing, bool):
                raise MalformedReply(f"{path}.routing_type: must be 1 or 2")
            timeout = agent.get("answer_timeout")
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
                raise MalformedReply(f"{path}.answer_timeout: must be a positive number")
            phone = agent.get("phone_number")
            if phone is not None and not isinstance(phone, str):
                raise MalformedReply(f"{path}.phone_number: must be a string")
            listed.append(
                ListedAgent(
                    agent_id=user_id,
                    routing_type=RoutingType(routing),
                    phone_number=phone or None,
                    answer_timeout_s=float(timeout),
                )
            )
        result[entry["callId"]] = tuple(listed)
    return result


class RouterLayer(QueueLayer):
    def ask_router(self, queue: QueueState) -> None:
        if not queue.config.get_list_agents_url:
            return  # a new center document took the router away
        if queue.router_request is not None:
            queue.router_backlog = True
            return
        pending = [c for c in queue.in_order() if c.router_status is RouterStatus.PENDING]
        if not pending:
            return
        url = queue.config.get_list_agents_url
        assert url is not None
        request_id = f"{queue.id}#{self.next_seq()}"
        body: dict[str, Any] = {
            "queueId": queue.id,
            "calls": [{"callId": c.id, "from": c.from_number, "to": c.to_number} for c in pending],
        }
        timeout = queue.config.router_timeout_s
        timer = self.start_timer(TimerKind.ROUTER, request_id, self.now + timeout)
        self.router_requests[request_id] = (queue.id, [c.id for c in pending], timer)
        queue.router_request = request_id
        self.out.append(
            cmd.AskRouter(
                request_id=request_id, queue_id=queue.id, url=url, body=body, timeout_s=timeout
            )
        )

    def on_router_reply(self, request_id: str, body: Any) -> None:
        try:
            lists = parse_reply(body)
        except MalformedReply as error:
            self.router_gave_up(request_id, f"malformed reply: {error}")
            return
        request = self._close_request(request_id)
        if request is None:
            return  # late: the calls have fallen back already
        queue, call_ids = request
        for call in self._pending(queue, call_ids):
            agents = lists.get(call.id)
            if agents:
                call.router_status = RouterStatus.LISTED
                call.router_agents = agents
                self._watch(call)
            else:
                self._fall_back(call, "the reply lists no agent for this call")
        self._next_request(queue)

    def router_gave_up(self, request_id: str, reason: str) -> None:
        """No usable reply (timeout, failure, malformed): group routing for those calls."""
        request = self._close_request(request_id)
        if request is None:
            return
        queue, call_ids = request
        for call in self._pending(queue, call_ids):
            self._fall_back(call, reason)
        self._next_request(queue)

    def _close_request(self, request_id: str) -> tuple[QueueState, list[str]] | None:
        request = self.router_requests.pop(request_id, None)
        if request is None:
            return None
        queue_id, call_ids, timer = request
        self.timers.discard(timer)
        self.out.append(cmd.CancelTimer(timer=timer))
        queue = self.queues.get(queue_id)
        if queue is None:
            return None
        if queue.router_request == request_id:
            queue.router_request = None
        return queue, call_ids

    def _pending(self, queue: QueueState, call_ids: list[str]) -> list[Call]:
        calls = (self.calls.get(call_id) for call_id in call_ids)
        return [
            c
            for c in calls
            if c is not None and c.queue_id == queue.id and c.router_status is RouterStatus.PENDING
        ]

    def _fall_back(self, call: Call, reason: str) -> None:
        call.router_status = RouterStatus.FALLBACK
        if self.options.trace:
            fallback = Decision(
                at=self.now, queue_id=call.queue_id, rule="router_fallback", chosen=(), note=reason
            )
            call.decisions = (*call.decisions, fallback)

    def _next_request(self, queue: QueueState) -> None:
        self.dirty.add(queue.id)
        if queue.router_backlog:
            queue.router_backlog = False
            self.ask_router(queue)

    def _watch(self, call: Call) -> None:
        assert call.queue_id is not None
        for entry in call.router_agents:
            queues = self.router_watch.setdefault(entry.agent_id, {})
            queues[call.queue_id] = queues.get(call.queue_id, 0) + 1

    def unwatch(self, call: Call) -> None:
        assert call.queue_id is not None
        for entry in call.router_agents:
            queues = self.router_watch.get(entry.agent_id)
            if queues is None or call.queue_id not in queues:
                continue
            queues[call.queue_id] -= 1
            if queues[call.queue_id] <= 0:
                del queues[call.queue_id]
                if not queues:
                    del self.router_watch[entry.agent_id]

    def dispatch_router(self, queue: QueueState) -> None:
        for call in queue.in_order():
            if call.router_status is RouterStatus.LISTED:
                self._route_listed(queue, call)
            elif call.router_status is RouterStatus.FALLBACK:
                self.route_by_groups(queue, call)

    def _route_listed(self, queue: QueueState, call: Call) -> bool:
        listed = call.router_agents
        for attempt in (0, 1):
            if attempt == 1:
                if not {entry.agent_id for entry in listed} <= call.missed:
                    return False  # some listed agent has not had it yet: wait for them
                call.missed.clear()
            for entry in listed:
                if attempt == 0 and entry.agent_id in call.missed:
                    continue
                agent = self.agents.get(entry.agent_id)
                if (
                    agent is None
                    or agent.removed
                    or agent.activity is not AgentActivity.IDLE
                    or agent.manual_status != AVAILABLE
                ):
                    continue
                phone = entry.phone_number or agent.phone_number
                if reach_reason(agent.online, phone, entry.routing_type) is not None:
                    continue
                target = OfferTarget(
                    agent_id=agent.id,
                    timeout_s=entry.answer_timeout_s,
                    routing_type=entry.routing_type,
                    phone_number=phone,
                )
                decision = None
                if self.options.trace:
                    decision = Decision(
                        at=self.now,
                        queue_id=queue.id,
                        rule="router_list",
                        chosen=(agent.id,),
                        note=f"first free agent of the router's list of {len(listed)}",
                    )
                self.offer(call, queue, [target], decision)
                return True
        return False
