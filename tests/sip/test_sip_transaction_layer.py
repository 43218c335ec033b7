"""TransactionLayer: creating, matching and forgetting transactions (RFC 3261 17.1.3, 17.2.3,
9.2, RFC 6026)."""

from __future__ import annotations

from helpline.sip.client_transaction import ClientTransaction, build_cancel
from helpline.sip.headers import Headers
from helpline.sip.message import Request, make_response
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import (
    CancelTimer,
    DeliverToTU,
    SendMessage,
    StartTimer,
    State,
    Terminated,
    TerminationReason,
    Timer,
)
from helpline.sip.transaction_layer import TransactionLayer


def invite(branch: str = "z9hG4bKinv1") -> Request:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP 192.0.2.1:5060;branch={branch}"),
            ("From", "<sip:a@example.com>;tag=f"),
            ("To", "<sip:b@example.com>"),
            ("Call-ID", "layer@192.0.2.1"),
            ("CSeq", "1 INVITE"),
            ("Max-Forwards", "70"),
        ]
    )
    return Request("INVITE", "sip:b@example.com", headers)


def ack(request: Request, branch: str) -> Request:
    headers = request.headers.copy()
    headers.set("Via", f"SIP/2.0/UDP 192.0.2.1:5060;branch={branch}")
    headers.set("To", "<sip:b@example.com>;tag=t")
    headers.set("CSeq", "1 ACK")
    return Request("ACK", request.uri, headers)


def test_uas_failure_flow_ends_in_the_transaction_being_forgotten() -> None:
    layer = TransactionLayer()
    request = invite()
    transaction, commands = layer.receive_request(request, reliable=False)
    assert isinstance(transaction, ServerTransaction) and len(layer) == 1
    assert commands == [SendMessage(make_response(request, 100)), DeliverToTU(request)]
    again, resent = layer.receive_request(invite(), reliable=False)
    assert again is transaction and [type(c) for c in resent] == [SendMessage]
    layer.send_response(transaction, make_response(request, 486, to_tag="t"))
    matched, commands = layer.receive_request(ack(request, "z9hG4bKinv1"), reliable=False)
    assert matched is transaction and StartTimer(Timer.I, 5.0) in commands
    assert layer.timer_fired(transaction, Timer.I) == [Terminated()]
    assert len(layer) == 0


def test_after_a_2xx_a_retransmitted_invite_is_no_new_call_and_the_ack_goes_to_the_tu() -> None:
    layer = TransactionLayer()
    request = invite()
    transaction, _ = layer.receive_request(request, reliable=False)
    assert isinstance(transaction, ServerTransaction)
    layer.send_response(transaction, make_response(request, 200, to_tag="t"))
    again, commands = layer.receive_request(invite(), reliable=False)
    assert (again, commands) == (transaction, []) and transaction.state is State.ACCEPTED
    the_ack = ack(request, "z9hG4bKack2")
    assert layer.receive_request(the_ack, reliable=False) == (None, [DeliverToTU(the_ack)])
    assert layer.timer_fired(transaction, Timer.L) == [Terminated()] and len(layer) == 0


def test_uac_matches_responses_and_passes_strays_to_the_tu() -> None:
    layer = TransactionLayer()
    request = invite("z9hG4bKout")
    transaction, commands = layer.send_request(request, reliable=False)
    assert isinstance(transaction, ClientTransaction) and commands[0] == SendMessage(request)
    ringing = make_response(request, 180, to_tag="t")
    assert layer.receive_response(ringing) == (
        transaction,
        [CancelTimer(Timer.A), CancelTimer(Timer.B), DeliverToTU(ringing)],
    )
    stray = make_response(invite("z9hG4bKunknown"), 200, to_tag="t")
    assert layer.receive_response(stray) == (None, [DeliverToTU(stray)])


def test_cancel_finds_its_invite_9_2() -> None:
    layer = TransactionLayer()
    request = invite()
    transaction, _ = layer.receive_request(request, reliable=False)
    assert layer.find_cancelled(build_cancel(request)) is transaction
    assert layer.find_cancelled(build_cancel(invite("z9hG4bKother"))) is None


def test_reliable_non_invite_is_forgotten_as_soon_as_answered() -> None:
    layer = TransactionLayer()
    headers = invite().headers.copy()
    headers.set("CSeq", "2 OPTIONS")
    options = Request("OPTIONS", "sip:b@example.com", headers)
    transaction, _ = layer.receive_request(options, reliable=True)
    assert isinstance(transaction, ServerTransaction)
    commands = layer.send_response(transaction, make_response(options, 200, to_tag="t"))
    assert commands[-1] == Terminated() and len(layer) == 0


def test_transport_failure_is_reported_and_forgotten() -> None:
    layer = TransactionLayer()
    transaction, _ = layer.send_request(invite("z9hG4bKtcp"), reliable=True)
    commands = layer.transport_failed(transaction, "connection reset")
    assert commands[0] == Terminated(TerminationReason.TRANSPORT_ERROR)
    assert len(layer) == 0
