"""In-band DTMF on a browser leg: Goertzel detection (helpline.media.dtmf, tuned for 8 kHz)
on the leg's 48 kHz audio, for pages that do not send their keys as messages. Used where the
leg's media run: in this process (the adapter) or in a media worker (`worker_media`)."""

from __future__ import annotations

from collections.abc import Callable

from helpline.media.dtmf import DtmfDetector
from helpline.media.tones import Resampler
from helpline.telephony.webrtc.audio import RATE, Samples

DTMF_RATE = 8000


def inband_detector(emit: Callable[[str], None]) -> Callable[[Samples], None]:
    """A listener for a leg's one reader that calls `emit(digit)` for each key it hears."""
    detector = DtmfDetector(DTMF_RATE)
    resampler = Resampler(RATE, DTMF_RATE)

    def feed(samples: Samples) -> None:
        for digit in detector.feed(resampler.process(samples)):
            emit(digit)

    return feed
