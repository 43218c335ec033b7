"""Matching messages to transactions: RFC 3261 17.1.3 (responses) and 17.2.3 (requests,
with the RFC 2543 fallback)."""

from __future__ import annotations

from helpline.sip.client_transaction import ClientTransaction
from helpline.sip.headers import Headers
from helpline.sip.message import Request, make_response
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import RequestReceived, SendMessage, SendResponse, Start
from helpline.sip.transaction_layer import TransactionStore, client_key, server_key


def request(method: str = "INVITE", *, branch: str | None = "z9hG4bKabc", cseq: int = 1) -> Request:
    via = "SIP/2.0/UDP 192.0.2.1:5060" + (f";branch={branch}" if branch else "")
    headers = Headers(
        [
            ("Via", via),
            ("From", "<sip:a@example.com>;tag=f1"),
            ("To", "<sip:b@example.com>"),
            ("Call-ID", "call@192.0.2.1"),
            ("CSeq", f"{cseq} {method}"),
        ]
    )
    return Request(method, "sip:b@example.com", headers)


def ack(invite: Request, *, branch: str | None, to_tag: str) -> Request:
    headers = invite.headers.copy()
    headers.set("Via", "SIP/2.0/UDP 192.0.2.1:5060" + (f";branch={branch}" if branch else ""))
    headers.set("To", f"<sip:b@example.com>;tag={to_tag}")
    headers.set("CSeq", f"{invite.cseq.number} ACK")
    return Request("ACK", invite.uri, headers)


def answered(invite: Request, status: int) -> tuple[TransactionStore, ServerTransaction]:
    store = TransactionStore()
    transaction = ServerTransaction(invite, reliable=False)
    store.add_server(transaction)
    transaction.handle(Start())
    transaction.handle(SendResponse(make_response(invite, status, to_tag="t9")))
    return store, transaction


def test_responses_match_by_branch_and_cseq_method() -> None:
    store = TransactionStore()
    invite = ClientTransaction(request("INVITE"), reliable=False)
    cancel = ClientTransaction(request("CANCEL"), reliable=False)  # same branch (9.1)
    store.add_client(invite)
    store.add_client(cancel)
    assert store.match_response(make_response(invite.request, 180)) is invite
    assert store.match_response(make_response(cancel.request, 200)) is cancel
    other = make_response(request("INVITE", branch="z9hG4bKother"), 180)
    assert store.match_response(other) is None
    assert store.match_response(make_response(request("INVITE", branch=None), 180)) is None
    assert client_key(invite.request) == ("z9hG4bKabc", "INVITE")


def test_retransmitted_request_matches_and_gets_the_last_response_again() -> None:
    invite = request()
    store, transaction = answered(invite, 486)
    again = request()
    assert store.match_request(again) is transaction
    (resent,) = transaction.handle(RequestReceived(again))
    assert isinstance(resent, SendMessage) and resent.message == transaction.last_response


def test_ack_for_a_failure_matches_the_invite_but_an_ack_for_2xx_does_not() -> None:
    invite = request()
    store, transaction = answered(invite, 486)
    assert store.match_request(ack(invite, branch="z9hG4bKabc", to_tag="t9")) is transaction
    store_ok, _ = answered(invite, 200)
    assert store_ok.match_request(ack(invite, branch="z9hG4bKnew", to_tag="t9")) is None


def test_sent_by_and_method_are_part_of_the_key() -> None:
    invite = request()
    store, _ = answered(invite, 486)
    moved = invite.headers.copy()
    moved.set("Via", "SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKabc")
    assert store.match_request(Request("INVITE", invite.uri, moved)) is None
    assert store.match_request(request("OPTIONS")) is None
    assert server_key(request("ACK"))[-1] == "INVITE"


def test_rfc2543_fallback() -> None:
    """No magic cookie: Request-URI, From tag, Call-ID, CSeq and top Via decide, and an ACK
    must carry the To tag of the response it acknowledges."""
    invite = request(branch=None)
    store, transaction = answered(invite, 486)
    assert server_key(invite)[0] == "2543"
    assert store.match_request(request(branch=None)) is transaction
    assert store.match_request(request(branch=None, cseq=2)) is None
    assert store.match_request(ack(invite, branch=None, to_tag="t9")) is transaction
    assert store.match_request(ack(invite, branch=None, to_tag="wrong")) is None
    cookie_only = request(branch="z9hG4bK")
    assert server_key(cookie_only)[0] == "2543"


def test_terminated_transactions_are_forgotten() -> None:
    store = TransactionStore()
    done = ServerTransaction(request("OPTIONS"), reliable=True)
    live = ServerTransaction(request("INVITE", branch="z9hG4bKlive"), reliable=False)
    store.add_server(done)
    store.add_server(live)
    done.handle(Start())
    done.handle(SendResponse(make_response(done.request, 200, to_tag="x")))
    assert len(store) == 2 and store.forget_terminated() == 1
    assert list(store) == [live]
