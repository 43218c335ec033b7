"""Via handling at the transport (RFC 3261 18.2.1, 18.2.2; RFC 3581)."""

from __future__ import annotations

import pytest

from helpline.sip.headers import Headers
from helpline.sip.message import Request, make_response
from helpline.sip.via_rules import Destination, response_destination, stamp_received


def request(*vias: str) -> Request:
    headers = Headers([("Via", ", ".join(vias)), ("Via", "SIP/2.0/UDP last.example.com")])
    headers.add("From", "<sip:a@example.com>;tag=1")
    headers.add("To", "<sip:b@example.com>")
    headers.add("Call-ID", "c1")
    headers.add("CSeq", "1 OPTIONS")
    return Request("OPTIONS", "sip:b@example.com", headers)


def test_sent_by_name_gets_received_and_other_vias_are_kept() -> None:
    original = request("SIP/2.0/UDP pc.example.com;branch=z9hG4bK1", "SIP/2.0/UDP p1.example.com")
    stamped = stamp_received(original, "192.0.2.7", 5060)
    assert stamped.headers.get_all("Via") == [
        "SIP/2.0/UDP pc.example.com;branch=z9hG4bK1;received=192.0.2.7",
        "SIP/2.0/UDP p1.example.com",
        "SIP/2.0/UDP last.example.com",
    ]
    assert next(iter(stamped.headers))[0] == "Via"


def test_sent_by_equal_to_source_is_left_alone() -> None:
    original = request("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1")
    assert stamp_received(original, "2001:db8:0::1", 5060) is original
    moved = stamp_received(original, "2001:db8::2", 5060)
    assert moved.top_via.received == "2001:db8::2"


def test_rport_is_filled_in_rfc3581() -> None:
    original = request("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport")
    stamped = stamp_received(original, "198.51.100.9", 40123)
    assert (stamped.top_via.rport, stamped.top_via.received) == (40123, "198.51.100.9")


@pytest.mark.parametrize(
    ("via", "expected"),
    [
        ("SIP/2.0/UDP pc.example.com", Destination("pc.example.com", 5060, "UDP")),
        (
            "SIP/2.0/UDP pc.example.com:5070;received=192.0.2.1",
            Destination("192.0.2.1", 5070, "UDP"),
        ),
        (
            "SIP/2.0/UDP 10.0.0.5:5060;rport=40123;received=198.51.100.9",
            Destination("198.51.100.9", 40123, "UDP"),
        ),
        (
            "SIP/2.0/UDP h:5070;maddr=239.1.1.1;received=192.0.2.1",
            Destination("239.1.1.1", 5070, "UDP"),
        ),
        ("SIP/2.0/TLS h.example.com", Destination("h.example.com", 5061, "TLS", True)),
        ("SIP/2.0/TCP h:5080;received=192.0.2.3", Destination("192.0.2.3", 5080, "TCP", True)),
    ],
)
def test_response_destination_18_2_2(via: str, expected: Destination) -> None:
    assert response_destination(make_response(request(via), 200, to_tag="t")) == expected
