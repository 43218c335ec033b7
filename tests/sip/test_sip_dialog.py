"""Dialogs (RFC 3261 section 12): ids, route sets, sequence numbers, in-dialog requests."""

from __future__ import annotations

import pytest

from helpline.sip.dialog import Dialog, DialogError, DialogId, DialogState, uas_dialog_id
from helpline.sip.headers import Headers
from helpline.sip.message import Request, Response, make_response, parse_message

VIA = "SIP/2.0/UDP 192.0.2.10:5060"


def invite(*, record_route: list[str] | None = None, cseq: int = 10) -> Request:
    headers = Headers(
        [
            ("Via", f"{VIA};branch=z9hG4bKinv"),
            ("Max-Forwards", "70"),
            ("From", '"Alice" <sip:alice@example.com>;tag=a1'),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "dlg-1@192.0.2.10"),
            ("CSeq", f"{cseq} INVITE"),
            ("Contact", "<sip:alice@192.0.2.10:5060>"),
        ]
    )
    for route in record_route or []:
        headers.add("Record-Route", route)
    return Request("INVITE", "sip:bob@example.com", headers)


def answer(request: Request, status: int, *, record_route: list[str] | None = None) -> Response:
    response = make_response(request, status, to_tag="b2")
    if record_route is not None:
        response.headers.remove("Record-Route")
        for route in record_route:
            response.headers.add("Record-Route", route)
    response.headers.add("Contact", "<sip:bob@192.0.2.20:5070;transport=udp>")
    return response


PROXIES = ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]


def test_uac_dialog_from_a_2xx_12_1_2() -> None:
    request = invite(record_route=PROXIES)
    dialog = Dialog.as_uac(request, answer(request, 200))
    assert dialog.id == DialogId("dlg-1@192.0.2.10", "a1", "b2")
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.route_set == ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    assert dialog.remote_target == "sip:bob@192.0.2.20:5070;transport=udp"
    assert (dialog.local_seq, dialog.remote_seq) == (10, None)
    assert dialog.local.uri == "sip:alice@example.com" and dialog.local.tag is None


def test_bye_within_the_dialog_12_2_1_1() -> None:
    request = invite(record_route=PROXIES)
    dialog = Dialog.as_uac(request, answer(request, 200))
    after, bye = dialog.create_request("BYE", via=VIA, branch="z9hG4bKbye1")
    assert (bye.method, bye.uri) == ("BYE", "sip:bob@192.0.2.20:5070;transport=udp")
    assert bye.headers.get_all("Route") == list(after.route_set)
    assert (bye.cseq.number, after.local_seq) == (11, 11)
    assert (bye.from_.tag, bye.to.tag, bye.call_id) == ("a1", "b2", "dlg-1@192.0.2.10")
    assert bye.from_.display == "Alice" and bye.top_via.branch == "z9hG4bKbye1"
    assert bytes(parse_message(bytes(bye))) == bytes(bye)  # well-formed on the wire
    _, second = after.create_request("INFO", via=VIA, branch="z9hG4bKinfo")
    assert second.cseq.number == 12


def test_ack_for_2xx_reuses_the_invite_number_13_2_2_4() -> None:
    request = invite()
    dialog = Dialog.as_uac(request, answer(request, 200))
    ack = dialog.create_ack(10, via=VIA, branch="z9hG4bKack")
    assert (ack.method, ack.cseq.number, ack.cseq.method) == ("ACK", 10, "ACK")
    assert ack.top_via.branch == "z9hG4bKack" and dialog.local_seq == 10


def test_strict_route_goes_into_the_request_uri() -> None:
    request = invite()
    dialog = Dialog.as_uac(
        request,
        answer(
            request,
            200,
            record_route=["<sip:new.example.com>", "<sip:old.example.com;method=INVITE?X=1>"],
        ),
    )
    _, bye = dialog.create_request("BYE", via=VIA, branch="z9hG4bKs")
    assert bye.uri == "sip:old.example.com"
    assert bye.headers.get_all("Route") == [
        "<sip:new.example.com>",
        "<sip:bob@192.0.2.20:5070;transport=udp>",
    ]


def test_early_dialog_confirmed_by_2xx_recomputes_the_route_set() -> None:
    request = invite()
    early = Dialog.as_uac(request, answer(request, 180, record_route=["<sip:a.example.com;lr>"]))
    assert early.state is DialogState.EARLY
    ok = answer(request, 200, record_route=["<sip:b.example.com;lr>"])
    confirmed = early.receive_response(ok)
    assert confirmed.state is DialogState.CONFIRMED
    assert confirmed.route_set == ("<sip:b.example.com;lr>",)
    assert confirmed.receive_response(answer(request, 200)).route_set == confirmed.route_set


def test_uas_dialog_and_remote_sequence_12_2_2() -> None:
    request = invite(record_route=PROXIES)
    dialog = Dialog.as_uas(request, "b2")
    assert dialog.id == uas_dialog_id(Request("BYE", "x:y", _in_dialog(request, "BYE", 11).headers))
    assert dialog.route_set == tuple(PROXIES) and dialog.remote_seq == 10
    assert dialog.remote_target == "sip:alice@192.0.2.10:5060"
    reinvite = _in_dialog(request, "INVITE", 12, contact="<sip:alice@192.0.2.99>")
    after = dialog.receive_request(reinvite)
    assert (after.remote_seq, after.remote_target) == (12, "sip:alice@192.0.2.99")
    assert after.receive_request(_in_dialog(request, "ACK", 12)) == after
    with pytest.raises(DialogError) as caught:
        after.receive_request(_in_dialog(request, "BYE", 11))
    assert caught.value.status == 500
    stranger = _in_dialog(request, "BYE", 13, to_tag="other")
    with pytest.raises(DialogError) as caught:
        after.receive_request(stranger)
    assert caught.value.status == 481
    _, bye = after.create_request("BYE", via=VIA, branch="z9hG4bKuas")
    assert bye.cseq.number == 1 and (bye.from_.tag, bye.to.tag) == ("b2", "a1")


def test_a_dialog_needs_one_contact_and_a_to_tag() -> None:
    request = invite()
    no_contact = make_response(request, 200, to_tag="b2")
    with pytest.raises(DialogError, match="Contact"):
        Dialog.as_uac(request, no_contact)
    untagged = make_response(request, 200)
    untagged.headers.add("Contact", "<sip:bob@h>")
    with pytest.raises(DialogError, match="To tag"):
        Dialog.as_uac(request, untagged)


def _in_dialog(
    initial: Request, method: str, cseq: int, *, contact: str | None = None, to_tag: str = "b2"
) -> Request:
    headers = initial.headers.copy()
    headers.set("To", f"<sip:bob@example.com>;tag={to_tag}")
    headers.set("CSeq", f"{cseq} {method}")
    headers.remove("Contact")
    if contact:
        headers.add("Contact", contact)
    return Request(method, "sip:bob@192.0.2.20:5070", headers)
