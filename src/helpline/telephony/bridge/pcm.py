"""Narrowband to wideband and back: G.711's 8 kHz and the browser legs' 48 kHz.

Each direction is one streaming polyphase resampler (`helpline.media.tones.Resampler`): a
proper low-pass both ways, so the 4-24 kHz that Opus carries does not fold into the telephone
band (where a DTMF detector or the caller would hear it), and the filter's history carries
from one 20 ms frame to the next, so frames join without clicks. All numpy: no per-sample
Python loop on the media path (issue 6 pitfall).
"""

from __future__ import annotations

from helpline.media.g711 import Pcm
from helpline.media.tones import Resampler

NARROW = 8000  # G.711 (RFC 3551 4.5.14)
WIDE = 48000  # what every browser leg sends and hears (telephony/webrtc/audio.py)


class Transcoder:
    """One bridged pair's two resamplers: one stream each way, state kept between frames."""

    def __init__(self) -> None:
        self._up = Resampler(NARROW, WIDE)
        self._down = Resampler(WIDE, NARROW)

    def widen(self, narrow: Pcm) -> Pcm:
        """8 kHz samples (a G.711 packet's, decoded) as 48 kHz: six times as many."""
        return self._up.process(narrow)

    def narrow(self, wide: Pcm) -> Pcm:
        """48 kHz samples (a browser's frame) as 8 kHz: a sixth as many (a remainder shorter
        than six samples waits for the next frame)."""
        return self._down.process(wide)
