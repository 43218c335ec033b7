"""The shell around the sans-I/O transaction layer: real sockets, real timers.

Every message is first put to the abuse limits (issue 7 point 5: a dropped source gets no
answer at all), then: a malformed request is answered with the status its `SipParseError`
carries when a Via can be read to answer to (RFC 3261 8.2.6.2, 18.2.2), and is dropped
otherwise, as is a malformed response (18.1.2); a request gets `received`/`rport` (18.2.1,
RFC 3581) and goes to the transaction layer, which passes new requests and unmatched ACKs
and responses to the TU (`UserAgent`). Transaction timers are keyed by (transaction, timer):
the retransmission timers (A, E, G) and any shorter than a second are `loop.call_later`
handles, the rest (timeouts and the waits for retransmissions, most of them cancelled or
firing only to forget) entries of a `TimerWheel`, up to 100 ms late; UDP retransmissions
are the transactions' own `SendMessage`s.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Protocol

from helpline.sip.errors import REASON_PHRASES, SipParseError
from helpline.sip.fields import parse_via
from helpline.sip.headers import Headers
from helpline.sip.limits import AbuseLimits, Drop
from helpline.sip.message import Request, Response
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import (
    CancelTimer,
    Command,
    DeliverToTU,
    SendMessage,
    StartTimer,
    Terminated,
    TerminationReason,
    Timer,
)
from helpline.sip.transaction_layer import Transaction, TransactionLayer
from helpline.sip.via_rules import response_destination, stamp_received
from helpline.telephony.sip.stream_limits import StreamPolicy
from helpline.telephony.sip.timer_wheel import TimerWheel
from helpline.telephony.sip.transport import Source, Transports

log = logging.getLogger("helpline.sip")
REASON_DETAIL_MAX = 80
# On the loop's own timers: what sends on time (RFC 3261 17.1.1.2, 17.1.2.2, 17.2.1)
_RETRANSMISSION_TIMERS = frozenset({Timer.A, Timer.E, Timer.G})
_WHEEL_FROM_S = 1.0  # shorter ones too: a slot's lateness would matter to them (tests' T1s)
_EXPIRES_PARAM = re.compile(r";\s*expires\s*=\s*(\d{1,10})", re.IGNORECASE)


def registered_for(response: Response) -> float:
    """How long a 2xx to a REGISTER keeps the phone registered: the longest `expires` its
    Contacts list (RFC 3261 10.3 step 8 gives each binding's); 0 for none."""
    if not 200 <= response.status < 300 or response.cseq.method != "REGISTER":
        return 0.0
    # the header field's parameters only: after the `>`, not the URI's own (20.10)
    found = [int(m[1]) for value in response.headers.lines("Contact")
             for m in _EXPIRES_PARAM.finditer(value.rpartition(">")[2])]  # fmt: skip
    return float(max(found, default=0))


class UserAgent(Protocol):
    """The transaction user: what the stack hands up."""

    def on_request(self, transaction: ServerTransaction | None, request: Request) -> None:
        """A new request (transaction None: an ACK for a 2xx, RFC 3261 17.2.3)."""

    def on_response(self, transaction: Transaction | None, response: Response) -> None:
        """A response to a request we sent (transaction None: a retransmitted 2xx)."""

    def on_failure(self, transaction: Transaction, reason: TerminationReason) -> None:
        """A client transaction timed out or its transport failed (17.1.1.2, 17.1.4)."""


def _explained(error: SipParseError) -> str:
    """The reason phrase with what was wrong (`Bad Request (bad Max-Forwards 'x')`), so the
    peer's log names the field: printable ASCII only and cut short, since the problem may
    quote the peer's own bytes (a reason phrase is one line, RFC 3261 25.1)."""
    phrase = error.reason or REASON_PHRASES.get(error.status, "Bad Request")
    problem = "".join(c for c in error.message if " " <= c <= "~")[:REASON_DETAIL_MAX]
    return f"{phrase} ({problem})" if problem else phrase


class SipStack:
    def __init__(
        self,
        limits: AbuseLimits,
        *,
        clock: Callable[[], float] = time.time,
        layer: TransactionLayer | None = None,
        stream_policy: StreamPolicy | None = None,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.layer = layer if layer is not None else TransactionLayer()  # an empty one is falsy
        self.transports = Transports(self.receive, stream_policy)
        self.user_agent: UserAgent | None = None
        self._timers: dict[tuple[int, Timer], asyncio.TimerHandle] = {}
        self._wheel: TimerWheel[tuple[int, Timer], Transaction] = TimerWheel()
        self._slot_handles: dict[int, asyncio.TimerHandle] = {}
        self._sources: dict[int, Source] = {}  # transaction -> where its requests go/came from
        self.dropped = 0
        self.malformed = 0

    # -- receiving -------------------------------------------------------------------------

    def receive(self, item: Request | Response | SipParseError, source: Source) -> None:
        headers = item.headers
        user_agent = headers.get("User-Agent") if headers is not None else None
        if isinstance(self.limits.admit(source.host, user_agent, self.clock()), Drop):
            self.dropped += 1
            return
        if isinstance(item, SipParseError):
            self.malformed += 1
            self._answer_malformed(item, source)
        elif isinstance(item, Request):
            request = stamp_received(item, source.host, source.port)
            transaction, commands = self.layer.receive_request(request, reliable=source.reliable)
            if transaction is not None:
                self._sources.setdefault(id(transaction), source)
            self._run(transaction, commands)
        else:
            transaction, commands = self.layer.receive_response(item)
            self._run(transaction, commands)

    def _answer_malformed(self, error: SipParseError, source: Source) -> None:
        """The error's status, with what header fields could be read (8.2.6.2); no Via that
        parses, or a malformed response: nothing to answer (dropped)."""
        headers = error.headers
        if error.is_response or headers is None or not headers.lines("Via"):
            return
        try:
            parse_via(headers.lines("Via")[0])
        except SipParseError:
            return
        reply = Headers()
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            for value in headers.lines(name):
                reply.add(name, value)
        reply.add("Content-Length", "0")
        reason = _explained(error)
        response = Response(error.status, reason, reply)
        # to the packet's source, not the unverified Via: no reflection to a third party
        self.transports.send(response.serialize(), source.transport, (source.host, source.port))

    # -- sending ---------------------------------------------------------------------------

    def send_request(self, request: Request, destination: Source) -> Transaction:
        """Start a client transaction sending `request` to `destination`."""
        transaction, commands = self.layer.send_request(request, reliable=destination.reliable)
        self._sources[id(transaction)] = destination
        self._run(transaction, commands)
        return transaction

    def respond(self, transaction: ServerTransaction, response: Response) -> None:
        if transaction.state.value == "terminated":
            return
        self._run(transaction, self.layer.send_response(transaction, response))

    def send_stateless(self, message: Request | Response, destination: Source) -> None:
        """A message outside any transaction: the ACK for a 2xx, a 2xx retransmission."""
        self.transports.send(
            message.serialize(), destination.transport, (destination.host, destination.port)
        )

    def _send(self, transaction: Transaction | None, message: Request | Response) -> None:
        data = message.serialize()
        if isinstance(message, Response):
            source = self._sources.get(id(transaction)) if transaction is not None else None
            if source is not None and source.reliable:  # back on the request's connection
                self.transports.send(data, source.transport, (source.host, source.port))
                if message.cseq.method == "REGISTER" and 200 <= message.status < 300:
                    # the phone's flow, kept while it is registered (RFC 5626 5.3)
                    self.transports.keep_flow(source, registered_for(message))
                return
            where = response_destination(message)
            self.transports.send(data, where.transport, (where.host, where.port))
            return
        destination = self._sources.get(id(transaction)) if transaction is not None else None
        if destination is None or transaction is None:
            log.warning("SIP: a request with nowhere to go: %s", message.start_line)
            return
        address = (destination.host, destination.port)
        if not destination.reliable:  # UDP: a lost datagram is the timers' business
            self.transports.send(data, "UDP", address)
            return

        def failed(detail: str) -> None:  # no connection: the transaction fails now (17.1.4)
            self._transport_failed(transaction, detail)

        self.transports.send(data, destination.transport, address, failed)

    # -- the transaction layer's commands ----------------------------------------------------

    def _run(self, transaction: Transaction | None, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, SendMessage):
                self._send(transaction, command.message)
            elif isinstance(command, StartTimer) and transaction is not None:
                self._start_timer(transaction, command.timer, command.delay)
            elif isinstance(command, CancelTimer) and transaction is not None:
                self._cancel_timer((id(transaction), command.timer))
            elif isinstance(command, DeliverToTU):
                self._deliver(transaction, command.message)
            elif isinstance(command, Terminated) and transaction is not None:
                self._terminated(transaction, command.reason)

    def _deliver(self, transaction: Transaction | None, message: Request | Response) -> None:
        if self.user_agent is None:
            return
        if isinstance(message, Request):
            server = transaction if isinstance(transaction, ServerTransaction) else None
            self.user_agent.on_request(server, message)
        else:
            self.user_agent.on_response(transaction, message)

    def _start_timer(self, transaction: Transaction, timer: Timer, delay: float) -> None:
        key = (id(transaction), timer)
        self._cancel_timer(key)
        loop = asyncio.get_running_loop()
        if timer in _RETRANSMISSION_TIMERS or delay < _WHEEL_FROM_S:
            self._timers[key] = loop.call_later(delay, self._fire, transaction, timer)
            return
        slot = self._wheel.add(key, transaction, loop.time() + delay)
        if slot is not None and slot not in self._slot_handles:
            due = self._wheel.slot_time(slot)
            self._slot_handles[slot] = loop.call_at(due, self._fire_slot, slot)

    def _cancel_timer(self, key: tuple[int, Timer]) -> None:
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()
        else:
            self._wheel.cancel(key)  # a slot left empty keeps its loop timer: it finds nothing

    def _terminated(self, transaction: Transaction, reason: TerminationReason) -> None:
        for timer in list(Timer):
            self._cancel_timer((id(transaction), timer))
        self._sources.pop(id(transaction), None)
        if reason is not TerminationReason.NORMAL and self.user_agent is not None:
            self.user_agent.on_failure(transaction, reason)

    def _transport_failed(self, transaction: Transaction, detail: str) -> None:
        if transaction.state.value == "terminated":
            return
        try:
            self._run(transaction, self.layer.transport_failed(transaction, detail))
        except Exception:
            log.exception("SIP: reporting a transport failure failed")

    def _fire_slot(self, slot: int) -> None:
        self._slot_handles.pop(slot, None)
        for (_, timer), transaction in self._wheel.pop_slot(slot).items():
            self._timer_fired(transaction, timer)

    def _fire(self, transaction: Transaction, timer: Timer) -> None:
        if self._timers.pop((id(transaction), timer), None) is None:
            return
        self._timer_fired(transaction, timer)

    def _timer_fired(self, transaction: Transaction, timer: Timer) -> None:
        try:
            self._run(transaction, self.layer.timer_fired(transaction, timer))
        except Exception:
            log.exception("SIP: timer %s failed", timer)

    async def close(self) -> None:
        """Stop the transactions' timers and close the sockets."""
        for handle in (*self._timers.values(), *self._slot_handles.values()):
            handle.cancel()
        self._timers.clear()
        self._slot_handles.clear()
        self._wheel.clear()
        await self.transports.stop()

    def source_of(self, transaction: Transaction) -> Source | None:
        return self._sources.get(id(transaction))

    @property
    def pending_timers(self) -> int:
        return len(self._timers) + len(self._wheel)
