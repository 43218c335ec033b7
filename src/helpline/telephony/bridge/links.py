"""The two joins of a SIP leg's media to a browser leg's, each a pair of numpy pipelines:

- `LineLink`: a trunk's caller (the B2BUA's endpoint on the caller's socket) and a browser
  agent's line. The caller's decoded G.711 is widened to 48 kHz into `voice`, which the
  agent's outgoing track plays (`WebRtcTelephony.join_line`); what the agent's line reader
  hears is narrowed to 8 kHz and fed to the endpoint, which sends it on its own packet clock
  (one SSRC, continuous sequence numbers and timestamps: RFC 3550 5.1). The caller's RFC
  4733 and in-band keys keep reaching the engine: the endpoint still receives every packet.
- `CallerLink`: a browser caller and a SIP leg we dialled for it (an agent's SIP phone, an
  agent's number or an external number through the trunk), the same pipelines the other way
  round; the caller's side of a recording is the web call's own, the SIP side is added here.

Both directions go through `playout`: a jitter buffer keyed by RTP sequence number on the
way to the browser, whole 20 ms packets (40 ms ahead after an underrun) on the way to SIP.

Neither link reads an aiortc track: each hangs off its leg's one reader (`Leg.listeners`) or
is pulled by its leg's one outgoing track, so no track ever has two consumers (issue 6).
"""

from __future__ import annotations

import logging

import numpy as np

from helpline.media.g711 import Pcm
from helpline.media.tones import dtmf_tone
from helpline.telephony.bridge.pcm import NARROW, Transcoder
from helpline.telephony.bridge.playout import FrameFeeder, Playout
from helpline.telephony.rtp.endpoint import RtpEndpoint
from helpline.telephony.webrtc.adapter import WebCall
from helpline.telephony.webrtc.audio import Feed, Samples
from helpline.telephony.webrtc.lines import KEY_GAP_S, KEY_TONE_S  # as a browser's keypad

log = logging.getLogger("helpline.bridge")


class LineLink:
    """A SIP caller's endpoint joined to a browser agent's line (`webrtc.adapter.LineMedia`)."""

    def __init__(self, endpoint: RtpEndpoint) -> None:
        self.endpoint = endpoint
        self._codec = Transcoder()
        self.voice = Playout(self._codec)  # the caller, at 48 kHz: what the agent's line plays
        self._to_caller = FrameFeeder(endpoint)
        self.closed = False
        endpoint.on_sequenced = self.caller_said

    def caller_said(self, sequence: int, narrow: Pcm) -> None:
        if not self.closed:
            self.voice.put(sequence, narrow)

    def agent_said(self, wide: Samples) -> None:
        if not self.closed:
            self._to_caller.push(self._codec.narrow(wide))

    def agent_keys(self, digits: str) -> bool:
        """The agent's keypad towards the caller (a bank's menu further on): RFC 4733 events
        when the caller's side agreed on telephone-event, else the Q.23 tone pairs in band."""
        if self.closed:
            return False
        if self.endpoint.digit_sender is not None:
            for digit in digits:
                self.endpoint.send_digit(digit)
            return True
        gap = np.zeros(int(KEY_GAP_S * NARROW), dtype=np.int16)
        tones = [np.concatenate([dtmf_tone(d, KEY_TONE_S, NARROW), gap]) for d in digits]
        self.endpoint.play(np.concatenate(tones))
        return True

    def close(self) -> None:
        """Parted (hold, transfer, hang-up): the endpoint hears for nobody any more, and
        what this agent said and was not sent yet is dropped (after a transfer the caller
        must not hear the old agent's last 200 ms)."""
        self.closed = True
        if self.endpoint.on_sequenced == self.caller_said:
            self.endpoint.on_sequenced = None
        self._to_caller.clear()
        self.voice.clear()


class CallerLink:
    """A browser caller's call joined to an RTP endpoint on a SIP leg we dialled for it.

    `own_source`: the link is what the caller hears (a number dialled by `DialExternal`, no
    agent on the call); otherwise the SIP side is the bridged agent, heard through the call's
    `agent_voice` feed as a browser agent would be, so hold and transfers work as they do
    between two browsers.
    """

    def __init__(self, call: WebCall, endpoint: RtpEndpoint, *, own_source: bool) -> None:
        self.call = call
        self.endpoint = endpoint
        self.own_source = own_source
        self._codec = Transcoder()
        self.voice = Playout(self._codec)  # the far end, in sequence order, at 48 kHz
        self._to_far_end = FrameFeeder(endpoint)
        self.closed = False
        endpoint.on_sequenced = self.far_end_said
        call.leg.listeners.append(self.caller_said)
        if own_source:
            call.leg.out.source = _Heard(self)

    def far_end_said(self, sequence: int, narrow: Pcm) -> None:
        if not self.closed and not self.call.ended:
            self.voice.put(sequence, narrow)

    def far_end(self, n: int) -> Samples:
        """The far end's next `n` samples (48 kHz) out of the jitter buffer, recorded."""
        wide = self.voice.pull(n)
        recorder = self.call.recorder
        if recorder is not None and not self.closed:
            recorder.agent(wide)
        return wide

    def caller_said(self, wide: Samples) -> None:
        if self.closed:
            return
        if not self.own_source:  # the far end is the call's agent: heard on the caller's
            heard = self.far_end(len(wide))  # clock, through the call's agent feed
            if not self.call.held:
                self.call.agent_voice.push(heard)
        if self.call.held:
            return  # on hold the far end hears silence (the endpoint sends it)
        self._to_far_end.push(self._codec.narrow(wide))

    def close(self) -> None:
        self.closed = True
        if self.endpoint.on_sequenced == self.far_end_said:
            self.endpoint.on_sequenced = None
        if self.caller_said in self.call.leg.listeners:
            self.call.leg.listeners.remove(self.caller_said)
        self._to_far_end.clear()
        self.voice.clear()
        source = self.call.leg.out.source
        if self.own_source and isinstance(source, _Heard) and source.link is self:
            self.call.leg.out.source = Feed()  # nothing more from the far end: silence


class _Heard:
    """What a browser caller hears of a number it was sent to: pulled by its own track."""

    def __init__(self, link: CallerLink) -> None:
        self.link = link

    def pull(self, n: int) -> Samples:
        return self.link.far_end(n)
