"""Agent lines on the virtual carrier (seed 003, "How Call Center Connect Works from the Agent
Perspective"): the carrier calls the agent, which hears its agent id, then hold music; a call
offered to it then is answered on the line with no ringing, a beep and the customer; the
line goes silent when the customer leaves and back to hold music when told; busy, unanswered
and hung-up lines are reported to the line listener, never to the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.errors import Conflict
from helpline.core.model import RoutingType
from helpline.telephony.virtual import CustomerBehaviour, VirtualCarrier, VirtualDevice

T = "t"
PHONE = "+15550001111"


@dataclass
class Heard:
    engine: list[ev.Event] = field(default_factory=list)
    lines: list[ev.AgentLineEvent] = field(default_factory=list)

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.005)


@pytest_asyncio.fixture
async def carrier() -> AsyncIterator[tuple[VirtualCarrier, Heard]]:
    heard = Heard()
    found = VirtualCarrier()
    found.attach(lambda _tenant, event: heard.engine.append(event))
    found.listen_lines(lambda _tenant, event: heard.lines.append(event))
    try:
        yield found, heard
    finally:
        found.close()


def open_line(phone: str | None = PHONE, ring_timeout_s: float = 30.0) -> cmd.OpenAgentLine:
    return cmd.OpenAgentLine(
        call_id="line-1",
        agent_id="alice",
        phone_number=phone,
        caller_id="+18005550000",
        announcement="Your agent ID is 1 2 3 4 5 6.",
        hold_music="jazz.wav",
        ring_timeout_s=ring_timeout_s,
    )


def offer(call_id: str, queue_id: str | None = None, *, agent_line: bool = True) -> cmd.OfferCall:
    """An offer to alice: by default the campaign dialer's callout for her line."""
    return cmd.OfferCall(
        call_id=call_id,
        agent_id="alice",
        timeout_s=30,
        routing_type=RoutingType.APP,
        phone_number=None,
        from_number="+15557000001",
        queue_id=queue_id,
        agent_line=agent_line,
    )


def kinds(carrier: VirtualCarrier) -> list[Any]:
    return [h["kind"] for h in carrier.lines.line(T, "alice").call.heard]


async def test_the_agents_whole_day_on_one_line(carrier: tuple[VirtualCarrier, Heard]) -> None:
    """Seed 003 steps 1-10 as the agent hears them."""
    virtual, heard = carrier
    device = virtual.register_device(T, VirtualDevice(agent_id="alice"))
    await virtual.execute(T, open_line())
    await heard.until(lambda: bool(heard.lines))
    assert heard.lines == [ev.AgentLineAnswered(call_id="line-1", agent_id="alice")]
    line = virtual.lines.line(T, "alice")
    assert line.call.heard[0] == {
        "kind": "prompt",
        "text": "Your agent ID is 1 2 3 4 5 6.",
        "repeat": True,
    }
    await virtual.execute(T, cmd.HoldAgentLine(call_id="line-1"))  # the agent logged in
    assert line.state.value == "hold"

    for n, customer in enumerate(["+15557000001", "+15557000002"]):
        call_id = f"c{n}"
        await virtual.execute(T, offer(call_id))
        answered = ev.OfferAnswered(call_id=call_id, agent_id="alice")
        await heard.until(lambda a=answered: a in heard.engine)  # type: ignore[misc]
        assert device.ringing == [] and device.offers == 0  # answered on the line, no ring
        await virtual.execute(T, cmd.DialCustomer(call_id=call_id, number=customer, caller_id=None))
        await virtual.execute(T, cmd.Bridge(call_id=call_id, agent_id="alice"))
        assert (line.state.value, line.attached) == ("talking", call_id)
        assert device.on_call is None  # the call is on the line, not a second call
        await virtual.execute(T, cmd.Hangup(call_id=call_id, reason="customer_hung_up"))
        assert (line.state.value, line.attached) == ("wrap_up", None)
        await virtual.execute(T, cmd.HoldAgentLine(call_id="line-1"))  # storeAgentResponse

    await virtual.execute(
        T, cmd.CloseAgentLine(call_id="line-1", reason="last_call", farewell="Please hang up.")
    )
    assert kinds(virtual) == [
        "prompt",
        "hold_music",
        "beep",
        "customer",
        "call_ended",
        "hold_music",
        "beep",
        "customer",
        "call_ended",
        "hold_music",
        "prompt",
    ]
    assert [h.get("number") for h in line.call.heard if h["kind"] == "customer"] == [
        "+15557000001",
        "+15557000002",
    ]
    assert line.call.heard[1]["audio"] == "jazz.wav"
    assert (virtual.call(T, "line-1").state, virtual.call(T, "line-1").end_reason) == (
        "ended",
        "last_call",
    )
    assert heard.lines[-1] == ev.AgentLineClosed(
        call_id="line-1", agent_id="alice", party=ev.Party.SYSTEM, reason="last_call"
    )


async def test_a_busy_or_silent_phone_fails_the_line(carrier: tuple[VirtualCarrier, Heard]) -> None:
    virtual, heard = carrier
    virtual.customers[(T, PHONE)] = CustomerBehaviour(answer=False, failure="busy")
    await virtual.execute(T, open_line())
    await heard.until(lambda: bool(heard.lines))
    assert heard.lines == [ev.AgentLineFailed(call_id="line-1", agent_id="alice", reason="busy")]
    # a phone that rings out: the ring timeout ends it as no_answer
    virtual.customers[(T, PHONE)] = CustomerBehaviour(answer=True, delay_s=60)
    await virtual.execute(T, open_line(ring_timeout_s=0.05))
    await heard.until(lambda: len(heard.lines) == 2)
    assert heard.lines[1] == ev.AgentLineFailed(
        call_id="line-1", agent_id="alice", reason="no_answer"
    )
    assert virtual.lines.open_line(T, "alice") is None
    assert not any(isinstance(e, ev.AgentPresenceChanged) for e in heard.engine)


async def test_a_line_to_a_device_is_answered_by_hand(
    carrier: tuple[VirtualCarrier, Heard],
) -> None:
    virtual, heard = carrier
    device = virtual.register_device(T, VirtualDevice(agent_id="alice", auto_answer=False))
    await virtual.execute(T, open_line(phone=None))
    assert device.ringing == ["line-1"]
    virtual.device_answer(T, "alice", "line-1")
    assert heard.lines == [ev.AgentLineAnswered(call_id="line-1", agent_id="alice")]
    assert device.ringing == []
    # no device at all: unreachable at once
    virtual.unregister_device(T, "alice")
    assert heard.lines[-1] == ev.AgentLineClosed(
        call_id="line-1", agent_id="alice", party=ev.Party.AGENT, reason="hung_up"
    )
    await virtual.execute(T, open_line(phone=None))
    await heard.until(lambda: len(heard.lines) == 3)
    assert heard.lines[-1] == ev.AgentLineFailed(
        call_id="line-1", agent_id="alice", reason="unreachable"
    )


async def test_the_agent_hangs_up_on_a_customer(carrier: tuple[VirtualCarrier, Heard]) -> None:
    """The call on the line loses its agent (to the engine), the line is reported closed.
    The line is never a presence: answered or ended, it says nothing of the agent's."""
    virtual, heard = carrier
    await virtual.execute(T, open_line())
    await heard.until(lambda: bool(heard.lines))
    with pytest.raises(Conflict):
        virtual.lines.hang_up(T, "bob")
    await virtual.execute(T, cmd.HoldAgentLine(call_id="line-1"))
    await virtual.execute(T, offer("c1"))
    await virtual.execute(T, cmd.Bridge(call_id="c1", agent_id="alice"))
    virtual.lines.hang_up(T, "alice")
    assert heard.engine[-1] == ev.CallHungUp(call_id="c1", party=ev.Party.AGENT, reason="hung_up")
    assert not [e for e in heard.engine if isinstance(e, ev.AgentPresenceChanged)]
    assert heard.lines[-1] == ev.AgentLineClosed(
        call_id="line-1", agent_id="alice", party=ev.Party.AGENT, reason="hung_up"
    )


async def test_offers_ring_as_usual_unless_the_line_waits(
    carrier: tuple[VirtualCarrier, Heard],
) -> None:
    """Only the dialer's callouts (`agent_line`) are taken on the line: a queue's call, a
    native callout or a transfer rings the agent's device as without a line, even while the
    line waits on hold music. A dialer's callout while the line does not wait (the agent
    still hears its id) is refused, not rung. A late hold never cuts a customer off."""
    virtual, heard = carrier
    device = virtual.register_device(T, VirtualDevice(agent_id="alice", auto_answer=False))
    await virtual.execute(T, open_line())
    await heard.until(lambda: bool(heard.lines))
    await virtual.execute(T, offer("early-1"))
    refused = ev.OfferRejected(call_id="early-1", agent_id="alice")
    await heard.until(lambda: refused in heard.engine)
    assert device.ringing == [] and virtual.lines.line(T, "alice").state.value == "announcing"
    await virtual.execute(T, cmd.HoldAgentLine(call_id="line-1"))
    await virtual.execute(T, offer("queued-1", queue_id="support", agent_line=False))
    await virtual.execute(T, offer("native-1", agent_line=False))  # /v1/calls/callout
    assert device.ringing == ["queued-1", "native-1"]
    assert virtual.lines.line(T, "alice").state.value == "hold"
    for call_id in ("queued-1", "native-1"):
        await virtual.execute(T, cmd.CancelOffer(call_id=call_id, agent_id="alice"))
    await virtual.execute(T, offer("c1"))
    await virtual.execute(T, cmd.Bridge(call_id="c1", agent_id="alice"))
    await virtual.execute(T, cmd.HoldAgentLine(call_id="line-1"))
    assert virtual.lines.line(T, "alice").state.value == "talking"
    # the customer never answered: the agent never left hold music
    await virtual.execute(T, cmd.Hangup(call_id="c1", reason="x"))
    await virtual.execute(T, cmd.HoldAgentLine(call_id="line-1"))
    await virtual.execute(T, offer("c2"))
    await virtual.execute(T, cmd.Hangup(call_id="c2", reason="busy"))
    assert virtual.lines.line(T, "alice").state.value == "hold"
    assert kinds(virtual) == [
        "prompt",
        "hold_music",
        "beep",
        "customer",
        "call_ended",
        "hold_music",
    ]


async def test_the_device_holding_the_line_hangs_it_up(
    carrier: tuple[VirtualCarrier, Heard],
) -> None:
    """`/v1/sandbox/devices/{agent}/hangup` on a device with no call of its own: its line."""
    virtual, heard = carrier
    virtual.register_device(T, VirtualDevice(agent_id="alice"))
    await virtual.execute(T, open_line(phone=None))
    await heard.until(lambda: bool(heard.lines))
    virtual.device_hang_up(T, "alice")
    assert heard.lines[-1] == ev.AgentLineClosed(
        call_id="line-1", agent_id="alice", party=ev.Party.AGENT, reason="hung_up"
    )
    assert heard.engine[-1] == ev.AgentPresenceChanged(agent_id="alice", online=True)  # device
    with pytest.raises(Conflict):
        virtual.device_hang_up(T, "alice")  # on no call, and no line any more
