"""What the RFC 3261 section 17 transaction state machines share: their inputs, their
commands, their timers, and the table-driven engine that runs a transition table.

A transaction never touches a socket or a clock. Events go in (a response arrived, the TU
sends a response, timer E fired, the transport failed); commands come out (send this message,
start timer E for 1.0 s, cancel timer F, hand this to the TU, the transaction is over). The
shell owns the sockets and the timer wheel and feeds TimerFired back when a timer expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import ClassVar, Final, TypeAlias

from helpline.core.plain import freeze_interpreted
from helpline.sip.message import Request, Response


class Timer(StrEnum):
    """RFC 3261 Table 4 (section A), and RFC 6026's L and M."""

    A = "A"  # INVITE request retransmit interval, UDP only
    B = "B"  # INVITE transaction timeout
    D = "D"  # wait time for response retransmits (client INVITE, Completed)
    E = "E"  # non-INVITE request retransmit interval, UDP only
    F = "F"  # non-INVITE transaction timeout
    G = "G"  # INVITE response retransmit interval (server, Completed)
    H = "H"  # wait time for ACK receipt
    I = "I"  # noqa: E741 - the RFC's name; wait time for ACK retransmits
    J = "J"  # wait time for non-INVITE request retransmits
    K = "K"  # wait time for response retransmits (client non-INVITE, Completed)
    L = "L"  # RFC 6026: wait time for accepted INVITE request retransmits (server)
    M = "M"  # RFC 6026: wait time for 2xx retransmits and forked 2xx (client)


@dataclass(frozen=True)
class TimerConfig:
    """T1 (RTT estimate), T2 (cap on non-INVITE retransmit interval), T4 (max time a message
    stays in the network), RFC 3261 17.1.1.1 and Table 4; configurable, these are defaults."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0  # "at least 32 seconds" on unreliable transports (17.1.1.2)


DEFAULT_TIMERS: Final = TimerConfig()


class State(StrEnum):
    INIT = "init"  # created, not started yet
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"  # RFC 6026: an INVITE transaction after a 2xx
    TERMINATED = "terminated"


class TerminationReason(StrEnum):
    NORMAL = "normal"
    TIMEOUT = "timeout"  # timer B, F or H: tell the TU (17.1.1.2, 17.1.2.2, 17.2.1)
    TRANSPORT_ERROR = "transport_error"  # 17.1.4, 17.2.4


# -- events in -------------------------------------------------------------------------


@dataclass(init=False, unsafe_hash=True)
class Start:
    """Begin: a client sends its request, a server hands its request to the TU."""


@dataclass(init=False, unsafe_hash=True)
class ResponseReceived:
    response: Final[Response]

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(init=False, unsafe_hash=True)
class RequestReceived:
    """A request matched to an existing server transaction: a retransmission or the ACK."""

    request: Final[Request]

    def __init__(self, request: Request) -> None:
        self.request = request


@dataclass(init=False, unsafe_hash=True)
class SendResponse:
    """The TU answers through a server transaction."""

    response: Final[Response]

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(init=False, unsafe_hash=True)
class TimerFired:
    timer: Final[Timer]

    def __init__(self, timer: Timer) -> None:
        self.timer = timer


@dataclass(init=False, unsafe_hash=True)
class TransportFailed:
    detail: Final[str]

    def __init__(self, detail: str = "") -> None:
        self.detail = detail


Event: TypeAlias = (
    Start | ResponseReceived | RequestReceived | SendResponse | TimerFired | TransportFailed
)

# -- commands out ----------------------------------------------------------------------


@dataclass(init=False, unsafe_hash=True)
class SendMessage:
    message: Final[Request | Response]

    def __init__(self, message: Request | Response) -> None:
        self.message = message


@dataclass(init=False, unsafe_hash=True)
class StartTimer:
    timer: Final[Timer]
    delay: Final[float]  # seconds from now

    def __init__(self, timer: Timer, delay: float) -> None:
        self.timer = timer
        self.delay = delay


@dataclass(init=False, unsafe_hash=True)
class CancelTimer:
    timer: Final[Timer]

    def __init__(self, timer: Timer) -> None:
        self.timer = timer


@dataclass(init=False, unsafe_hash=True)
class DeliverToTU:
    message: Final[Request | Response]

    def __init__(self, message: Request | Response) -> None:
        self.message = message


@dataclass(init=False, unsafe_hash=True)
class Terminated:
    reason: Final[TerminationReason]

    def __init__(self, reason: TerminationReason = TerminationReason.NORMAL) -> None:
        self.reason = reason


Command: TypeAlias = SendMessage | StartTimer | CancelTimer | DeliverToTU | Terminated

# Every step of every transaction makes these: native classes (built in C when compiled,
# `core/plain.py` says why), as read-only as the frozen dataclasses they were.
freeze_interpreted(
    Start, ResponseReceived, RequestReceived, SendResponse, TimerFired, TransportFailed,
    SendMessage, StartTimer, CancelTimer, DeliverToTU, Terminated,
)  # fmt: skip


class Input(StrEnum):
    """What a transition table is keyed on (with the state): events classified."""

    START = "start"
    PROVISIONAL = "1xx"  # a response received (client) or sent by the TU (server)
    SUCCESS = "2xx"
    FAILURE = "3xx-6xx"
    REQUEST = "request"  # retransmission of the transaction's request
    ACK = "ack"
    TRANSPORT_ERROR = "transport error"
    TIMER_A = "timer A"
    TIMER_B = "timer B"
    TIMER_D = "timer D"
    TIMER_E = "timer E"
    TIMER_F = "timer F"
    TIMER_G = "timer G"
    TIMER_H = "timer H"
    TIMER_I = "timer I"
    TIMER_J = "timer J"
    TIMER_K = "timer K"
    TIMER_L = "timer L"
    TIMER_M = "timer M"


def classify(event: Event) -> Input:
    if isinstance(event, Start):
        return Input.START
    if isinstance(event, ResponseReceived | SendResponse):
        status = event.response.status
        if status < 200:
            return Input.PROVISIONAL
        return Input.SUCCESS if status < 300 else Input.FAILURE
    if isinstance(event, RequestReceived):
        return Input.ACK if event.request.method == "ACK" else Input.REQUEST
    if isinstance(event, TimerFired):
        return Input(f"timer {event.timer}")
    return Input.TRANSPORT_ERROR


@dataclass(frozen=True)
class Transition:
    target: State
    actions: tuple[Enum, ...] = ()


TransitionTable: TypeAlias = Mapping[tuple[State, Input], Transition]


class TransactionMachine:
    """Runs a transition table; subclasses give the table and perform the actions.

    An input with no entry for the current state is absorbed (no state change, no command):
    that is how the RFC's diagrams treat, say, a 1xx in Completed. Timers are tracked so a
    late TimerFired for a cancelled timer is ignored, and entering Terminated cancels any
    timer still running, whatever the table says.
    """

    def __init__(self, table: TransitionTable, reliable: bool, timers: TimerConfig) -> None:
        self.table = table
        self.reliable = reliable
        self.timers = timers
        self.state = State.INIT
        self._running: set[Timer] = set()
        self._out: list[Command] = []
        self._immediate: list[Timer] = []

    @property
    def running_timers(self) -> frozenset[Timer]:
        return frozenset(self._running)

    # Events from the other side's vocabulary (a response given to a server transaction)
    # are the shell's mistake, not the network's: refuse them loudly.
    foreign_events: ClassVar[tuple[type, ...]] = ()

    def handle(self, event: Event) -> list[Command]:
        if isinstance(event, self.foreign_events):
            raise TypeError(f"{type(self).__name__} cannot handle {type(event).__name__}")
        if isinstance(event, TimerFired):
            if event.timer not in self._running:
                return []  # cancelled before it fired, or not ours
            self._running.discard(event.timer)
        self._out.clear()  # empty, unless a step before raised
        self._step(classify(event), event)
        while self._immediate:  # zero-length timers (D, I, J, K on reliable transports)
            fired = TimerFired(self._immediate.pop(0))
            self._step(classify(fired), fired)
        # handed over, not kept: a transaction lives on 32 s after its last step (Timers J
        # and L), and its last commands (the response, the timers) need not live with it
        out, self._out = self._out, []
        return out

    def _step(self, kind: Input, event: Event) -> None:
        transition = self.table.get((self.state, kind))
        if transition is None:
            return
        self.state = transition.target
        for action in transition.actions:
            self._perform(action, event)
        if self.state is State.TERMINATED:
            for timer in sorted(self._running):
                self._out.append(CancelTimer(timer))
            self._running.clear()

    def _perform(self, action: Enum, event: Event) -> None:
        raise NotImplementedError

    # helpers for the subclasses' actions

    def _emit(self, command: Command) -> None:
        self._out.append(command)

    def _start(self, timer: Timer, delay: float) -> None:
        if delay <= 0:
            self._immediate.append(timer)
            return
        self._running.add(timer)
        self._out.append(StartTimer(timer, delay))

    def _cancel(self, timer: Timer) -> None:
        if timer in self._running:
            self._running.discard(timer)
            self._out.append(CancelTimer(timer))
