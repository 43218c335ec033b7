"""The `webrtc` telephony adapter (issue 6): browser callers and agents with real audio."""

from helpline.telephony.webrtc.adapter import RecordingSink, WebRtcTelephony
from helpline.telephony.webrtc.legs import allow_loopback, fast_audio_level
from helpline.telephony.webrtc.signalling import agent_session, caller_session

__all__ = [
    "RecordingSink",
    "WebRtcTelephony",
    "agent_session",
    "allow_loopback",
    "caller_session",
    "fast_audio_level",
]
