"""RTP media for SIP legs, on asyncio datagram endpoints (uvloop or the default loop).

- `relay`: `RtpRelay` bridges two SIP legs packet by packet, with latching (RFC 4961).
- `endpoint`: `RtpEndpoint` terminates a leg: prompts, hold music, live audio, RFC 4733 and
  in-band digits, stereo recording.
- `prompts`: `PromptCache` renders spoken prompts once (espeak-ng, sox) and loads WAV files,
  all at 8 kHz for G.711.
"""

from helpline.telephony.rtp.endpoint import EndpointStats, RtpEndpoint
from helpline.telephony.rtp.prompts import PromptCache, PromptError, read_wav_8k
from helpline.telephony.rtp.relay import LegStats, RtpRelay, looks_like_rtp

__all__ = [
    "EndpointStats",
    "LegStats",
    "PromptCache",
    "PromptError",
    "RtpEndpoint",
    "RtpRelay",
    "looks_like_rtp",
    "read_wav_8k",
]
