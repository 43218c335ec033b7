"""Timers as commands: the engine asks for a timer, the driver fires it back as an event.

The engine never sleeps and never reads a clock. It emits `StartTimer(timer, at)` and
`CancelTimer(timer)`; the driver (virtual clock, asyncio loop, or a test) later delivers
`TimerFired(timer)`. A timer that was cancelled or replaced may still fire in a racing driver:
the engine ignores any timer it no longer holds, so cancelling is only an optimisation.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple


class TimerKind(StrEnum):
    IVR_INPUT = "ivr_input"  # no key pressed in time
    OFFER = "offer"  # the agent did not answer within the answer timeout
    MAX_WAIT = "max_wait"  # the call waited the queue's maximum
    OVERFLOW = "overflow"  # a lower-priority group opens to a waiting call
    WRAP_UP = "wrap_up"  # the agent's wrap-up time is over
    ROUTER = "router"  # the external router did not answer in time


class Timer(NamedTuple):
    """Names one timer: what it is for, whose it is (a call, an agent, a request), a serial.

    A NamedTuple rather than a frozen dataclass: timers live in sets and are hashed on every
    start, cancel and fire, and a tuple hashes in C.
    """

    kind: TimerKind
    subject: str
    serial: int = 0


_tuple_new: Final = tuple.__new__


def new_timer(kind: TimerKind, subject: str, serial: int) -> Timer:
    """`Timer(kind, subject, serial)` without the class call (see `helpline.core.commands`)."""
    return _tuple_new(Timer, (kind, subject, serial))
