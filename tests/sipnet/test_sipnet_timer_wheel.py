"""Transaction timers seconds away on a wheel of 100 ms slots (telephony/sip/timer_wheel.py):
the wheel's bookkeeping, and a client transaction's Timer F running out through the stack."""

from __future__ import annotations

import asyncio

import pytest
from sipnet_support import options_request

from helpline.sip.limits import AbuseLimits, LimitsPolicy
from helpline.sip.message import Request, Response, parse_message
from helpline.sip.transaction_base import TerminationReason, TimerConfig
from helpline.sip.transaction_layer import Transaction, TransactionLayer
from helpline.telephony.sip.stack import SipStack
from helpline.telephony.sip.timer_wheel import TimerWheel
from helpline.telephony.sip.transport import Source


def test_keys_land_in_the_slot_that_ends_at_or_after_their_time() -> None:
    wheel: TimerWheel[str, int] = TimerWheel(resolution=0.1)
    assert wheel.add("a", 1, due=10.02) == 101  # new slot: the caller schedules it
    assert wheel.add("b", 2, due=10.05) is None  # same slot, already scheduled
    assert wheel.slot_time(101) == pytest.approx(10.1)  # never early, at most a slot late
    assert wheel.add("c", 3, due=10.3) == 103
    assert len(wheel) == 3 and "b" in wheel
    assert wheel.pop_slot(101) == {"a": 1, "b": 2}
    assert wheel.pop_slot(101) == {} and len(wheel) == 1 and "a" not in wheel


def test_cancel_and_move() -> None:
    wheel: TimerWheel[str, int] = TimerWheel(resolution=0.1)
    wheel.add("a", 1, due=5.0)
    assert wheel.cancel("a") == 1
    assert wheel.cancel("a") is None and len(wheel) == 0
    assert wheel.pop_slot(50) == {}  # the emptied slot's loop timer finds nothing
    wheel.add("b", 2, due=5.0)
    wheel.add("b", 3, due=7.0)  # started again: moved, not doubled
    assert wheel.pop_slot(50) == {} and wheel.pop_slot(70) == {"b": 3}


def test_resolution_must_be_positive() -> None:
    with pytest.raises(ValueError, match="resolution"):
        TimerWheel(resolution=0)


class _Failures:
    def __init__(self) -> None:
        self.failed: list[tuple[float, TerminationReason]] = []

    def on_request(self, transaction: object, request: Request) -> None:
        pass

    def on_response(self, transaction: Transaction | None, response: Response) -> None:
        pass

    def on_failure(self, transaction: Transaction, reason: TerminationReason) -> None:
        self.failed.append((asyncio.get_running_loop().time(), reason))


async def test_timer_f_on_the_wheel_times_the_transaction_out() -> None:
    # T1 of 20 ms: Timer E's retransmissions on the loop's timers, Timer F (64*T1 = 1.28 s)
    # on the wheel; nobody answers (no socket is even open), so F ends the transaction
    layer = TransactionLayer(TimerConfig(t1=0.02, t2=0.16))
    stack = SipStack(AbuseLimits(LimitsPolicy(trusted=("127.0.0.0/8",))), layer=layer)
    agent = _Failures()
    stack.user_agent = agent
    request = parse_message(options_request(5999))
    assert isinstance(request, Request)
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    stack.send_request(request, Source("UDP", "127.0.0.1", 5999))
    assert len(stack._wheel) == 1  # F; E is a loop timer
    await asyncio.sleep(1.2)
    assert agent.failed == []  # not early
    for _ in range(100):
        if agent.failed:
            break
        await asyncio.sleep(0.02)
    assert [reason for _, reason in agent.failed] == [TerminationReason.TIMEOUT]
    late = agent.failed[0][0] - sent_at - 64 * 0.02
    assert 0 <= late < 0.5  # a slot (0.1 s) plus the loop's own scheduling
    assert stack.pending_timers == 0
    await stack.close()
