"""Timers as commands: the engine asks for a timer, the driver fires it back as an event.

The engine never sleeps and never reads a clock. It emits `StartTimer(timer, at)` and
`CancelTimer(timer)`; the driver (virtual clock, asyncio loop, or a test) later delivers
`TimerFired(timer)`. A timer that was cancelled or replaced may still fire in a racing driver:
the engine ignores any timer it no longer holds, so cancelling is only an optimisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from helpline.core.plain import freeze_interpreted


class TimerKind(StrEnum):
    IVR_INPUT = "ivr_input"  # no key pressed in time
    OFFER = "offer"  # the agent did not answer within the answer timeout
    MAX_WAIT = "max_wait"  # the call waited the queue's maximum
    OVERFLOW = "overflow"  # a lower-priority group opens to a waiting call
    WRAP_UP = "wrap_up"  # the agent's wrap-up time is over
    ROUTER = "router"  # the external router did not answer in time


@dataclass(init=False)
class Timer:
    """Names one timer: what it is for, whose it is (a call, an agent, a request), a serial.

    Timers live in sets and are hashed on every start, cancel and fire: `__hash__` and
    `__eq__` are the class's own, compiled with it, where a dataclass's would run as Python.
    Read-only and fast to build: see `plain.freeze_interpreted`.
    """

    kind: Final[TimerKind]
    subject: Final[str]
    serial: Final[int]

    def __init__(self, kind: TimerKind, subject: str, serial: int = 0) -> None:
        self.kind = kind
        self.subject = subject
        self.serial = serial

    def __hash__(self) -> int:
        return hash((self.kind, self.subject, self.serial))

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Timer
            and self.serial == other.serial
            and self.subject == other.subject
            and self.kind == other.kind
        )


freeze_interpreted(Timer)
