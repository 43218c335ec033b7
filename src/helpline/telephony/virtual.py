"""The virtual carrier: an in-process telephone network driven over `/v1/sandbox` (issue 4, 5).

Test callers place calls to hotline numbers, press keys and hang up; test agent devices
register (which puts the agent online), ring, answer (optionally after a delay), reject and
hang up; customers dialled by callouts and callbacks answer, are busy or do not answer as
the sandbox says. Every call keeps what it heard (prompts, greeting, hold music) so a test
or a person can see the IVR at work; agent lines (seed 003) are in `virtual_lines`. It is the
embedded default adapter, not a mock: calls through it go through exactly the engine and
runtime real calls use.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.errors import Conflict, NotFound
from helpline.ports import PostEvent, PostLineEvent, TelephonyCommand
from helpline.telephony.virtual_lines import VirtualLines

ENDED_KEPT = 1000  # ended calls the sandbox still shows


@dataclass(slots=True)
class VirtualDevice:
    """A test agent's phone: rings, answers (after `answer_delay_s`), rejects, hangs up."""

    agent_id: str
    auto_answer: bool = True
    answer_delay_s: float = 0.0
    reject: bool = False
    ringing: list[str] = field(default_factory=list)  # call ids ringing now
    on_call: str | None = None
    offers: int = 0


@dataclass(slots=True)
class CustomerBehaviour:
    """How a dialled customer number responds (callouts, callbacks)."""

    answer: bool = True
    delay_s: float = 0.0
    failure: str = "no_answer"  # busy, no_answer, failed


@dataclass(slots=True)
class VirtualCall:
    call_id: str
    from_number: str
    to_number: str
    state: str = "ringing"
    agent_id: str | None = None
    held: bool = False
    heard: list[dict[str, Any]] = field(default_factory=list)
    keys: str = ""
    end_reason: str | None = None


class VirtualCarrier:
    """Implements the `Telephony` port in-process."""

    def __init__(self) -> None:
        self._post: PostEvent | None = None
        self.calls: dict[tuple[str, str], VirtualCall] = {}
        # ended calls stay inspectable (`/v1/sandbox/calls/{id}`) until ENDED_KEPT newer ones
        # ended: the browser and SIP adapters pass every call through here, and a long-running
        # server must not keep every call it ever carried
        self._ended: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.devices: dict[tuple[str, str], VirtualDevice] = {}
        self.customers: dict[tuple[str, str], CustomerBehaviour] = {}
        self._later: set[asyncio.TimerHandle] = set()
        self.lines = VirtualLines(self)

    def attach(self, post: PostEvent) -> None:
        self._post = post

    def listen_lines(self, listener: PostLineEvent) -> None:
        self.lines.listen(listener)

    def _emit(self, tenant_id: str, event: ev.Event) -> None:
        if self._post is None:
            raise RuntimeError("the virtual carrier is not attached to a runtime")
        self._post(tenant_id, event)

    emit = _emit

    def _emit_later(self, delay: float, tenant_id: str, event: ev.Event) -> None:
        self.later(delay, lambda: self._emit(tenant_id, event))

    def later(self, delay: float, action: Callable[[], None]) -> asyncio.TimerHandle:
        """Run `action` after `delay` seconds (cancelled by `close`)."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._later.discard(handle)
            action()

        handle = loop.call_later(max(0.0, delay), fire)
        self._later.add(handle)
        return handle

    def behaviour(self, tenant_id: str, number: str) -> CustomerBehaviour:
        """How a number the carrier dials responds (a customer's, an agent's phone)."""
        return self.customers.get((tenant_id, number), CustomerBehaviour())

    def new_call(
        self, tenant_id: str, call_id: str, *, from_number: str, to_number: str
    ) -> VirtualCall:
        placed = VirtualCall(call_id=call_id, from_number=from_number, to_number=to_number)
        self.calls[(tenant_id, call_id)] = placed
        return placed

    def presence_changed(self, tenant_id: str, agent_id: str) -> None:
        """The agent is online while its sandbox device is registered. Its agent line is no
        presence: it carries only the campaign's callouts (`OfferCall.agent_line`), so a queue
        must not count the agent reachable through it (seed 003)."""
        online = (tenant_id, agent_id) in self.devices
        self._emit(tenant_id, ev.AgentPresenceChanged(agent_id=agent_id, online=online))

    def close(self) -> None:
        for handle in self._later:
            handle.cancel()
        self._later.clear()

    # -- driven by the sandbox API -------------------------------------------------------------

    def call(self, tenant_id: str, call_id: str) -> VirtualCall:
        found = self.calls.get((tenant_id, call_id))
        if found is None:
            raise NotFound(f"sandbox call {call_id} not found", details={"field": "call_id"})
        return found

    def place_call(
        self, tenant_id: str, call_id: str, from_number: str, to_number: str
    ) -> VirtualCall:
        if (tenant_id, call_id) in self.calls:
            raise Conflict(f"call {call_id} already exists", details={"field": "call_id"})
        placed = VirtualCall(call_id=call_id, from_number=from_number, to_number=to_number)
        self.calls[(tenant_id, call_id)] = placed
        self._emit(
            tenant_id, ev.CallArrived(call_id=call_id, from_number=from_number, to_number=to_number)
        )
        return placed

    def press(self, tenant_id: str, call_id: str, digits: str) -> None:
        placed = self._live_call(tenant_id, call_id)
        placed.keys += digits
        self._emit(tenant_id, ev.DigitsPressed(call_id=call_id, digits=digits))

    def hang_up(self, tenant_id: str, call_id: str) -> None:
        self._live_call(tenant_id, call_id)
        self._emit(tenant_id, ev.CallHungUp(call_id=call_id, party=ev.Party.CUSTOMER))

    def _live_call(self, tenant_id: str, call_id: str) -> VirtualCall:
        placed = self.call(tenant_id, call_id)
        if placed.state == "ended":
            raise Conflict(f"call {call_id} has ended", details={"field": "call_id"})
        return placed

    def register_device(self, tenant_id: str, device: VirtualDevice) -> VirtualDevice:
        self.devices[(tenant_id, device.agent_id)] = device
        self.presence_changed(tenant_id, device.agent_id)
        return device

    def unregister_device(self, tenant_id: str, agent_id: str) -> None:
        if self.devices.pop((tenant_id, agent_id), None) is None:
            raise NotFound(f"no sandbox device for agent {agent_id}", details={"field": "agent_id"})
        self.lines.device_gone(tenant_id, agent_id)  # a line on the device ends with it
        self.presence_changed(tenant_id, agent_id)

    def device(self, tenant_id: str, agent_id: str) -> VirtualDevice:
        found = self.devices.get((tenant_id, agent_id))
        if found is None:
            raise NotFound(f"no sandbox device for agent {agent_id}", details={"field": "agent_id"})
        return found

    def device_answer(self, tenant_id: str, agent_id: str, call_id: str) -> None:
        device = self.device(tenant_id, agent_id)
        if self.lines.device_answer(tenant_id, agent_id, call_id):
            return  # its agent line, answered by hand
        if call_id not in device.ringing:
            raise Conflict(
                f"call {call_id} is not ringing on {agent_id}", details={"field": "call_id"}
            )
        self._emit(tenant_id, ev.OfferAnswered(call_id=call_id, agent_id=agent_id))

    def device_reject(self, tenant_id: str, agent_id: str, call_id: str) -> None:
        device = self.device(tenant_id, agent_id)
        if self.lines.device_reject(tenant_id, agent_id, call_id):
            return
        if call_id not in device.ringing:
            raise Conflict(
                f"call {call_id} is not ringing on {agent_id}", details={"field": "call_id"}
            )
        device.ringing.remove(call_id)  # declined: it stops ringing here
        self._emit(tenant_id, ev.OfferRejected(call_id=call_id, agent_id=agent_id))

    def device_hang_up(self, tenant_id: str, agent_id: str) -> None:
        device = self.device(tenant_id, agent_id)
        line = self.lines.open_line(tenant_id, agent_id)
        if line is not None and line.command.phone_number is None and device.on_call is None:
            self.lines.hang_up(tenant_id, agent_id)  # the device holds the agent's line
            return
        if device.on_call is None:
            raise Conflict(f"agent {agent_id} is on no call", details={"field": "agent_id"})
        self._emit(tenant_id, ev.CallHungUp(call_id=device.on_call, party=ev.Party.AGENT))

    # -- the engine's commands -----------------------------------------------------------------

    async def execute(self, tenant_id: str, command: TelephonyCommand) -> None:
        if isinstance(command, cmd.OpenAgentLine | cmd.HoldAgentLine | cmd.CloseAgentLine):
            self.lines.execute(tenant_id, command)
            return
        placed = self.calls.get((tenant_id, command.call_id))
        if placed is None:  # callout and callback calls start here, not at the sandbox
            placed = VirtualCall(call_id=command.call_id, from_number="", to_number="")
            self.calls[(tenant_id, command.call_id)] = placed
        if isinstance(command, cmd.PlayPrompt):
            placed.state = "ivr" if command.collect else placed.state
            placed.heard.append(
                {
                    "kind": "prompt",
                    "text": command.text,
                    "audio": command.prompt.audio,
                    "language": command.prompt.language,
                }
            )
        elif isinstance(command, cmd.PlayQueueAudio):
            placed.state = "queued"
            if command.greeting_text is not None or command.greeting is not None:
                placed.heard.append({"kind": "greeting", "text": command.greeting_text})
            placed.heard.append({"kind": "hold_music", "audio": command.hold_music})
        elif isinstance(command, cmd.SetHold):
            placed.held = command.on
            placed.heard.append({"kind": "hold" if command.on else "resume"})
        elif isinstance(command, cmd.OfferCall):
            if not self.lines.take_offer(tenant_id, command):
                self._ring(tenant_id, command)
        elif isinstance(command, cmd.CancelOffer):
            device = self.devices.get((tenant_id, command.agent_id))
            if device is not None and command.call_id in device.ringing:
                device.ringing.remove(command.call_id)
        elif isinstance(command, cmd.Bridge):
            placed.state = "connected"
            placed.agent_id = command.agent_id
            placed.held = False
            on_line = self.lines.bridged(tenant_id, command, placed.to_number)
            for (tenant, agent_id), device in self.devices.items():
                if tenant != tenant_id or (on_line and agent_id == command.agent_id):
                    continue
                if agent_id == command.agent_id:
                    device.ringing = [c for c in device.ringing if c != command.call_id]
                    device.on_call = command.call_id
                elif device.on_call == command.call_id:
                    device.on_call = None  # transferred away from this agent
        elif isinstance(command, cmd.DialCustomer):
            self._dial_customer(tenant_id, command)
        elif isinstance(command, cmd.DialExternal):
            placed.state = "external"
            placed.heard.append({"kind": "external", "number": command.number})
        elif isinstance(command, cmd.StartVoicemail):
            placed.state = "voicemail"
            placed.heard.append({"kind": "voicemail", "mailbox": command.mailbox})
        elif isinstance(command, cmd.Hangup):
            self._hang_up(tenant_id, placed, command)

    def _ring(self, tenant_id: str, command: cmd.OfferCall) -> None:
        device = self.devices.get((tenant_id, command.agent_id))
        if device is None:
            return  # nobody picks up: the engine's answer timeout moves the call on
        device.offers += 1
        offer = (command.call_id, command.agent_id)
        if device.reject:  # declines at once: it never rings
            self._emit_later(0.0, tenant_id, ev.OfferRejected(call_id=offer[0], agent_id=offer[1]))
            return
        device.ringing.append(command.call_id)
        if device.auto_answer:
            self._emit_later(
                device.answer_delay_s,
                tenant_id,
                ev.OfferAnswered(call_id=offer[0], agent_id=offer[1]),
            )

    def _dial_customer(self, tenant_id: str, command: cmd.DialCustomer) -> None:
        placed = self.calls[(tenant_id, command.call_id)]
        placed.state = "dialing"
        placed.to_number = command.number
        placed.from_number = command.caller_id or ""
        behaviour = self.customers.get((tenant_id, command.number), CustomerBehaviour())
        if behaviour.answer:
            self._emit_later(
                behaviour.delay_s, tenant_id, ev.CustomerAnswered(call_id=command.call_id)
            )
        else:
            self._emit_later(
                behaviour.delay_s,
                tenant_id,
                ev.CustomerDialFailed(call_id=command.call_id, reason=behaviour.failure),
            )

    def _hang_up(self, tenant_id: str, placed: VirtualCall, command: cmd.Hangup) -> None:
        if command.prompt is not None:
            placed.heard.append({"kind": "prompt", "text": command.prompt.text})
        self.call_over(tenant_id, placed, command.reason)
        self.lines.call_ended(tenant_id, command.call_id)
        for (tenant, _), device in self.devices.items():
            if tenant != tenant_id:
                continue
            if command.call_id in device.ringing:
                device.ringing.remove(command.call_id)
            if device.on_call == command.call_id:
                device.on_call = None

    def call_over(self, tenant_id: str, placed: VirtualCall, reason: str) -> None:
        """The call ended: kept for the sandbox to show until ENDED_KEPT newer ones end."""
        placed.state = "ended"
        placed.end_reason = reason
        key = (tenant_id, placed.call_id)
        self._ended[key] = None
        self._ended.move_to_end(key)
        while len(self._ended) > ENDED_KEPT:
            old, _ = self._ended.popitem(last=False)
            self.calls.pop(old, None)
