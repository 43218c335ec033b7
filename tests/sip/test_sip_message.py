"""Parser and serializer behaviour beyond the torture tests: RFC 3261 sections 7, 18.3, 19.1,
20 and 25, one rule per test."""

from __future__ import annotations

import pytest

from helpline.sip.headers import Headers, split_list
from helpline.sip.message import (
    Request,
    Response,
    SipParseError,
    make_response,
    parse_cseq,
    parse_message,
    parse_name_addr,
    parse_uri,
    parse_via,
)

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Bob" <sip:bob@example.com>\r\n'
    b"From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.example.com>\r\n"
    b"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def invite() -> Request:
    message = parse_message(INVITE)
    assert isinstance(message, Request)
    return message


def with_header(line: bytes, *, drop: bytes = b"\x00") -> bytes:
    """INVITE with `line` added before the empty line (and the `drop` field removed)."""
    head, _, body = INVITE.partition(b"\r\n\r\n")
    lines = [x for x in head.split(b"\r\n") if not x.startswith(drop)]
    return b"\r\n".join([*lines, line]) + b"\r\n\r\n" + body


# -- Headers -----------------------------------------------------------------------------


def test_compact_and_long_names_are_the_same_field() -> None:
    headers = Headers([("i", "x@y"), ("m", "<sip:a@b>"), ("CONTACT", "<sip:c@d>")])
    assert headers.get("Call-ID") == "x@y" and headers.get("call-id") == "x@y"
    assert headers.get_all("Contact") == ["<sip:a@b>", "<sip:c@d>"]
    assert list(headers) == [("Call-ID", "x@y"), ("Contact", "<sip:a@b>"), ("Contact", "<sip:c@d>")]


@pytest.mark.parametrize(
    ("compact", "long"),
    [
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("f", "From"),
        ("t", "To"),
        ("v", "Via"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("k", "Supported"),
        ("s", "Subject"),
        ("e", "Content-Encoding"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("u", "Allow-Events"),
    ],
)
def test_compact_form(compact: str, long: str) -> None:
    headers = Headers([(compact.upper(), "value")])
    assert list(headers) == [(long, "value")] and headers.get(long.lower()) == "value"


def test_list_fields_split_on_commas_outside_quotes_and_brackets() -> None:
    headers = Headers([("Contact", '"Doe, John" <sip:a@b;x=1,2>, <sip:c@d>;q=0.5')])
    assert headers.get_all("Contact") == ['"Doe, John" <sip:a@b;x=1,2>', "<sip:c@d>;q=0.5"]


def test_non_list_fields_are_never_split() -> None:
    value = 'Digest realm="a,b", nonce="n", uri="sip:x", response="r"'
    headers = Headers([("WWW-Authenticate", value), ("Date", "Sat, 13 Nov 2010 23:29:00 GMT")])
    assert headers.get_all("WWW-Authenticate") == [value]
    assert headers.get("Date") == "Sat, 13 Nov 2010 23:29:00 GMT"


def test_split_list_ignores_escaped_quote_and_empty_elements() -> None:
    assert split_list('"a \\" , b" <sip:x>, , c') == ['"a \\" , b" <sip:x>', "c"]


def test_set_replaces_every_line_in_place_and_remove_drops_them() -> None:
    headers = Headers([("Via", "1"), ("To", "t"), ("v", "2")])
    headers.set("VIA", "3")
    assert list(headers) == [("Via", "3"), ("To", "t")]
    headers.remove("t")
    assert list(headers) == [("Via", "3")] and "To" not in headers


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid header field"):
        Headers().add("X-Evil", "a\r\nVia: b")
    with pytest.raises(ValueError, match="invalid header field"):
        Headers().set("Bad Name", "v")


# -- URIs ----------------------------------------------------------------------------------


def test_uri_parts_and_escaping() -> None:
    uri = parse_uri("sips:al%69ce:secr%65t@[2001:db8::1]:5061;transport=TCP;Lr?Subject=hi%20there")
    assert (uri.scheme, uri.user, uri.password) == ("sips", "alice", "secret")
    assert (uri.host, uri.port, uri.transport) == ("[2001:db8::1]", 5061, "tcp")
    assert uri.params == {"transport": "TCP", "lr": None}
    assert uri.headers == {"Subject": "hi there"}
    assert str(uri) == "sips:alice:secret@[2001:db8::1]:5061;transport=TCP;lr?Subject=hi%20there"


def test_escaped_and_unescaped_uris_are_equal_and_host_case_is_ignored() -> None:
    assert parse_uri("sip:%61lice@Example.COM") == parse_uri("sip:alice@example.com")
    assert parse_uri("sip:alice@example.com") != parse_uri("sip:Alice@example.com")


@pytest.mark.parametrize(
    "text",
    [
        "sip:",
        "sip:@host",
        "sip:user@",
        "sip:user@host:99999",
        "sip:user@host:",
        "sip:us er@host",
        "sip:user@ho_st",
        "sip:user@host;=x",
        "sip:user@host;p=",
        "sip:user%4@host",
        "sip:user%zz@host",
        "sip:user@host?noequals",
        "sip:user@[::1",
        "no scheme",
    ],
)
def test_bad_uris_raise_400(text: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_uri(text)
    assert caught.value.status == 400


def test_other_schemes_are_416_for_parse_uri() -> None:
    with pytest.raises(SipParseError) as caught:
        parse_uri("tel:+15551234")
    assert (caught.value.status, caught.value.reason) == (416, "Unsupported URI Scheme")


# -- structured fields ---------------------------------------------------------------------


def test_name_addr_forms() -> None:
    quoted = parse_name_addr(' "A \\"B\\"" <sip:a@b;lr> ; tag = x1 ;flag')
    assert (quoted.display, quoted.uri, quoted.params) == (
        'A "B"',
        "sip:a@b;lr",
        {"tag": "x1", "flag": None},
    )
    assert str(quoted) == '"A \\"B\\"" <sip:a@b;lr>;tag=x1;flag'
    tokens = parse_name_addr("Alice  Smith <sip:a@b>")
    assert tokens.display == "Alice Smith"
    bare = parse_name_addr("sip:a@b;tag=9")
    assert (bare.display, bare.uri, bare.tag) == (None, "sip:a@b", "9")
    quoted_param = parse_name_addr('sip:a@b;+sip.instance="<urn:uuid:1>"')
    assert quoted_param.params == {"+sip.instance": '"<urn:uuid:1>"'}


@pytest.mark.parametrize(
    "value",
    ['"open <sip:a@b>', "<sip:a@b", "sip:a@b, sip:c@d", "A,B <sip:a@b>", "<sip:a@b> junk", "<>"],
)
def test_bad_name_addr(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(value)


def test_via_with_lws_ipv6_and_rport() -> None:
    via = parse_via(
        "SIP / 2.0 / tcp  [2001:db8::9] : 5070 ; branch = z9hG4bKx ; received=10.0.0.1;rport=4000"
    )
    assert (via.transport, via.host, via.port) == ("TCP", "[2001:db8::9]", 5070)
    assert (via.branch, via.received, via.rport) == ("z9hG4bKx", "10.0.0.1", 4000)
    assert str(via) == "SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKx;received=10.0.0.1;rport=4000"
    assert parse_via("SIP/2.0/UDP h;rport").rport is None


@pytest.mark.parametrize(
    "value",
    ["SIP/2.0 UDP h", "SIP/2.0/UDP", "SIP/2.0/UDPh", "SIP/2.0/UDP h;;", "SIP/2.0/UDP h;ttl=x"],
)
def test_bad_via(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_via(value)


def test_cseq() -> None:
    assert parse_cseq("  0042 \t INVITE ") == parse_cseq("42 INVITE")
    for bad in ("INVITE", "1", "-1 INVITE", "4294967296 INVITE", "1 IN VITE", "1" * 5000 + " X"):
        with pytest.raises(SipParseError):
            parse_cseq(bad)
    assert parse_cseq("4294967295 ACK").number == 2**32 - 1


# -- messages ------------------------------------------------------------------------------


def test_request_accessors_and_serialization() -> None:
    msg = invite()
    assert (msg.method, msg.uri, msg.body) == ("INVITE", "sip:bob@example.com", b"v=0\n")
    assert msg.top_via.branch == "z9hG4bK776asdhds" and msg.cseq.number == 314159
    assert msg.from_.display == "Alice" and msg.to.tag is None
    assert bytes(msg) == INVITE == msg.serialize()


def test_leading_crlfs_and_folding_and_lowercase_version() -> None:
    data = b"\r\n\r\n" + INVITE.replace(b"CSeq: 314159 INVITE", b"cseq:\r\n  314159\r\n\tINVITE")
    msg = parse_message(data.replace(b"SIP/2.0\r\nVia", b"sip/2.0\r\nVia", 1))
    assert msg.cseq.number == 314159 and msg.headers.get("CSeq") == "314159 INVITE"


def test_content_length_is_fixed_on_serialization() -> None:
    headers = Headers([("Content-Length", "999"), ("Content-Length", "5")])
    response = Response(200, "OK", headers, b"abc")
    assert bytes(response) == b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    assert (
        bytes(Response(180, "Ringing", Headers()))
        == b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n"
    )


def test_datagram_body_rules() -> None:
    """18.3: extra octets in a datagram are dropped; too few is an error; no Content-Length
    means the rest of the datagram."""
    assert invite().body == parse_message(INVITE + b"garbage").body == b"v=0\n"
    with pytest.raises(SipParseError, match="Content-Length says 4"):
        parse_message(INVITE[:-1])
    no_length = with_header(b"X-A: b", drop=b"Content-Length")
    assert parse_message(no_length).body == b"v=0\n"
    with pytest.raises(SipParseError, match="required on a stream"):
        parse_message(no_length, stream=True)


@pytest.mark.parametrize(
    ("data", "status", "fragment"),
    [
        (INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505, "SIP version"),
        (INVITE.replace(b"sip:bob@example.com SIP", b"tel:+1555 SIP", 1), 416, "scheme"),
        (INVITE.replace(b"INVITE sip", b"INV ITE sip", 1), 400, "Request-Line"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 256"), 400, "Max-Forwards"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: " + b"9" * 5000), 400, "Max-Forwards"),
        (INVITE.replace(b"Call-ID: a84b", b"Call-ID: a 84b"), 400, "Call-ID"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max Forwards: 70"), 400, "header field line"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards 70"), 400, "header field line"),
        (INVITE.replace(b"Alice", b"Al\xffice"), 400, "UTF-8"),
        (INVITE.replace(b"Alice", b"Al\nice"), 400, "header field"),
        (INVITE.split(b"\r\n\r\n")[0] + b"\r\n", 400, "Content-Length says"),
        (INVITE.replace(b"\r\n\r\n", b"\r\nX"), 400, "not terminated"),
        (INVITE + b"x" * 70_000, 513, "octets"),
        (with_header(b"Record-Route: sip:a@b, junk"), 400, "Record-Route"),
        (with_header(b"Contact: *, <sip:a@b>"), 400, "Contact"),
    ],
)
def test_malformed_requests(data: bytes, status: int, fragment: str) -> None:
    with pytest.raises(SipParseError, match=fragment) as caught:
        parse_message(data)
    assert caught.value.status == status and not caught.value.is_response


@pytest.mark.parametrize(
    "start_line",
    [
        b"SIP/2.0 99 Too Low",
        b"SIP/2.0 700 Too High",
        b"SIP/2.0 20x OK",
        b"SIP/2.0 200",
        b"SIP/2.0 200 O\x01K",
    ],
)
def test_malformed_responses_are_flagged_for_dropping(start_line: bytes) -> None:
    data = INVITE.replace(INVITE.split(b"\r\n")[0], start_line, 1)
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.is_response


def test_leading_zeros_in_numbers_are_allowed() -> None:
    msg = parse_message(INVITE.replace(b"Content-Length: 4", b"Content-Length: 0000000000004"))
    assert msg.body == b"v=0\n"
    assert parse_message(INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 00070"))


def test_contact_star_is_accepted() -> None:
    msg = parse_message(with_header(b"Expires: 0").replace(b"<sip:alice@pc33.example.com>", b"*"))
    assert msg.headers.get_all("Contact") == ["*"]


def test_make_response_copies_the_fields_8_2_6_2() -> None:
    request = invite()
    ringing = make_response(request, 180, to_tag="abc")
    assert (ringing.status, ringing.reason) == (180, "Ringing")
    assert ringing.headers.get_all("Via") == request.headers.get_all("Via")
    assert ringing.to.tag == "abc" and ringing.from_ == request.from_
    assert ringing.call_id == request.call_id and ringing.cseq == request.cseq
    assert ringing.headers.get_all("Record-Route") == [
        "<sip:p1.example.com;lr>",
        "<sip:p2.example.com;lr>",
    ]
    error = make_response(request, 486)
    assert error.reason == "Busy Here" and "Record-Route" not in error.headers
    assert bytes(parse_message(bytes(error))) == bytes(error)


def test_parse_error_keeps_the_headers_read_so_far() -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"))
    assert caught.value.headers is not None
    assert caught.value.headers.get("Call-ID") == "a84b4c76e66710@pc33.example.com"
    assert str(caught.value).startswith("400 Bad Request: CSeq method")


# RFC 3261 19.1.4's own examples
@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
        ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
        (
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        ),
        (
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        ),
    ],
)
def test_equivalent_uris_19_1_4(left: str, right: str) -> None:
    assert parse_uri(left).equivalent(parse_uri(right))
    assert parse_uri(right).equivalent(parse_uri(left))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
        ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
    ],
)
def test_different_uris_19_1_4(left: str, right: str) -> None:
    assert not parse_uri(left).equivalent(parse_uri(right))
    assert not parse_uri(right).equivalent(parse_uri(left))
