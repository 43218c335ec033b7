"""A recorded call whose legs are both ours (callout, click-to-call, callback: issue 7).

Unrecorded, such a call is relayed packet by packet (`OutboundCalls._bridge`). When the
engine's `Bridge` says `record` (seed 004 "Recording permissions": the queue records, or the
call's permission was granted), both relay sockets are handed to our endpoints instead, as
the B2BUA does for a recorded trunk call (`media.CallMedia`): each endpoint decodes what its
leg sends and gives it to the other to send on its own packet clock, and the customer's
endpoint writes both directions to one stereo WAV: customer left, agent right (seed 004), the
same layout as every other recording. The relay's latched addresses carry over (symmetric
RTP, RFC 4961), so a phone behind NAT keeps hearing us.
"""

from __future__ import annotations

import random
from pathlib import Path

from helpline.media.wav import StereoWavRecorder
from helpline.sip.sdp import AudioSession
from helpline.telephony.rtp.endpoint import RtpEndpoint
from helpline.telephony.rtp.relay import Leg, RtpRelay

RATE = 8000


class OutboundRecording:
    """Both legs terminated in endpoints on the relay's sockets, recorded; `close` at the end."""

    def __init__(
        self,
        relay: RtpRelay,
        *,
        agent: AudioSession,
        customer: AudioSession,
        path: Path,
        rng: random.Random,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.recorder = StereoWavRecorder(path, RATE)
        self.agent = self._take(relay, "a", agent, rng)  # relay leg A faces the agent
        self.customer = self._take(relay, "b", customer, rng)
        self.customer.record(self.recorder, remote_side="caller")  # the customer: left
        self.agent.on_audio, self.customer.on_audio = self.customer.feed, self.agent.feed
        self._closed = False

    @staticmethod
    def _take(relay: RtpRelay, leg: Leg, session: AudioSession, rng: random.Random) -> RtpEndpoint:
        endpoint = RtpEndpoint(session, rng=rng)
        stats = relay.stats(leg)
        if stats.latched and stats.peer is not None:
            endpoint.remote, endpoint.latched = stats.peer, True
        transport = relay.transport(leg)
        assert transport is not None
        transport.set_protocol(endpoint)
        endpoint.connection_made(transport)
        endpoint.start()
        return endpoint

    def received(self) -> int:
        """Datagrams in on either socket since the endpoints took them (the media timeout)."""
        return sum(e.packets_received + e.dropped for e in (self.agent, self.customer))

    def close(self) -> float | None:
        """Stop both endpoints (the relay closes the sockets); the recording's seconds."""
        if self._closed:
            return None
        self._closed = True
        for endpoint in (self.agent, self.customer):
            endpoint.pause()
        return self.recorder.close()
