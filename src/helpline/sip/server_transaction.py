"""Server transactions, RFC 3261 section 17.2, as transition tables.

INVITE (17.2.1, Figure 7): a 100 Trying goes back at once (unless the TU promised to answer
within 200 ms), before the request goes to the TU; a retransmitted INVITE gets the latest
provisional response again; a 3xx-6xx is retransmitted on timer G (doubling to T2) over UDP
until the ACK (then Confirmed, absorbing ACKs for timer I) or timer H gives up. After a 2xx
(which the TU retransmits until the ACK, 13.3.1.4) the transaction waits in RFC 6026's
Accepted state for timer L (64*T1), so a retransmitted INVITE is absorbed instead of reaching
the TU as a new call, and the TU's 2xx retransmissions still go out through it.

Non-INVITE (17.2.2, Figure 8): retransmitted requests are absorbed in Trying and answered
with the last response after that; the final response is kept for timer J (64*T1 on UDP).
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Final

from helpline.sip.message import Request, Response, make_response
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


class ServerAction(Enum):
    REQUEST_TO_TU = auto()
    SEND_TRYING = auto()  # 17.2.1: the transaction's own 100 (if configured)
    SEND = auto()  # send the TU's response and remember it as the last one
    RESEND_LAST = auto()
    START_G = auto()
    BACKOFF_G = auto()
    CANCEL_G = auto()
    START_H = auto()
    CANCEL_H = auto()
    START_I = auto()
    START_J = auto()
    START_L = auto()
    ACK_TO_TU = auto()
    TIMED_OUT = auto()
    TRANSPORT_ERROR = auto()
    DONE = auto()


A: Final = ServerAction
S: Final = State

INVITE_SERVER_TABLE: TransitionTable = {
    (S.INIT, Input.START): Transition(S.PROCEEDING, (A.SEND_TRYING, A.REQUEST_TO_TU)),
    (S.PROCEEDING, Input.REQUEST): Transition(S.PROCEEDING, (A.RESEND_LAST,)),
    (S.PROCEEDING, Input.PROVISIONAL): Transition(S.PROCEEDING, (A.SEND,)),
    (S.PROCEEDING, Input.SUCCESS): Transition(S.ACCEPTED, (A.SEND, A.START_L)),
    (S.PROCEEDING, Input.FAILURE): Transition(S.COMPLETED, (A.SEND, A.START_G, A.START_H)),
    (S.PROCEEDING, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (A.TRANSPORT_ERROR,)),
    (S.COMPLETED, Input.REQUEST): Transition(S.COMPLETED, (A.RESEND_LAST,)),
    (S.COMPLETED, Input.TIMER_G): Transition(S.COMPLETED, (A.RESEND_LAST, A.BACKOFF_G)),
    (S.COMPLETED, Input.ACK): Transition(S.CONFIRMED, (A.CANCEL_G, A.CANCEL_H, A.START_I)),
    (S.COMPLETED, Input.TIMER_H): Transition(S.TERMINATED, (A.TIMED_OUT,)),
    (S.COMPLETED, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (A.TRANSPORT_ERROR,)),
    # Confirmed absorbs further ACKs and INVITE retransmissions (no entry = no action)
    (S.CONFIRMED, Input.TIMER_I): Transition(S.TERMINATED, (A.DONE,)),
    # RFC 6026 8.7: Accepted absorbs INVITE retransmissions (no entry)
    (S.ACCEPTED, Input.SUCCESS): Transition(S.ACCEPTED, (A.SEND,)),
    (S.ACCEPTED, Input.ACK): Transition(S.ACCEPTED, (A.ACK_TO_TU,)),
    (S.ACCEPTED, Input.TIMER_L): Transition(S.TERMINATED, (A.DONE,)),
}

NON_INVITE_SERVER_TABLE: TransitionTable = {
    (S.INIT, Input.START): Transition(S.TRYING, (A.REQUEST_TO_TU,)),
    # Trying: a retransmitted request is discarded (no entry)
    (S.TRYING, Input.PROVISIONAL): Transition(S.PROCEEDING, (A.SEND,)),
    (S.TRYING, Input.SUCCESS): Transition(S.COMPLETED, (A.SEND, A.START_J)),
    (S.TRYING, Input.FAILURE): Transition(S.COMPLETED, (A.SEND, A.START_J)),
    (S.PROCEEDING, Input.PROVISIONAL): Transition(S.PROCEEDING, (A.SEND,)),
    (S.PROCEEDING, Input.SUCCESS): Transition(S.COMPLETED, (A.SEND, A.START_J)),
    (S.PROCEEDING, Input.FAILURE): Transition(S.COMPLETED, (A.SEND, A.START_J)),
    (S.PROCEEDING, Input.REQUEST): Transition(S.PROCEEDING, (A.RESEND_LAST,)),
    (S.PROCEEDING, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (A.TRANSPORT_ERROR,)),
    (S.COMPLETED, Input.REQUEST): Transition(S.COMPLETED, (A.RESEND_LAST,)),
    (S.COMPLETED, Input.TRANSPORT_ERROR): Transition(S.TERMINATED, (A.TRANSPORT_ERROR,)),
    (S.COMPLETED, Input.TIMER_J): Transition(S.TERMINATED, (A.DONE,)),
}


class ServerTransaction(TransactionMachine):
    """One server transaction for `request` (never an ACK: that matches the INVITE's).

    `send_trying=False` leaves the 100 to the TU, for a TU that answers within 200 ms.
    """

    foreign_events = (ResponseReceived,)

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        timers: TimerConfig = DEFAULT_TIMERS,
        send_trying: bool = True,
    ) -> None:
        if request.method == "ACK":
            raise ValueError("an ACK never creates a server transaction (17.2.3)")
        self.is_invite = request.method == "INVITE"
        table = INVITE_SERVER_TABLE if self.is_invite else NON_INVITE_SERVER_TABLE
        super().__init__(table, reliable, timers)
        self.request = request
        self.send_trying = send_trying
        self.last_response: Response | None = None
        self._g_interval = timers.t1

    def _perform(self, action: Enum, event: Event) -> None:
        t = self.timers
        if action is A.REQUEST_TO_TU:
            self._emit(DeliverToTU(self.request))
        elif action is A.SEND_TRYING:
            if self.send_trying:
                self.last_response = make_response(self.request, 100)
                self._emit(SendMessage(self.last_response))
        elif action is A.SEND:
            assert isinstance(event, SendResponse)
            self.last_response = event.response
            self._emit(SendMessage(event.response))
        elif action is A.RESEND_LAST:
            if self.last_response is not None:
                self._emit(SendMessage(self.last_response))
        elif action is A.START_G:
            if not self.reliable:
                self._start(Timer.G, self._g_interval)
        elif action is A.BACKOFF_G:
            self._g_interval = min(2 * self._g_interval, t.t2)
            self._start(Timer.G, self._g_interval)
        elif action is A.START_H:
            self._start(Timer.H, 64 * t.t1)
        elif action is A.START_I:
            self._start(Timer.I, 0.0 if self.reliable else t.t4)
        elif action is A.START_J:
            self._start(Timer.J, 0.0 if self.reliable else 64 * t.t1)
        elif action is A.START_L:
            self._start(Timer.L, 64 * t.t1)
        elif action is A.ACK_TO_TU:
            assert isinstance(event, RequestReceived)
            self._emit(DeliverToTU(event.request))
        elif action is A.CANCEL_G:
            self._cancel(Timer.G)
        elif action is A.CANCEL_H:
            self._cancel(Timer.H)
        elif action is A.TIMED_OUT:
            self._emit(Terminated(TerminationReason.TIMEOUT))
        elif action is A.TRANSPORT_ERROR:
            self._emit(Terminated(TerminationReason.TRANSPORT_ERROR))
        elif action is A.DONE:
            self._emit(Terminated(TerminationReason.NORMAL))
        else:  # pragma: no cover - every action is handled above
            raise AssertionError(action)
