"""The IVR interpreter (issue 2, point 2; seed 000 1a; seed 002 call notifications).

A node plays its prompt and waits for one key, with a timeout counted from the prompt's start,
or from its end when the telephony reports `PromptEnded`. A key leads to an action. Invalid or
missing input replays the node, up to `max_retries` times, then takes the node's default.
"""

from __future__ import annotations

from datetime import UTC, datetime

from helpline.core import commands as cmd
from helpline.core.base import EngineBase
from helpline.core.calls import Call
from helpline.core.model import Action, ActionKind, IvrNode
from helpline.core.records import Leg, Result
from helpline.core.states import CallState
from helpline.core.timers import TimerKind


def call_date(at: float) -> str:
    """Seed 002's `calldate` format, in UTC: 2020-02-24 20:15:11."""
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


class IvrLayer(EngineBase):
    def enter_ivr(self, call: Call, tree_id: str) -> None:
        tree = self.center.ivr_trees[tree_id]
        call.ivr_tree = tree_id
        self.set_call_state(call, CallState.IVR)
        self.enter_node(call, tree.nodes[tree.root])

    def enter_node(self, call: Call, node: IvrNode, *, retry: bool = False) -> None:
        if not retry:
            call.retries = 0
            call.ivr_path = (*call.ivr_path, node.id)
        call.node = node
        if retry and node.invalid_prompt is not None:
            self.out.append(
                cmd.PlayPrompt(
                    call_id=call.id,
                    prompt=node.invalid_prompt,
                    text=node.invalid_prompt.render({}),
                    collect=False,
                )
            )
        self.out.append(
            cmd.PlayPrompt(
                call_id=call.id,
                prompt=node.prompt,
                text=node.prompt.render(self.prompt_values(call)),
                collect=True,
            )
        )
        self._arm_input_timer(call, node)

    def prompt_values(self, call: Call) -> dict[str, object]:
        """Placeholders a prompt may use; the queue layer adds the estimated wait."""
        return {"caller": call.from_number}

    def _arm_input_timer(self, call: Call, node: IvrNode) -> None:
        self.cancel_call_timers(call, TimerKind.IVR_INPUT)
        self.call_timer(call, TimerKind.IVR_INPUT, self.now + node.timeout_s)

    def on_prompt_ended(self, call: Call) -> None:
        """The key timeout restarts when the prompt has finished playing."""
        if call.state is CallState.IVR and call.node is not None:
            self._arm_input_timer(call, call.node)

    def on_digits(self, call: Call, digits: str) -> None:
        """Each key in turn: keys typed ahead carry on into the node the first one leads to."""
        for key in digits:
            if call.state is not CallState.IVR or call.node is None:
                return  # keys outside the IVR carry no meaning for routing
            self._on_key(call, call.node, key)

    def _on_key(self, call: Call, node: IvrNode, key: str) -> None:
        call.keys += key
        self.cancel_call_timers(call, TimerKind.IVR_INPUT)
        action = node.keys.get(key)
        if action is None:
            self._no_valid_input(call, node)
        else:
            self.run_action(call, action)

    def on_input_timeout(self, call: Call) -> None:
        if call.state is CallState.IVR and call.node is not None:
            self._no_valid_input(call, call.node)

    def _no_valid_input(self, call: Call, node: IvrNode) -> None:
        call.retries += 1
        if call.retries > node.max_retries:
            self.run_action(call, node.default)
        else:
            self.enter_node(call, node, retry=True)

    def run_action(self, call: Call, action: Action) -> None:
        kind = action.kind
        if kind is ActionKind.NOTIFY:
            assert action.target is not None and action.then is not None  # checked by Action
            if action.notify_when == "now":
                self.notify(call, action.target, event="incoming_call")
            else:
                call.notify_urls = (*call.notify_urls, action.target)
            self.run_action(call, action.then)
            return
        self.cancel_call_timers(call, TimerKind.IVR_INPUT)
        if kind is ActionKind.NODE:
            tree = self.center.ivr_trees.get(call.ivr_tree or "")
            node = tree.nodes.get(action.target or "") if tree is not None else None
            if node is None:  # the tree changed under the caller
                self.end_call(call, Result.FAILED, by="system", reason="ivr_removed")
            else:
                self.enter_node(call, node)
        elif kind is ActionKind.REPEAT:
            assert call.node is not None
            self.enter_node(call, call.node)
        elif kind is ActionKind.QUEUE:
            assert action.target is not None
            self.enqueue(call, action.target, priority=action.priority)
        elif kind is ActionKind.CALLBACK:
            assert action.target is not None
            self.request_callback(call, action.target, priority=action.priority)
        elif kind is ActionKind.EXTERNAL:
            assert action.target is not None
            self.connect_external(call, action.target)
        elif kind is ActionKind.VOICEMAIL:
            self.set_call_state(call, CallState.VOICEMAIL)
            self.out.append(
                cmd.StartVoicemail(call_id=call.id, mailbox=action.target, prompt=action.prompt)
            )
        else:  # HANGUP
            self.end_call(
                call, Result.ENDED_IN_IVR, by="system", reason="ivr_hangup", prompt=action.prompt
            )

    def connect_external(self, call: Call, number: str) -> None:
        self.set_call_state(call, CallState.EXTERNAL)
        call.legs.append(
            Leg(
                agent_id=None,
                queue_id=None,
                offered_at=self.now,
                answered_at=self.now,
                ended_at=None,
                talk_s=0.0,
                hold_s=0.0,
                external_number=number,
            )
        )
        self.out.append(cmd.DialExternal(call_id=call.id, number=number))

    def notify(self, call: Call, url: str, *, event: str) -> None:
        """Seed 002 "Call and Incoming Call Notifications": the call's data as a query string.

        In the seed's order. The queue fields come only once the call reached a queue (the
        seed's "Call Ended without Connecting to a Queue" example has none). The seed's tables
        name the call key `callkeyX`; it goes under that name and as `callkey` (Alo-Tech's
        `activecallkey` vocabulary), so a receiver written against either reads it.
        """
        queue = self.center.queues.get(call.queue_id) if call.queue_id else None
        agent = self.center.agents.get(call.agent_id) if call.agent_id else None
        params: dict[str, str] = {}
        if call.queue_id is not None:
            params["queuename"] = (queue.name or queue.id) if queue else call.queue_id
        params["calldate"] = call_date(call.created_at)
        if call.queue_id is not None:
            params["queueid"] = call.queue_id
        params.update(
            {
                "callerid": call.from_number,
                "myemail": (agent.email or "") if agent else "",
                "callednum": call.to_number,
                "event": event,
                "callkeyX": call.id,
                "callkey": call.id,
            }
        )
        self.out.append(cmd.Notify(call_id=call.id, url=url, params=params))
