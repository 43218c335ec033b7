"""The RFC 4475 SIP torture test messages, one test each, checking what the RFC says of each.

Valid messages must parse, and the points the RFC makes about each (an unusual URI part, a
folded or compact header, an escape that must or must not be decoded) must come out right.
Invalid ones must raise SipParseError with the status the RFC asks for (or be flagged as a
response, to be dropped). Files are checked byte for byte against MANIFEST.json's sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from helpline.sip.framing import FramingError, StreamFramer
from helpline.sip.message import (
    Request,
    Response,
    SipParseError,
    parse_message,
    parse_name_addr,
    parse_uri,
)
from helpline.sip.transaction_layer import server_key

DATA = Path("/work/shared/testdata/rfc4475")
MANIFEST = {entry["file"]: entry for entry in json.loads((DATA / "MANIFEST.json").read_text())}


def load(name: str) -> bytes:
    data = (DATA / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == MANIFEST[name]["sha256"]
    return data


def request(name: str) -> Request:
    message = parse_message(load(name))
    assert isinstance(message, Request)
    return message


# -- valid messages: the RFC's specific points -----------------------------------------


def check_wsinv(name: str) -> None:  # 3.1.1.1
    msg = request(name)
    assert (msg.method, msg.uri) == ("INVITE", "sip:vivekg@chair-dnrc.example.com;unknownparam")
    assert msg.to.uri == "sip:vivekg@chair-dnrc.example.com" and msg.to.tag == "1918181833n"
    assert msg.from_.display == 'J Rosenberg \\"' and msg.from_.tag == "98asjd8"
    assert int(msg.headers.get("max-forwards") or "") == 68
    assert (msg.cseq.number, msg.cseq.method) == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in msg.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    route = parse_uri(parse_name_addr(msg.headers.get("Route") or "").uri)
    assert route.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    contact = parse_name_addr(msg.headers.get("m") or "")
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert len(msg.body) == 150


def check_intmeth(name: str) -> None:  # 3.1.1.2
    msg = request(name)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~" == msg.cseq.method
    uri = parse_uri(msg.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert msg.top_via.branch == "z9hG4bK-.!%66*_+`'~"  # % is no escape in a token
    assert msg.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.to.sip_uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.from_.display == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert (
        msg.from_.params["fromparam''~+*_!.-%"]
        == '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"'
    )
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.headers.get("extensionheader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"


def check_esc01(name: str) -> None:  # 3.1.1.3
    msg = request(name)
    uri = parse_uri(msg.uri)
    assert (uri.user, uri.host) == ("sips:user@example.com", "example.net")
    assert str(uri) == "sip:sips%3Auser%40example.com@example.net"
    assert msg.to.sip_uri == parse_uri("sip:user@example.com")
    assert msg.from_.sip_uri.user == "I have spaces"
    contact = parse_name_addr(msg.headers.get("Contact") or "").sip_uri
    assert contact == parse_uri("sip:caller@host5.example.net;lr;name=value%2541")
    assert contact.params == {"lr": None, "name": "value%41"}


def check_escnull(name: str) -> None:  # 3.1.1.4
    msg = request(name)
    assert msg.to.sip_uri.user == "null-\x00-null"
    users = [parse_name_addr(c).sip_uri.user for c in msg.headers.get_all("Contact")]
    assert users == ["\x00", "\x00\x00"]
    assert str(msg.to.sip_uri) == "sip:null-%00-null@example.com"


def check_esc02(name: str) -> None:  # 3.1.1.5
    msg = request(name)
    assert msg.method == "RE%47IST%45R"  # not REGISTER: no escapes in a method
    assert msg.to.display == "%Z%45"
    assert msg.top_via.branch == "z9hG4bK209%fzsnel234"
    # "C%6Fntact" is an extension header, not Contact: % is no escape in a header name
    assert [parse_name_addr(c).sip_uri.user for c in msg.headers.get_all("Contact")] == [
        "alias1",
        "alias3",
    ]
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def check_lwsdisp(name: str) -> None:  # 3.1.1.6
    msg = request(name)
    assert (msg.from_.display, msg.from_.uri) == ("caller", "sip:caller@example.com")


def check_longreq(name: str) -> None:  # 3.1.1.7
    msg = request(name)
    vias = msg.vias
    assert len(vias) == 34 and vias[0].host == "sip33.example.com"
    assert vias[-1].received == "192.0.2.5" and len(vias[-1].branch or "") > 200
    assert msg.to.display and msg.to.display.startswith("I have a user name of extreme")
    assert msg.to.sip_uri.port == 6000
    assert len(msg.from_.tag or "") > 100
    assert msg.call_id.endswith("reallylongcallid")
    assert len(msg.body) == 150


def check_dblreq(name: str) -> None:  # 3.1.1.8
    msg = request(name)
    assert msg.method == "REGISTER" and msg.body == b""  # the INVITE's octets are ignored


def check_semiuri(name: str) -> None:  # 3.1.1.9
    msg = request(name)
    uri = parse_uri(msg.uri)
    assert (uri.user, uri.host, uri.params) == ("user;par=u@example.net", "example.com", {})
    assert msg.headers.get_all("Accept")[-1] == "message/sipfrag"
    assert len(msg.headers.get_all("Accept")) == 6


def check_transports(name: str) -> None:  # 3.1.1.10
    msg = request(name)
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def check_mpart01(name: str) -> None:  # 3.1.1.11
    msg = request(name)
    assert len(msg.body) == int(msg.headers.get("Content-Length") or "") == 553
    assert msg.body.endswith(b"--7a9cbec02ceef655--\r\n")
    assert b"\n" in msg.body.replace(b"\r\n", b"")  # bare LF octets kept as they are


def check_unreason(name: str) -> None:  # 3.1.1.12
    msg = parse_message(load(name))
    assert isinstance(msg, Response) and msg.status == 200
    assert msg.reason.startswith("= 2**3 * 5**2 \u043d\u043e ")


def check_noreason(name: str) -> None:  # 3.1.1.13
    msg = parse_message(load(name))
    assert isinstance(msg, Response) and (msg.status, msg.reason) == (100, "")


def check_badbranch(name: str) -> None:  # 3.2.1: a bare magic cookie is no RFC 3261 branch
    msg = request(name)
    assert msg.top_via.branch == "z9hG4bK"
    assert server_key(msg)[0] == "2543"


def check_unkscm(name: str) -> None:  # 3.3.2 and 3.3.3: parses, but 416 for the UAS
    with pytest.raises(SipParseError) as caught:
        parse_message(load(name))
    assert caught.value.status == 416
    scheme = parse_message(load(name), schemes=frozenset({"nobodyknowsthisscheme", "soap.beep"}))
    assert isinstance(scheme, Request)


def check_unksm2(name: str) -> None:  # 3.3.4
    msg = request(name)
    assert (msg.to.uri, msg.from_.uri) == ("isbn:2983792873", "http://www.example.com")
    assert parse_name_addr(msg.headers.get("Contact") or "").uri == "name:John_Smith"
    with pytest.raises(SipParseError) as caught:  # a registrar would refuse such a To
        parse_uri(msg.to.uri)
    assert caught.value.status == 416


def check_bext01(name: str) -> None:  # 3.3.5: the UAS answers 420 listing these
    msg = request(name)
    assert msg.headers.get_all("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert msg.headers.get_all("Proxy-Require") == [
        "noProxiesSupportThis",
        "norDoAnyProxiesSupportThis",
    ]


def check_invut(name: str) -> None:  # 3.3.6: the UAS answers 415
    msg = request(name)
    assert msg.headers.get("c") == "application/unknownformat" and len(msg.body) == 40


def check_regaut01(name: str) -> None:  # 3.3.7
    msg = request(name)
    assert msg.headers.get("Authorization") == "NoOneKnowsThisScheme opaque-data=here"


def check_sdp01(name: str) -> None:  # 3.3.15: the UAS answers 406
    assert request(name).headers.get_all("Accept") == ["text/nobodyKnowsThis"]


def check_bcast(name: str) -> None:  # 3.3.10
    msg = parse_message(load(name))
    assert isinstance(msg, Response)
    assert [v.host for v in msg.vias] == ["192.0.2.198", "255.255.255.255"]


def check_zeromf(name: str) -> None:  # 3.3.11
    assert request(name).headers.get("Max-Forwards") == "0"


def check_cparam01(name: str) -> None:  # 3.3.12: addr-spec, so the parameter is the header's
    contact = parse_name_addr(request(name).headers.get("Contact") or "")
    assert contact.params == {"unknownparam": None} and contact.sip_uri.params == {}


def check_cparam02(name: str) -> None:  # 3.3.13: inside <>, the parameter is the URI's
    contact = parse_name_addr(request(name).headers.get("Contact") or "")
    assert contact.params == {} and contact.sip_uri.params == {"unknownparam": None}


def check_regescrt(name: str) -> None:  # 3.3.14
    contact = parse_name_addr(request(name).headers.get("Contact") or "").sip_uri
    assert contact.headers == {"Route": "<sip:sip.example.com>"}
    assert str(contact) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def check_inv2543(name: str) -> None:  # 3.4.1
    msg = request(name)
    assert msg.top_via.branch is None and msg.from_.tag is None
    assert "Max-Forwards" not in msg.headers and "Content-Length" not in msg.headers
    assert msg.body.startswith(b"v=0") and server_key(msg)[0] == "2543"
    assert msg.to.sip_uri.params == {} and msg.to.params == {"user": "phone"}


def check_baddate(name: str) -> None:  # 3.1.2.12: Date does not matter to us, so accept
    assert request(name).headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


def check_test(name: str) -> None:  # in the archive, not in the RFC text: only never crash
    try:
        parse_message(load(name))
    except SipParseError as error:
        assert error.status == 400


# -- invalid ones: the answer the RFC asks for -----------------------------------------

# file -> (status, is_response); a response is never answered, only dropped (18.1.2)
REJECTED: dict[str, tuple[int, bool]] = {
    "badinv01.dat": (400, False),  # 3.1.2.1
    "clerr.dat": (400, False),  # 3.1.2.2 (UDP)
    "ncl.dat": (400, False),  # 3.1.2.3
    "scalar02.dat": (400, False),  # 3.1.2.4
    "scalarlg.dat": (400, True),  # 3.1.2.5: drop
    "quotbal.dat": (400, False),  # 3.1.2.6
    "ltgtruri.dat": (400, False),  # 3.1.2.7
    "lwsruri.dat": (400, False),  # 3.1.2.8
    "lwsstart.dat": (400, False),  # 3.1.2.9
    "trws.dat": (400, False),  # 3.1.2.10
    "escruri.dat": (400, False),  # 3.1.2.11
    "regbadct.dat": (400, False),  # 3.1.2.13
    "badaspec.dat": (400, False),  # 3.1.2.14
    "baddn.dat": (400, False),  # 3.1.2.15
    "badvers.dat": (505, False),  # 3.1.2.16
    "mismatch01.dat": (400, False),  # 3.1.2.17
    "mismatch02.dat": (400, False),  # 3.1.2.18 (400 acceptable)
    "bigcode.dat": (400, True),  # 3.1.2.19: drop
    "insuf.dat": (400, False),  # 3.3.1
    "multi01.dat": (400, False),  # 3.3.8
    "mcl01.dat": (400, False),  # 3.3.9
}

CHECKS: dict[str, Callable[[str], None]] = {
    name.removeprefix("check_") + ".dat": check
    for name, check in dict(globals()).items()
    if name.startswith("check_")
}
CHECKS["novelsc.dat"] = check_unkscm


def test_every_manifest_entry_has_an_expectation() -> None:
    assert set(MANIFEST) == set(CHECKS) | set(REJECTED)
    assert not set(CHECKS) & set(REJECTED)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_accepted_message(name: str) -> None:
    CHECKS[name](name)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_message(name: str) -> None:
    status, is_response = REJECTED[name]
    with pytest.raises(SipParseError) as caught:
        parse_message(load(name))
    assert (caught.value.status, caught.value.is_response) == (status, is_response)
    # what was read is kept, so a 400 can still copy the request's fields (8.2.6.2)
    assert caught.value.headers is not None and "CSeq" in caught.value.headers


@pytest.mark.parametrize("name", ["ncl.dat", "mcl01.dat"])
def test_stream_closes_on_unusable_content_length(name: str) -> None:
    """3.1.2.3, 3.3.9: on TCP a negative or doubled Content-Length loses the framing."""
    framer = StreamFramer()
    (item,) = framer.feed(load(name))
    assert isinstance(item, FramingError) and framer.broken


def test_stream_waits_for_the_rest_of_a_long_body() -> None:
    """3.1.2.2: on TCP a Content-Length beyond the data means more data is to come."""
    framer = StreamFramer()
    data = load("clerr.dat")
    assert framer.feed(data) == [] and framer.buffered == len(data) and not framer.broken
