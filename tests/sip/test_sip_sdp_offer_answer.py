"""Offer/answer (RFC 3264) for G.711 audio with RFC 4733 events, and hold, on real bodies."""

from __future__ import annotations

import pytest
from test_sip_sdp import ASTERISK, BARESIP, CISCO, ICE, SIPP

from helpline.sip.sdp import (
    AudioSession,
    SdpError,
    accept_answer,
    is_hold,
    make_answer,
    make_offer,
    parse_sdp,
)

ALAW_FIRST = ("PCMA", "PCMU")
ULAW_FIRST = ("PCMU", "PCMA")


def answer(body: str, codecs: tuple[str, ...] = ULAW_FIRST) -> tuple[str, AudioSession]:
    sdp, session = make_answer(
        parse_sdp(body), "203.0.113.5", 30000, session_id=77, version=1, codecs=codecs
    )
    return sdp.serialize(), session


@pytest.mark.parametrize(
    ("body", "codecs", "expected"),
    [
        (ASTERISK, ALAW_FIRST, AudioSession("192.0.2.10", 18062, "PCMA", 8, 101, 20, "sendrecv")),
        (ASTERISK, ULAW_FIRST, AudioSession("192.0.2.10", 18062, "PCMU", 0, 101, 20, "sendrecv")),
        (BARESIP, ALAW_FIRST, AudioSession("192.168.1.20", 10014, "PCMA", 8, 101, 20, "sendrecv")),
        (SIPP, ALAW_FIRST, AudioSession("127.0.0.1", 6000, "PCMU", 0, None, 20, "sendrecv")),
        (CISCO, ULAW_FIRST, AudioSession("10.20.30.42", 17210, "PCMA", 8, 101, 20, "sendrecv")),
        (ICE, ULAW_FIRST, AudioSession("198.51.100.7", 7078, "PCMU", 0, 101, 20, "recvonly", 1)),
    ],
    ids=["asterisk-alaw", "asterisk-ulaw", "baresip", "sipp", "cisco", "ice-sendonly"],
)
def test_answer_picks_our_codec_and_keeps_offer_payload_types(
    body: str, codecs: tuple[str, ...], expected: AudioSession
) -> None:
    text, session = answer(body, codecs)
    assert session == expected
    sdp = parse_sdp(text)
    assert len(sdp.media) == len(parse_sdp(body).media)  # RFC 3264 6: one m= line each
    media = sdp.media[expected.media_index]
    events = [] if expected.telephone_event is None else [str(expected.telephone_event)]
    assert media.formats == (str(expected.payload_type), *events)
    assert media.port == 30000 and sdp.address(media) == "203.0.113.5"
    if expected.telephone_event is not None:
        assert media.fmtp(expected.telephone_event) == "0-15"
    assert sdp.direction(media) == expected.direction


def test_refused_streams_get_port_zero_and_keep_their_formats() -> None:
    text, _ = answer(ICE)
    refused = parse_sdp(text).media[0]
    assert (refused.port, refused.proto) == (0, "UDP/TLS/RTP/SAVPF")
    assert refused.formats == ("111", "0", "8", "126")


def test_video_before_audio_is_refused_and_audio_accepted() -> None:
    body = SIPP.replace("m=audio", "m=video 5000 RTP/AVP 31\r\nm=audio")
    text, session = answer(body)
    sdp = parse_sdp(text)
    assert [m.port for m in sdp.media] == [0, 30000]
    assert session.media_index == 1


@pytest.mark.parametrize(
    "body",
    [
        SIPP.replace("RTP/AVP 0", "RTP/AVP 96").replace("0 PCMU/8000", "96 opus/48000/2"),
        SIPP.replace("RTP/AVP 0", "RTP/SAVP 0"),
        SIPP.replace("m=audio 6000", "m=audio 0"),
        SIPP.replace("0 PCMU/8000", "0 PCMU/16000"),
    ],
    ids=["opus-only", "srtp", "port-zero", "wrong-clock"],
)
def test_no_usable_stream_is_488(body: str) -> None:
    with pytest.raises(SdpError) as caught:
        answer(body)
    assert caught.value.status == 488


@pytest.mark.parametrize(("ptime", "expected"), [("30", 30), ("10", 10), ("25", 20), ("x", 20)])
def test_ptime_we_send_follows_the_peer_when_usable(ptime: str, expected: int) -> None:
    _, session = answer(SIPP + f"a=ptime:{ptime}\r\n")
    assert session.ptime == expected


@pytest.mark.parametrize(
    ("offered", "ours", "answered"),
    [
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendonly", "sendrecv", "recvonly"),  # they hold us: we only listen
        ("recvonly", "sendrecv", "sendonly"),
        ("inactive", "sendrecv", "inactive"),
        ("sendrecv", "sendonly", "sendonly"),  # we hold them
        ("sendonly", "sendonly", "inactive"),
    ],
)
def test_answer_direction_mirrors_the_offer(offered: str, ours: str, answered: str) -> None:
    offer = parse_sdp(SIPP + f"a={offered}\r\n")
    sdp, session = make_answer(offer, "h", 1, session_id=1, version=1, direction=ours)  # type: ignore[arg-type]
    assert session.direction == answered
    assert sdp.direction(sdp.media[0]) == answered
    assert session.sends == (answered in ("sendrecv", "sendonly"))
    assert session.receives == (answered in ("sendrecv", "recvonly"))


@pytest.mark.parametrize(
    ("change", "held"),
    [
        ("a=sendonly", True),
        ("a=inactive", True),
        ("a=recvonly", False),
        ("a=sendrecv", False),
        ("c=IN IP4 0.0.0.0", True),  # RFC 2543 style, still seen (RFC 3264 8.4)
    ],
)
def test_reinvite_hold_detection(change: str, held: bool) -> None:
    reinvite = SIPP.replace("2353687637", "2353687638") + change + "\r\n"
    assert is_hold(parse_sdp(reinvite)) is held
    assert is_hold(parse_sdp(SIPP)) is False


def test_old_style_hold_answer_does_not_send_to_zero_address() -> None:
    _, session = answer(SIPP + "c=IN IP4 0.0.0.0\r\n")
    assert session.direction == "recvonly" and not session.sends


def test_our_offer_and_its_answer() -> None:
    offer = make_offer("10.1.1.1", 40000, session_id=9, version=1)
    media = offer.media[0]
    assert media.formats == ("0", "8", "101")
    assert media.fmtp(101) == "0-15" and media.ptime == 20
    reply, theirs = make_answer(
        parse_sdp(offer.serialize()),
        "10.2.2.2",
        50000,
        session_id=3,
        version=1,
        codecs=ALAW_FIRST,
    )
    assert theirs == AudioSession("10.1.1.1", 40000, "PCMA", 8, 101, 20, "sendrecv")
    ours = accept_answer(offer, parse_sdp(reply.serialize()))
    assert ours == AudioSession("10.2.2.2", 50000, "PCMA", 8, 101, 20, "sendrecv")


def test_our_hold_offer_is_answered_recvonly() -> None:
    offer = make_offer("10.1.1.1", 40000, session_id=9, version=2, direction="sendonly")
    reply, _ = make_answer(offer, "10.2.2.2", 50000, session_id=3, version=2)
    assert is_hold(offer)
    assert accept_answer(offer, reply).direction == "sendonly"


def test_answer_without_events_disables_them() -> None:
    offer = make_offer("10.1.1.1", 40000, session_id=9, version=1)
    session = accept_answer(offer, parse_sdp(SIPP))
    assert session.telephone_event is None and session.codec == "PCMU"


def test_bad_answers_are_488() -> None:
    offer = make_offer("10.1.1.1", 40000, session_id=9, version=1)
    for body in (SIPP.replace("m=audio 6000", "m=audio 0"), SIPP + "m=audio 7000 RTP/AVP 0\r\n"):
        with pytest.raises(SdpError) as caught:
            accept_answer(offer, parse_sdp(body))
        assert caught.value.status == 488
