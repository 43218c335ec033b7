"""SDP for SIP legs: `description` parses and serializes (RFC 8866), `negotiation` does
offer/answer for G.711 audio with RFC 4733 events and hold (RFC 3264)."""

from helpline.sip.sdp.description import (
    CODEC_PAYLOAD_TYPES,
    DIRECTIONS,
    STATIC_PAYLOAD_TYPES,
    Connection,
    Direction,
    Media,
    Origin,
    RtpMap,
    SessionDescription,
    parse_sdp,
)
from helpline.sip.sdp.errors import SdpError
from helpline.sip.sdp.negotiation import (
    AudioSession,
    accept_answer,
    audio_media,
    is_hold,
    make_answer,
    make_offer,
)

__all__ = [
    "CODEC_PAYLOAD_TYPES",
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "AudioSession",
    "Connection",
    "Direction",
    "Media",
    "Origin",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "accept_answer",
    "audio_media",
    "is_hold",
    "make_answer",
    "make_offer",
    "parse_sdp",
]
