"""The offer/answer model (RFC 3264) for one G.711 audio stream, over `description`.

We offer PCMU and PCMA with RFC 4733 telephone-events; we answer with the one codec we like
best among those offered (no transcoding in a relay: both sides must use the same one), keep
the offer's payload type numbers (RFC 3264 section 6.1) and refuse other streams with port 0.
Hold is a direction: sendonly or inactive from the holder, or RFC 2543's 0.0.0.0 (section 8.4).
"""

from __future__ import annotations

from dataclasses import dataclass

from helpline.sip.sdp.description import (
    CODEC_PAYLOAD_TYPES,
    DIRECTIONS,
    TELEPHONE_EVENT,
    Attribute,
    Connection,
    Direction,
    Media,
    Origin,
    SessionDescription,
)
from helpline.sip.sdp.errors import SdpError

# RFC 3264 section 6.1: the answer's direction mirrors the offer's.
_MIRROR: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


@dataclass(frozen=True, slots=True)
class AudioSession:
    """What the two sides agreed for one audio stream, from our point of view."""

    remote_address: str
    remote_port: int
    codec: str  # "PCMU" or "PCMA"
    payload_type: int
    telephone_event: int | None  # the RFC 4733 payload type, when both sides have it
    ptime: int  # milliseconds of audio per packet we send (the peer's a=ptime, else 20)
    direction: Direction  # ours: "sendonly" means we send and do not expect to receive
    media_index: int = 0

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


def _combine(ours: Direction, theirs_mirrored: Direction) -> Direction:
    """A stream sends only if both sides allow it, and likewise receives (RFC 3264 6.1)."""
    send = ours in ("sendrecv", "sendonly") and theirs_mirrored in ("sendrecv", "sendonly")
    receive = ours in ("sendrecv", "recvonly") and theirs_mirrored in ("sendrecv", "recvonly")
    return DIRECTIONS[(not send) * 2 + (not receive)] if send or receive else "inactive"


def _telephone_event(media: Media) -> int | None:
    for pt, rtpmap in media.rtpmaps().items():
        if rtpmap.encoding.lower() == TELEPHONE_EVENT and rtpmap.clock_rate == 8000:
            return pt
    return None


def _usable_ptime(media: Media) -> int:
    """The peer's a=ptime if it is a whole number of 10 ms frames we can send, else 20."""
    ptime = media.ptime
    return ptime if ptime is not None and ptime in (10, 20, 30, 40, 50, 60) else 20


def _pick_codec(media: Media, preference: tuple[str, ...]) -> tuple[str, int] | None:
    """Our most preferred codec among those offered, or None (then the stream is refused)."""
    if media.kind != "audio" or media.port == 0 or media.proto not in ("RTP/AVP", "RTP/AVPF"):
        return None
    offered = {
        m.encoding.upper(): pt
        for pt, m in media.rtpmaps().items()
        if m.clock_rate == 8000 and m.channels == 1
    }
    for codec in preference:
        if codec in offered:
            return codec, offered[codec]
    return None


def audio_media(
    port: int,
    *,
    codecs: tuple[str, ...] = ("PCMU", "PCMA"),
    telephone_event: int | None = 101,
    ptime: int = 20,
    direction: Direction = "sendrecv",
    payload_types: dict[str, int] | None = None,
) -> Media:
    """An m=audio section offering `codecs` (in preference order) and RFC 4733 events."""
    types = payload_types or CODEC_PAYLOAD_TYPES
    formats = [str(types[c]) for c in codecs]
    attributes: list[Attribute] = [("rtpmap", f"{types[c]} {c}/8000") for c in codecs]
    if telephone_event is not None:
        formats.append(str(telephone_event))
        attributes += [
            ("rtpmap", f"{telephone_event} {TELEPHONE_EVENT}/8000"),
            ("fmtp", f"{telephone_event} 0-15"),
        ]  # RFC 4733 section 7.1.1
    attributes += [("ptime", str(ptime)), (direction, None)]
    return Media("audio", port, "RTP/AVP", tuple(formats), attributes=tuple(attributes))


def make_offer(
    address: str,
    port: int,
    *,
    session_id: int,
    version: int,
    codecs: tuple[str, ...] = ("PCMU", "PCMA"),
    telephone_event: int | None = 101,
    ptime: int = 20,
    direction: Direction = "sendrecv",
) -> SessionDescription:
    """Our offer (an INVITE, or a re-INVITE with `version` one higher: RFC 3264 section 8)."""
    address_type = "IP6" if ":" in address else "IP4"
    return SessionDescription(
        origin=Origin("helpline", session_id, version, address, address_type),
        name="helpline",
        connection=Connection(address, address_type),
        media=(
            audio_media(
                port,
                codecs=codecs,
                telephone_event=telephone_event,
                ptime=ptime,
                direction=direction,
            ),
        ),
    )


def make_answer(
    offer: SessionDescription,
    address: str,
    port: int,
    *,
    session_id: int,
    version: int,
    codecs: tuple[str, ...] = ("PCMU", "PCMA"),
    direction: Direction = "sendrecv",
    ptime: int = 20,
) -> tuple[SessionDescription, AudioSession]:
    """Answer an offer: accept its first audio stream that has one of our `codecs` (picked by
    our preference) and refuse every other m= line with port 0, keeping their order (RFC 3264
    section 6). A hold offer (sendonly) gets recvonly back. No usable stream: 488."""
    session: AudioSession | None = None
    answered: list[Media] = []
    for index, media in enumerate(offer.media):
        picked = _pick_codec(media, codecs) if session is None else None
        if picked is None:  # 6: a refused stream keeps its formats, with port zero
            answered.append(Media(media.kind, 0, media.proto, media.formats))
            continue
        codec, payload_type = picked
        event = _telephone_event(media)
        ours = _combine(direction, _MIRROR[offer.direction(media)])
        address_of_peer = offer.address(media)
        if address_of_peer in ("0.0.0.0", "::"):  # RFC 3264 8.4's old form of hold
            ours = _combine(ours, "recvonly")
        answered.append(
            audio_media(
                port,
                codecs=(codec,),
                telephone_event=event,
                ptime=ptime,
                direction=ours,
                payload_types={codec: payload_type},
            )
        )
        session = AudioSession(
            address_of_peer,
            media.port,
            codec,
            payload_type,
            event,
            _usable_ptime(media),
            ours,
            index,
        )
    if session is None:
        raise SdpError("no audio stream with a codec we support (PCMU, PCMA)", status=488)
    address_type = "IP6" if ":" in address else "IP4"
    answer = SessionDescription(
        origin=Origin("helpline", session_id, version, address, address_type),
        name="helpline",
        connection=Connection(address, address_type),
        media=tuple(answered),
    )
    return answer, session


def accept_answer(offer: SessionDescription, answer: SessionDescription) -> AudioSession:
    """The stream an answer to our offer agreed on (RFC 3264 section 7: same m= lines)."""
    if len(answer.media) != len(offer.media):
        raise SdpError(
            f"answer: {len(answer.media)} m= lines for the offer's {len(offer.media)}", status=488
        )
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        offered = tuple(m.encoding.upper() for m in ours.rtpmaps().values())
        picked = _pick_codec(theirs, offered)
        if picked is None:
            continue
        codec, payload_type = picked
        mine = _combine(offer.direction(ours), _MIRROR[answer.direction(theirs)])
        event = _telephone_event(theirs) if _telephone_event(ours) is not None else None
        return AudioSession(
            answer.address(theirs),
            theirs.port,
            codec,
            payload_type,
            event,
            _usable_ptime(theirs),
            mine,
            index,
        )
    raise SdpError("answer: no audio stream accepted with a codec we offered", status=488)


def is_hold(description: SessionDescription) -> bool:
    """Whether a (re-)offer puts us on hold: its audio is sendonly or inactive, or its
    connection address is 0.0.0.0 (RFC 3264 section 8.4, and RFC 2543 before it)."""
    for media in description.media:
        if media.kind != "audio" or media.port == 0:
            continue
        if description.direction(media) in ("sendonly", "inactive"):
            return True
        return description.address(media) in ("0.0.0.0", "::")
    return False
