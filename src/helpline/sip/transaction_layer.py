"""The transaction layer: which transaction a message belongs to, and the layer as one object.

Matching (RFC 3261 17.1.3, 17.2.3): a response matches the client transaction whose request
carried the same top Via branch and CSeq method (a CANCEL's responses go to the CANCEL, not to
the INVITE). A request whose branch starts with the magic cookie "z9hG4bK" matches by branch,
sent-by and method, ACK counting as INVITE so the ACK for a non-2xx reaches the INVITE's
transaction. Without the cookie (RFC 2543 peers, RFC 4475 3.2.1, 3.4.1) the fallback compares
the Request-URI, From tag, Call-ID, CSeq number and top Via; the To tag is left out of the key
because an ACK carries the tag of the response it acknowledges, which the INVITE did not have.

The layer creates transactions, matches what arrives, and passes on to the TU what matches
none: a response with no client transaction (a 2xx retransmitted after timer M, or a stray)
and an ACK with no server transaction (the ACK for a 2xx, 17.2.3). Transactions are forgotten
as soon as they say Terminated. Every call returns the transaction concerned and its commands;
the shell sends, arms timers keyed by (transaction, timer), and calls `timer_fired` back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, TypeAlias

from helpline.sip.client_transaction import ClientTransaction
from helpline.sip.message import Request, Response
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import (
    DEFAULT_TIMERS,
    Command,
    DeliverToTU,
    Event,
    RequestReceived,
    ResponseReceived,
    SendResponse,
    Start,
    State,
    Terminated,
    Timer,
    TimerConfig,
    TimerFired,
    TransportFailed,
)

MAGIC_COOKIE: Final = "z9hG4bK"

ClientKey: TypeAlias = tuple[str, str]
ServerKey: TypeAlias = tuple[str, ...]


def client_key(message: Request | Response) -> ClientKey:
    """(branch, CSeq method) of a request we send or a response we receive (17.1.3)."""
    branch = message.top_via.branch
    if not branch:
        raise ValueError("a client transaction needs a Via branch (8.1.1.7)")
    return branch, message.cseq.method


def server_key(request: Request, method: str | None = None) -> ServerKey:
    """The key a received request is matched on (17.2.3); `method` overrides the request's
    (a CANCEL looks for the INVITE it cancels under the INVITE's key, 9.2)."""
    via = request.top_via
    method = method or ("INVITE" if request.method == "ACK" else request.method)
    branch = via.branch
    if branch and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        return ("3261", branch, via.sent_by.lower(), method)
    cseq = request.cseq
    return (
        "2543",
        request.uri,
        request.from_.tag or "",
        request.call_id,
        str(cseq.number),
        method,
        str(via),
    )


class TransactionStore:
    """The live transactions of one transport layer, by key; terminated ones are dropped."""

    def __init__(self) -> None:
        self._clients: dict[ClientKey, ClientTransaction] = {}
        self._servers: dict[ServerKey, ServerTransaction] = {}

    def add_client(self, transaction: ClientTransaction) -> ClientKey:
        key = client_key(transaction.request)
        self._clients[key] = transaction
        return key

    def add_server(self, transaction: ServerTransaction) -> ServerKey:
        key = server_key(transaction.request)
        self._servers[key] = transaction
        return key

    def match_response(self, response: Response) -> ClientTransaction | None:
        try:
            return self._clients.get(client_key(response))
        except ValueError:
            return None

    def match_request(self, request: Request) -> ServerTransaction | None:
        """The server transaction a retransmission or an ACK belongs to, or None for a new
        request (or an ACK for a 2xx, which has no transaction: it goes to the TU)."""
        transaction = self._servers.get(server_key(request))
        if transaction is None or request.method != "ACK" or not transaction.is_invite:
            return transaction
        response = transaction.last_response
        if response is None or response.status < 300:
            return None  # an ACK for a 2xx is end to end (17.2.3, 13.3.1.4)
        if response.to.tag != request.to.tag:
            return None  # 2543 fallback: the ACK's To tag is that of our response
        return transaction

    def match_cancelled(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction a CANCEL is for (9.2), or None (answer 481)."""
        return self._servers.get(server_key(cancel, "INVITE"))

    def forget(self, transaction: ClientTransaction | ServerTransaction) -> None:
        if isinstance(transaction, ClientTransaction):
            self._clients.pop(client_key(transaction.request), None)
        else:
            self._servers.pop(server_key(transaction.request), None)

    def forget_terminated(self) -> int:
        """Drop transactions that reached Terminated; returns how many."""
        before = len(self._clients) + len(self._servers)
        self._clients = {k: t for k, t in self._clients.items() if t.state is not State.TERMINATED}
        self._servers = {k: t for k, t in self._servers.items() if t.state is not State.TERMINATED}
        return before - len(self._clients) - len(self._servers)

    def __iter__(self) -> Iterator[ClientTransaction | ServerTransaction]:
        yield from self._clients.values()
        yield from self._servers.values()

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)


Transaction = ClientTransaction | ServerTransaction


class TransactionLayer:
    def __init__(self, timers: TimerConfig = DEFAULT_TIMERS, *, send_trying: bool = True) -> None:
        self.timers = timers
        self.send_trying = send_trying
        self.store = TransactionStore()

    def send_request(
        self, request: Request, *, reliable: bool
    ) -> tuple[Transaction, list[Command]]:
        """Start a client transaction for `request` (its top Via needs a fresh branch)."""
        transaction = ClientTransaction(request, reliable=reliable, timers=self.timers)
        self.store.add_client(transaction)
        return transaction, self._run(transaction, Start())

    def receive_request(
        self, request: Request, *, reliable: bool
    ) -> tuple[Transaction | None, list[Command]]:
        """A request from the network: a retransmission or ACK goes to its transaction, an
        unmatched ACK to the TU, anything else starts a server transaction."""
        existing = self.store.match_request(request)
        if existing is not None:
            return existing, self._run(existing, RequestReceived(request))
        if request.method == "ACK":
            return None, [DeliverToTU(request)]
        transaction = ServerTransaction(
            request, reliable=reliable, timers=self.timers, send_trying=self.send_trying
        )
        self.store.add_server(transaction)
        return transaction, self._run(transaction, Start())

    def receive_response(self, response: Response) -> tuple[Transaction | None, list[Command]]:
        transaction = self.store.match_response(response)
        if transaction is None:
            return None, [DeliverToTU(response)]
        return transaction, self._run(transaction, ResponseReceived(response))

    def send_response(self, transaction: ServerTransaction, response: Response) -> list[Command]:
        return self._run(transaction, SendResponse(response))

    def timer_fired(self, transaction: Transaction, timer: Timer) -> list[Command]:
        return self._run(transaction, TimerFired(timer))

    def transport_failed(self, transaction: Transaction, detail: str = "") -> list[Command]:
        return self._run(transaction, TransportFailed(detail))

    def find_cancelled(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE transaction a received CANCEL targets (9.2); None means 481."""
        return self.store.match_cancelled(cancel)

    def __len__(self) -> int:
        return len(self.store)

    def _run(self, transaction: Transaction, event: Event) -> list[Command]:
        commands = transaction.handle(event)
        if any(isinstance(command, Terminated) for command in commands):
            self.store.forget(transaction)
        return commands
