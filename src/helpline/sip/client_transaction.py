"""Client transactions, RFC 3261 section 17.1, as transition tables.

INVITE (17.1.1, Figure 5): Calling retransmits on timer A (doubling, no cap) over UDP until
a response or timer B (64*T1); a 3xx-6xx final response is acknowledged by the transaction
itself (17.1.1.3) and retransmissions of it are answered with the same ACK until timer D
(>= 32 s on UDP, 0 on reliable transports). A 2xx goes to the TU, whose business its ACK is
(13.2.2.4); as RFC 6026 corrects section 17, the transaction then waits in Accepted for
timer M (64*T1), passing on retransmitted (or forked) 2xx so the TU can ACK each.

Non-INVITE (17.1.2, Figure 6): timer E retransmits, doubling up to T2 and staying at T2 once
a provisional response came; timer F (64*T1) times out; timer K (T4 on UDP, 0 on reliable)
absorbs retransmitted final responses.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Final

from helpline.sip.headers import Headers
from helpline.sip.message import Request, Response
from helpline.sip.transaction_base import (
    DEFAULT_TIMERS,
    DeliverToTU,
    Event,
    Input,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    SendResponse,
    State,
    Terminated,
    TerminationReason,
    Timer,
    TimerConfig,
    TransactionMachine,
    Transition,
    TransitionTable,
)

_TIMEOUT_AFTER_T1: Final = 64  # timers B and F: 64*T1 (RFC 3261 Table 4)


class ClientAction(Enum):
    SEND_REQUEST = auto()
    RESEND_REQUEST = auto()
    SEND_ACK = auto()  # build (first time) and send the ACK for a 3xx-6xx (17.1.1.3)
    TO_TU = auto()
    START_A = auto()
    DOUBLE_A = auto()
    CANCEL_A = auto()
    START_B = auto()
    CANCEL_B = auto()
    START_D = auto()
    START_E = auto()
    BACKOFF_E = auto()  # E = min(2E, T2) in Trying (17.1.2.2)
    E_AT_T2 = auto()  # E = T2 in Proceeding
    CANCEL_E = auto()
    START_F = auto()
    CANCEL_F = auto()
    START_K = auto()
    START_M = auto()
    TIMED_OUT = auto()
    TRANSPORT_ERROR = auto()
    DONE = auto()


C: Final = ClientAction
S: Final = State

INVITE_CLIENT_TABLE: TransitionTable = {
    (S.INIT, Input.START): Transition(S.CALLING, (C.SEND_REQUEST, C.START_A, C.START_B)),
    (S.CALLING, Input.TIMER_A): Transition(S.CALLING, (C.RESEND_REQUEST, C.DOUBLE_A)),
    (S.CALLING, Input.TIMER_B): Transition(S.TERMINATED, (C.TIMED_OUT,)),
    (S.CALLING, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (C.TRANSPORT_ERROR,)),
    (S.CALLING, Input.PROVISIONAL): Transition(S.PROCEEDING, (C.CANCEL_A, C.CANCEL_B, C.TO_TU)),
    (S.CALLING, Input.SUCCESS): Transition(
        S.ACCEPTED, (C.CANCEL_A, C.CANCEL_B, C.TO_TU, C.START_M)
    ),
    (S.CALLING, Input.FAILURE): Transition(
        S.COMPLETED, (C.CANCEL_A, C.CANCEL_B, C.SEND_ACK, C.TO_TU, C.START_D)
    ),
    (S.PROCEEDING, Input.PROVISIONAL): Transition(S.PROCEEDING, (C.TO_TU,)),
    (S.PROCEEDING, Input.SUCCESS): Transition(S.ACCEPTED, (C.TO_TU, C.START_M)),
    (S.PROCEEDING, Input.FAILURE): Transition(S.COMPLETED, (C.SEND_ACK, C.TO_TU, C.START_D)),
    (S.PROCEEDING, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (C.TRANSPORT_ERROR,)),
    (S.COMPLETED, Input.FAILURE): Transition(S.COMPLETED, (C.SEND_ACK,)),  # not to the TU
    (S.COMPLETED, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (C.TRANSPORT_ERROR,)),
    (S.COMPLETED, Input.TIMER_D): Transition(S.TERMINATED, (C.DONE,)),
    (S.ACCEPTED, Input.SUCCESS): Transition(S.ACCEPTED, (C.TO_TU,)),  # RFC 6026 7.2
    (S.ACCEPTED, Input.TIMER_M): Transition(S.TERMINATED, (C.DONE,)),
}

NON_INVITE_CLIENT_TABLE: TransitionTable = {
    (S.INIT, Input.START): Transition(S.TRYING, (C.SEND_REQUEST, C.START_E, C.START_F)),
    (S.TRYING, Input.TIMER_E): Transition(S.TRYING, (C.RESEND_REQUEST, C.BACKOFF_E)),
    (S.TRYING, Input.TIMER_F): Transition(S.TERMINATED, (C.TIMED_OUT,)),
    (S.TRYING, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (C.TRANSPORT_ERROR,)),
    (S.TRYING, Input.PROVISIONAL): Transition(S.PROCEEDING, (C.TO_TU,)),
    (S.TRYING, Input.SUCCESS): Transition(
        S.COMPLETED, (C.CANCEL_E, C.CANCEL_F, C.TO_TU, C.START_K)
    ),
    (S.TRYING, Input.FAILURE): Transition(
        S.COMPLETED, (C.CANCEL_E, C.CANCEL_F, C.TO_TU, C.START_K)
    ),
    (S.PROCEEDING, Input.TIMER_E): Transition(S.PROCEEDING, (C.RESEND_REQUEST, C.E_AT_T2)),
    (S.PROCEEDING, Input.TIMER_F): Transition(S.TERMINATED, (C.TIMED_OUT,)),
    (S.PROCEEDING, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (C.TRANSPORT_ERROR,)),
    (S.PROCEEDING, Input.PROVISIONAL): Transition(S.PROCEEDING, (C.TO_TU,)),
    (S.PROCEEDING, Input.SUCCESS): Transition(
        S.COMPLETED, (C.CANCEL_E, C.CANCEL_F, C.TO_TU, C.START_K)
    ),
    (S.PROCEEDING, Input.FAILURE): Transition(
        S.COMPLETED, (C.CANCEL_E, C.CANCEL_F, C.TO_TU, C.START_K)
    ),
    (S.COMPLETED, Input.TIMER_K): Transition(S.TERMINATED, (C.DONE,)),
}


def build_ack(request: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response (RFC 3261 17.1.1.3): the INVITE's Request-URI,
    Call-ID, From, CSeq number and Route set, its top Via only, and the response's To."""
    headers = Headers()
    headers.add("Via", request.headers.get_all("Via")[0])
    for name in ("From", "To", "Call-ID"):
        source = response if name == "To" else request
        headers.add(name, source.headers.lines(name)[0])
    headers.add("CSeq", f"{request.cseq.number} ACK")
    for value in request.headers.get_all("Route"):
        headers.add("Route", value)
    headers.add("Max-Forwards", request.headers.get("Max-Forwards") or "70")
    return Request("ACK", request.uri, headers)


def build_cancel(request: Request) -> Request:
    """The CANCEL for a pending request (RFC 3261 9.1): the same Request-URI, Call-ID, To,
    From, CSeq number and Route set, and a single Via equal to the request's top one, so that
    it matches the request's server transaction downstream. Its own client transaction is
    a non-INVITE one; send it only once a provisional response has arrived."""
    if request.method in ("ACK", "CANCEL"):
        raise ValueError(f"a {request.method} cannot be cancelled (9.1)")
    headers = Headers()
    headers.add("Via", request.headers.get_all("Via")[0])
    for name in ("From", "To", "Call-ID"):
        headers.add(name, request.headers.lines(name)[0])
    headers.add("CSeq", f"{request.cseq.number} CANCEL")
    for value in request.headers.get_all("Route"):
        headers.add("Route", value)
    headers.add("Max-Forwards", request.headers.get("Max-Forwards") or "70")
    return Request("CANCEL", request.uri, headers)


class ClientTransaction(TransactionMachine):
    """One client transaction; `reliable` is true over TCP/TLS (no retransmissions)."""

    foreign_events = (RequestReceived, SendResponse)

    def __init__(
        self, request: Request, *, reliable: bool, timers: TimerConfig = DEFAULT_TIMERS
    ) -> None:
        if request.method == "ACK":
            raise ValueError("an ACK never creates a client transaction (17.1)")
        self.is_invite = request.method == "INVITE"
        table = INVITE_CLIENT_TABLE if self.is_invite else NON_INVITE_CLIENT_TABLE
        super().__init__(table, reliable, timers)
        self.request = request
        self.ack: Request | None = None
        self._interval = timers.t1  # the current A or E interval

    def _perform(self, action: Enum, event: Event) -> None:
        t = self.timers
        if action is C.SEND_REQUEST or action is C.RESEND_REQUEST:
            self._emit(SendMessage(self.request))
        elif action is C.SEND_ACK:
            assert isinstance(event, ResponseReceived)
            if self.ack is None:
                self.ack = build_ack(self.request, event.response)
            self._emit(SendMessage(self.ack))
        elif action is C.TO_TU:
            assert isinstance(event, ResponseReceived)
            self._emit(DeliverToTU(event.response))
        elif action is C.START_A or action is C.START_E:
            if not self.reliable:  # retransmissions only over unreliable transports
                self._start(Timer.A if action is C.START_A else Timer.E, self._interval)
        elif action is C.DOUBLE_A:
            self._interval *= 2
            self._start(Timer.A, self._interval)
        elif action is C.BACKOFF_E:
            self._interval = min(2 * self._interval, t.t2)
            self._start(Timer.E, self._interval)
        elif action is C.E_AT_T2:
            self._interval = t.t2
            self._start(Timer.E, self._interval)
        elif action is C.START_B or action is C.START_F:
            self._start(Timer.B if action is C.START_B else Timer.F, _TIMEOUT_AFTER_T1 * t.t1)
        elif action is C.START_D:
            self._start(Timer.D, 0.0 if self.reliable else t.timer_d)
        elif action is C.START_M:
            self._start(Timer.M, _TIMEOUT_AFTER_T1 * t.t1)
        elif action is C.START_K:
            self._start(Timer.K, 0.0 if self.reliable else t.t4)
        elif action in _CANCELS:
            self._cancel(_CANCELS[action])
        elif action is C.TIMED_OUT:
            self._emit(Terminated(TerminationReason.TIMEOUT))
        elif action is C.TRANSPORT_ERROR:
            self._emit(Terminated(TerminationReason.TRANSPORT_ERROR))
        elif action is C.DONE:
            self._emit(Terminated(TerminationReason.NORMAL))
        else:  # pragma: no cover - every action is handled above
            raise AssertionError(action)


_CANCELS: Final = {
    C.CANCEL_A: Timer.A,
    C.CANCEL_B: Timer.B,
    C.CANCEL_E: Timer.E,
    C.CANCEL_F: Timer.F,
}
