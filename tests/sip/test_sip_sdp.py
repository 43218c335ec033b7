"""SDP parsing and serialization (RFC 8866) on bodies as real peers send them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.core.errors import ClientError
from helpline.sip.sdp import RtpMap, SdpError, parse_sdp

ASTERISK = """v=0
o=- 1608237744 1608237744 IN IP4 192.0.2.10
s=Asterisk
c=IN IP4 192.0.2.10
t=0 0
m=audio 18062 RTP/AVP 0 8 3 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:3 GSM/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
"""

BARESIP = """v=0
o=- 1897375329 1230438271 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 10014 RTP/AVP 96 97 9 0 8 101
b=AS:64
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:97 L16/16000/1
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=rtcp-rsize
a=ssrc:2385183211 cname:f2ff0d6e-0a1b-4c38-b0c1-eb3fd8b6b4e6
"""

SIPP = (
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)

CISCO = """v=0
o=CiscoSystemsSIP-GW-UserAgent 7410 1306 IN IP4 10.20.30.40
s=SIP Call
c=IN IP4 10.20.30.41
t=0 0
m=audio 17210 RTP/AVP 8 101 19
c=IN IP4 10.20.30.42
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtpmap:19 CN/8000
a=ptime:20
"""

ICE = """v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1 1 udp 2122260223 198.51.100.7 53202 typ host generation 0
a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0
a=setup:actpass
a=mid:0
a=rtpmap:111 opus/48000/2
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:126 telephone-event/8000
a=sendrecv
m=audio 7078 RTP/AVP 0 8 101
c=IN IP4 198.51.100.7
a=candidate:1 1 UDP 2130706431 198.51.100.7 7078 typ host
a=ice-ufrag:x9k3
a=rtpmap:101 telephone-event/8000
a=sendonly
"""


def test_asterisk_body() -> None:
    sdp = parse_sdp(ASTERISK)
    assert sdp.origin.session_id == 1608237744 and sdp.origin.address == "192.0.2.10"
    (audio,) = sdp.media
    assert (audio.kind, audio.port, audio.proto) == ("audio", 18062, "RTP/AVP")
    assert audio.formats == ("0", "8", "3", "101")
    assert audio.rtpmaps()[101] == RtpMap(101, "telephone-event", 8000)
    assert audio.fmtp(101) == "0-16"
    assert audio.ptime == 20
    assert sdp.direction(audio) == "sendrecv"
    assert sdp.address(audio) == "192.0.2.10"


def test_baresip_body_keeps_unknown_lines_and_channels() -> None:
    sdp = parse_sdp(BARESIP)
    (audio,) = sdp.media
    maps = audio.rtpmaps()
    assert maps[96] == RtpMap(96, "opus", 48000, 2)
    assert maps[0] == RtpMap(0, "PCMU", 8000)  # static: no rtpmap line needed (RFC 3551)
    assert 9 not in maps  # G.722: static, but not one we know without its rtpmap line
    assert audio.other == ("b=AS:64",)
    assert audio.attribute("ssrc") == "2385183211 cname:f2ff0d6e-0a1b-4c38-b0c1-eb3fd8b6b4e6"
    assert audio.has("rtcp-rsize") and audio.attribute("rtcp-rsize") is None


def test_sipp_default_body_with_crlf() -> None:
    sdp = parse_sdp(SIPP.encode())
    assert sdp.media[0].rtpmaps() == {0: RtpMap(0, "PCMU", 8000)}
    assert sdp.media[0].ptime is None
    assert sdp.serialize() == SIPP


def test_media_level_connection_overrides_session() -> None:
    sdp = parse_sdp(CISCO)
    assert sdp.name == "SIP Call"
    assert sdp.address(sdp.media[0]) == "10.20.30.42"


def test_ice_lines_are_kept_but_harmless() -> None:
    sdp = parse_sdp(ICE)
    webrtc, plain = sdp.media
    assert webrtc.proto == "UDP/TLS/RTP/SAVPF" and webrtc.attribute("ice-ufrag") == "EsAw"
    assert plain.rtpmaps()[8] == RtpMap(8, "PCMA", 8000)
    assert sdp.direction(plain) == "sendonly"
    assert sdp.attributes[1] == ("msid-semantic", " WMS")


@pytest.mark.parametrize("body", [ASTERISK, BARESIP, SIPP, CISCO, ICE])
def test_serialize_round_trips(body: str) -> None:
    sdp = parse_sdp(body)
    again = parse_sdp(sdp.serialize())
    assert again == sdp
    assert sdp.serialize().endswith("\r\n") and "\n" not in sdp.serialize().replace("\r\n", "")


def test_session_level_direction_applies_to_media() -> None:
    held = parse_sdp(SIPP.replace("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n"))
    assert held.direction(held.media[0]) == "recvonly"
    # ... unless the media section says otherwise (an a= line after m= is the media's).
    both = parse_sdp(SIPP.replace("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n") + "a=inactive\r\n")
    assert both.direction(both.media[0]) == "inactive"


def test_missing_s_and_t_are_tolerated() -> None:
    body = "v=0\no=- 1 1 IN IP4 10.0.0.1\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0\n"
    sdp = parse_sdp(body)
    assert (sdp.name, sdp.timing) == ("-", "0 0")


BAD = [
    ("", 0, "empty"),
    ("o=- 1 1 IN IP4 h\n", 1, "v=0"),
    ("v=1\no=- 1 1 IN IP4 h\n", 1, "v=0"),
    ("v=0\no=- x 1 IN IP4 h\n", 2, "o="),
    ("v=0\no=- 1 1 IN IP4\n", 2, "o="),
    ("v=0\ns=-\n", 0, "origin line is missing"),
    ("v=0\no=- 1 1 IN IP4 h\nthis is not sdp\n", 3, "<letter>="),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IPX h\n", 3, "c="),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 /127\n", 3, "c="),  # a ttl and no address
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 70000 RTP/AVP 0\n", 4, "port"),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio x RTP/AVP 0\n", 4, "port"),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 4000 RTP/AVP PCMU\n", 4, "payload types"),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 4000\n", 4, "m="),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 4000 RTP/AVP 0\na=rtpmap:0 PCMU\n", 5, "rtpmap"),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 4 RTP/AVP 96\na=rtpmap:96 x/y\n", 5, "rtpmap"),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio 4000 RTP/AVP 0\n", 0, "no c= line"),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 4000 RTP/AVP 0\no=- 1 1 IN IP4 h\n", 5, "o="),
    ("v=0\no=- 1 1 IN IP4 h\nX=1\n", 3, "<letter>="),
    ("v=0\no=- ² 1 IN IP4 h\n", 2, "o="),  # a digit to str.isdigit(), not to int()
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio ² RTP/AVP 0\n", 4, "port"),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 4 RTP/AVP 9\na=rtpmap:9 G722/٨٠٠٠\n", 5, "rtpmap"),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\na=\n", 4, "empty attribute"),
]


@pytest.mark.parametrize(("body", "line", "words"), BAD)
def test_malformed_bodies_name_the_bad_line(body: str, line: int, words: str) -> None:
    with pytest.raises(SdpError) as caught:
        parse_sdp(body)
    assert isinstance(caught.value, ClientError)
    assert caught.value.line == line
    assert words in str(caught.value)
    assert caught.value.status == 400


def test_non_utf8_and_oversized_bodies() -> None:
    with pytest.raises(SdpError, match="UTF-8"):
        parse_sdp(b"v=0\r\no=\xff 1 1 IN IP4 h\r\n")
    with pytest.raises(SdpError) as caught:
        parse_sdp(b"v=0\r\n" + b"a=x\r\n" * 20000)
    assert caught.value.status == 413


def test_port_zero_needs_no_connection() -> None:
    sdp = parse_sdp("v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=video 0 RTP/AVP 31\n")
    assert sdp.media[0].port == 0


def test_non_rtp_media_have_no_payload_types() -> None:
    body = SIPP + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    data = parse_sdp(body).media[1]
    assert data.formats == ("webrtc-datachannel",) and data.rtpmaps() == {}


@settings(max_examples=300, deadline=None)
@given(
    body=st.sampled_from([ASTERISK, BARESIP, SIPP, CISCO, ICE]),
    cut=st.integers(0, 2000),
    junk=st.text(st.sampled_from("0123456789²٣ =:/\r\nacmovtIPN-.x"), max_size=12)
    | st.text(max_size=12),
)
def test_mangled_bodies_give_sdp_errors_or_parse(body: str, cut: int, junk: str) -> None:
    """Whatever is spliced into a real body, the parser answers with SdpError or a result
    that serializes and parses back to itself; never another exception."""
    mangled = body[: cut % (len(body) + 1)] + junk + body[cut % (len(body) + 1) :]
    try:
        sdp = parse_sdp(mangled)
    except SdpError as error:
        assert error.status in (400, 413)
        return
    assert parse_sdp(sdp.serialize()) == sdp
