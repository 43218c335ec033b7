"""RFC 3261 section 17 client transactions, table-driven: each row is a run of events, and
for each event the commands that must come out and the state that must follow, written from
the RFC's figures 5 and 6 and Table 4 (T1 = 0.5 s, T2 = 4 s, T4 = 5 s, so 64*T1 = 32 s), and
RFC 6026's Accepted state for the INVITE client transaction.
A test checks that the rows, together, take every transition of both tables. The helpers
here serve test_sip_server_transactions.py too (figures 7 and 8).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpline.sip.client_transaction import (
    INVITE_CLIENT_TABLE,
    NON_INVITE_CLIENT_TABLE,
    ClientTransaction,
    build_cancel,
)
from helpline.sip.headers import Headers
from helpline.sip.message import Request, make_response
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import (
    CancelTimer,
    Command,
    DeliverToTU,
    Event,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    SendResponse,
    Start,
    StartTimer,
    State,
    Terminated,
    Timer,
    TimerConfig,
    TimerFired,
    TransactionMachine,
    TransportFailed,
    classify,
)

Machine = ClientTransaction | ServerTransaction


def make_request(method: str) -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP client.example.com:5060;branch=z9hG4bKtx1"),
            ("Max-Forwards", "70"),
            ("From", "<sip:alice@example.com>;tag=a1"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "call-1@client.example.com"),
            ("CSeq", f"7 {method}"),
            ("Route", "<sip:proxy.example.com;lr>"),
        ]
    )
    return Request(method, "sip:bob@example.com", headers)


def ack_for(request: Request) -> Request:
    headers = request.headers.copy()
    headers.set("To", "<sip:bob@example.com>;tag=srv")
    headers.set("CSeq", f"{request.cseq.number} ACK")
    return Request("ACK", request.uri, headers)


def event(code: str, machine: Machine) -> Event:
    """start | A..K (timer fired) | rNNN (response received) | tNNN (TU sends a response) |
    req (request retransmitted) | ack | err (transport error)"""
    request = machine.request
    if code == "start":
        return Start()
    if code in Timer.__members__:
        return TimerFired(Timer(code))
    if code[0] in "rt" and code[1:].isdigit():
        response = make_response(
            request, int(code[1:]), to_tag=None if code[1:] == "100" else "srv"
        )
        return ResponseReceived(response) if code[0] == "r" else SendResponse(response)
    if code == "req":
        return RequestReceived(request)
    if code == "ack":
        return RequestReceived(ack_for(request))
    assert code == "err"
    return TransportFailed("connection refused")


def summary(commands: list[Command]) -> list[str]:
    out = []
    for command in commands:
        if isinstance(command, SendMessage | DeliverToTU):
            message = command.message
            what = message.method if isinstance(message, Request) else str(message.status)
            out.append(f"{'send' if isinstance(command, SendMessage) else 'tu'} {what}")
        elif isinstance(command, StartTimer):
            out.append(f"start {command.timer} {command.delay:g}")
        elif isinstance(command, CancelTimer):
            out.append(f"cancel {command.timer}")
        else:
            assert isinstance(command, Terminated)
            out.append(f"end {command.reason}")
    return out


def client(method: str, reliable: bool = False) -> Callable[[], Machine]:
    return lambda: ClientTransaction(make_request(method), reliable=reliable)


def server(method: str, reliable: bool = False, trying: bool = True) -> Callable[[], Machine]:
    return lambda: ServerTransaction(make_request(method), reliable=reliable, send_trying=trying)


Step = tuple[str, list[str], State]
S = State

SCENARIOS: dict[str, tuple[Callable[[], Machine], list[Step]]] = {
    # -- client INVITE (17.1.1) -------------------------------------------------------
    "ict: A doubles without cap, B times out": (
        client("INVITE"),
        [
            ("start", ["send INVITE", "start A 0.5", "start B 32"], S.CALLING),
            ("A", ["send INVITE", "start A 1"], S.CALLING),
            ("A", ["send INVITE", "start A 2"], S.CALLING),
            ("A", ["send INVITE", "start A 4"], S.CALLING),
            ("A", ["send INVITE", "start A 8"], S.CALLING),
            ("B", ["end timeout", "cancel A"], S.TERMINATED),
            ("r200", [], S.TERMINATED),
        ],
    ),
    "ict: provisional, then failure acked by the transaction": (
        client("INVITE"),
        [
            ("start", ["send INVITE", "start A 0.5", "start B 32"], S.CALLING),
            ("r100", ["cancel A", "cancel B", "tu 100"], S.PROCEEDING),
            ("A", [], S.PROCEEDING),  # a timer cancelled before it fired is ignored
            ("r180", ["tu 180"], S.PROCEEDING),
            ("r486", ["send ACK", "tu 486", "start D 32"], S.COMPLETED),
            ("r486", ["send ACK"], S.COMPLETED),  # retransmission: ACK again, TU not told
            ("r180", [], S.COMPLETED),
            ("D", ["end normal"], S.TERMINATED),
        ],
    ),
    "ict: failure straight from Calling": (
        client("INVITE"),
        [
            ("start", ["send INVITE", "start A 0.5", "start B 32"], S.CALLING),
            ("r503", ["cancel A", "cancel B", "send ACK", "tu 503", "start D 32"], S.COMPLETED),
            ("err", ["end transport_error", "cancel D"], S.TERMINATED),
        ],
    ),
    "ict: 2xx in Calling, Accepted passes 2xx on until M (RFC 6026)": (
        client("INVITE"),
        [
            ("start", ["send INVITE", "start A 0.5", "start B 32"], S.CALLING),
            ("r200", ["cancel A", "cancel B", "tu 200", "start M 32"], S.ACCEPTED),
            ("r200", ["tu 200"], S.ACCEPTED),  # retransmitted or forked: the TU ACKs it
            ("r486", [], S.ACCEPTED),
            ("M", ["end normal"], S.TERMINATED),
        ],
    ),
    "ict: 2xx in Proceeding": (
        client("INVITE"),
        [
            ("start", ["send INVITE", "start A 0.5", "start B 32"], S.CALLING),
            ("r183", ["cancel A", "cancel B", "tu 183"], S.PROCEEDING),
            ("r200", ["tu 200", "start M 32"], S.ACCEPTED),
        ],
    ),
    "ict: transport errors": (
        client("INVITE"),
        [
            ("start", ["send INVITE", "start A 0.5", "start B 32"], S.CALLING),
            ("err", ["end transport_error", "cancel A", "cancel B"], S.TERMINATED),
        ],
    ),
    "ict: transport error in Proceeding": (
        client("INVITE"),
        [
            ("start", ["send INVITE", "start A 0.5", "start B 32"], S.CALLING),
            ("r180", ["cancel A", "cancel B", "tu 180"], S.PROCEEDING),
            ("err", ["end transport_error"], S.TERMINATED),
        ],
    ),
    "ict over TCP: no A, D is zero": (
        client("INVITE", reliable=True),
        [
            ("start", ["send INVITE", "start B 32"], S.CALLING),
            ("r486", ["cancel B", "send ACK", "tu 486", "end normal"], S.TERMINATED),
        ],
    ),
    # -- client non-INVITE (17.1.2) ---------------------------------------------------
    "nict: E doubles up to T2, F times out": (
        client("OPTIONS"),
        [
            ("start", ["send OPTIONS", "start E 0.5", "start F 32"], S.TRYING),
            ("E", ["send OPTIONS", "start E 1"], S.TRYING),
            ("E", ["send OPTIONS", "start E 2"], S.TRYING),
            ("E", ["send OPTIONS", "start E 4"], S.TRYING),
            ("E", ["send OPTIONS", "start E 4"], S.TRYING),
            ("F", ["end timeout", "cancel E"], S.TERMINATED),
        ],
    ),
    "nict: provisional moves E to T2, final starts K": (
        client("OPTIONS"),
        [
            ("start", ["send OPTIONS", "start E 0.5", "start F 32"], S.TRYING),
            ("r100", ["tu 100"], S.PROCEEDING),
            ("E", ["send OPTIONS", "start E 4"], S.PROCEEDING),
            ("r180", ["tu 180"], S.PROCEEDING),
            ("r200", ["cancel E", "cancel F", "tu 200", "start K 5"], S.COMPLETED),
            ("r200", [], S.COMPLETED),
            ("K", ["end normal"], S.TERMINATED),
        ],
    ),
    "nict: final from Trying": (
        client("REGISTER"),
        [
            ("start", ["send REGISTER", "start E 0.5", "start F 32"], S.TRYING),
            ("r401", ["cancel E", "cancel F", "tu 401", "start K 5"], S.COMPLETED),
        ],
    ),
    "nict: 2xx from Trying": (
        client("BYE"),
        [
            ("start", ["send BYE", "start E 0.5", "start F 32"], S.TRYING),
            ("r200", ["cancel E", "cancel F", "tu 200", "start K 5"], S.COMPLETED),
        ],
    ),
    "nict: failure from Proceeding": (
        client("OPTIONS"),
        [
            ("start", ["send OPTIONS", "start E 0.5", "start F 32"], S.TRYING),
            ("r100", ["tu 100"], S.PROCEEDING),
            ("r500", ["cancel E", "cancel F", "tu 500", "start K 5"], S.COMPLETED),
        ],
    ),
    "nict: timeout in Proceeding": (
        client("OPTIONS"),
        [
            ("start", ["send OPTIONS", "start E 0.5", "start F 32"], S.TRYING),
            ("r100", ["tu 100"], S.PROCEEDING),
            ("F", ["end timeout", "cancel E"], S.TERMINATED),
        ],
    ),
    "nict: transport error in Trying": (
        client("OPTIONS"),
        [
            ("start", ["send OPTIONS", "start E 0.5", "start F 32"], S.TRYING),
            ("err", ["end transport_error", "cancel E", "cancel F"], S.TERMINATED),
        ],
    ),
    "nict: transport error in Proceeding": (
        client("OPTIONS"),
        [
            ("start", ["send OPTIONS", "start E 0.5", "start F 32"], S.TRYING),
            ("r100", ["tu 100"], S.PROCEEDING),
            ("err", ["end transport_error", "cancel E", "cancel F"], S.TERMINATED),
        ],
    ),
    "nict over TCP: no E, K is zero": (
        client("OPTIONS", reliable=True),
        [
            ("start", ["send OPTIONS", "start F 32"], S.TRYING),
            ("r200", ["cancel F", "tu 200", "end normal"], S.TERMINATED),
        ],
    ),
}


def run(
    factory: Callable[[], Machine],
    steps: list[Step],
    seen: set[tuple[int, State, str]] | None = None,
) -> Machine:
    machine = factory()
    for code, expected, state in steps:
        happened = event(code, machine)
        if seen is not None:
            seen.add((id(machine.table), machine.state, classify(happened)))
        assert (code, summary(machine.handle(happened)), machine.state) == (code, expected, state)
    return machine


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    run(*SCENARIOS[name])


def test_the_scenarios_take_every_transition_of_the_client_tables() -> None:
    seen: set[tuple[int, State, str]] = set()
    for factory, steps in SCENARIOS.values():
        run(factory, steps, seen)
    for table in (INVITE_CLIENT_TABLE, NON_INVITE_CLIENT_TABLE):
        missing = set(table) - {(state, kind) for key, state, kind in seen if key == id(table)}
        assert not missing


def test_ack_for_a_failure_follows_17_1_1_3() -> None:
    transaction = ClientTransaction(make_request("INVITE"), reliable=False)
    transaction.handle(Start())
    busy = make_response(transaction.request, 486, to_tag="srv")
    commands = transaction.handle(ResponseReceived(busy))
    (ack,) = [c.message for c in commands if isinstance(c, SendMessage)]
    assert isinstance(ack, Request) and (ack.method, ack.uri) == ("ACK", "sip:bob@example.com")
    assert ack.headers.get_all("Via") == [transaction.request.headers.get("Via")]
    assert ack.to.tag == "srv" and ack.from_ == transaction.request.from_
    assert (ack.cseq.number, ack.cseq.method) == (7, "ACK")
    assert ack.headers.get_all("Route") == ["<sip:proxy.example.com;lr>"]
    assert ack.call_id == transaction.request.call_id and ack.body == b""


def test_timers_are_configurable() -> None:
    timers = TimerConfig(t1=0.1, t2=0.3, t4=1.0, timer_d=10.0)
    transaction = ClientTransaction(make_request("OPTIONS"), reliable=False, timers=timers)
    assert summary(transaction.handle(Start())) == ["send OPTIONS", "start E 0.1", "start F 6.4"]
    delays = [summary(transaction.handle(event("E", transaction)))[1] for _ in range(3)]
    assert delays == ["start E 0.2", "start E 0.3", "start E 0.3"]
    invite = ClientTransaction(make_request("INVITE"), reliable=False, timers=timers)
    invite.handle(Start())
    assert summary(invite.handle(event("r404", invite)))[-1] == "start D 10"


def test_acks_create_no_transaction() -> None:
    ack = ack_for(make_request("INVITE"))
    with pytest.raises(ValueError, match="ACK"):
        ClientTransaction(ack, reliable=False)
    with pytest.raises(ValueError, match="ACK"):
        ServerTransaction(ack, reliable=False)


def test_running_timers_are_tracked() -> None:
    machine: TransactionMachine = ClientTransaction(make_request("INVITE"), reliable=False)
    machine.handle(Start())
    assert machine.running_timers == {Timer.A, Timer.B}
    machine.handle(event("r180", machine))  # type: ignore[arg-type]
    assert machine.running_timers == frozenset()


def test_cancel_follows_9_1() -> None:
    request = make_request("INVITE")
    cancel = build_cancel(request)
    assert (cancel.method, cancel.uri, cancel.cseq.number) == ("CANCEL", request.uri, 7)
    assert cancel.cseq.method == "CANCEL" and cancel.top_via == request.top_via
    assert (cancel.from_, cancel.to, cancel.call_id) == (request.from_, request.to, request.call_id)
    assert cancel.headers.get_all("Route") == request.headers.get_all("Route")
    with pytest.raises(ValueError, match="cannot be cancelled"):
        build_cancel(ack_for(request))
