"""An RTP endpoint for a SIP leg that talks to Helpline's own media: prompts, hold music, digits,
live audio from the engine (e.g. a WebRTC agent), recording.

Sending: one `RtpSender` (one SSRC, continuous sequence numbers and timestamps) driven by the
shared packet clock every `ptime` (packet_clock.py: one timer for every leg). Each tick sends,
in this order of precedence, an RFC 4733 digit packet, the next frame of the current playback
(prompt or looping music), live audio fed by `feed`, or silence
(helpline.telephony.rtp.leg_audio). Silence is sent rather than nothing so that the peer's
jitter buffer and any NAT or latching relay on the way keep seeing us (RFC 4961's symmetric
RTP relies on it). The clock is scheduled on absolute times (start + n * ptime), so it does
not drift; after a stall longer than 200 ms it skips ahead (timestamps too: the gap is real
time).

Receiving: symmetric RTP as in the relay (send to where the peer's packets come from). Audio
of the negotiated codec is decoded and handed to `on_audio`, to the recorder and to an in-band
DTMF detector; telephone-events go to a `DigitReceiver`. The in-band detector is the fallback
for peers without RFC 4733: once an event packet arrives, it is no longer fed, or a phone
sending both (some do) would report each key twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from helpline.media.dtmf import DtmfDetector
from helpline.media.g711 import Pcm, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from helpline.media.rfc4733 import DigitReceiver, DigitSender
from helpline.media.rtp import ReceiveStatistics, RtpError, RtpPacket, parse_rtp
from helpline.media.rtp import RtpSender as SequenceClock
from helpline.media.wav import Side, StereoWavRecorder
from helpline.sip.sdp import AudioSession
from helpline.telephony.rtp.leg_audio import RATE, LegRecording, OutboundAudio
from helpline.telephony.rtp.packet_clock import PacketClock
from helpline.telephony.rtp.prompts import PromptCache
from helpline.telephony.rtp.relay import Address, bound_socket, looks_like_rtp

log = logging.getLogger("helpline.rtp")

DigitSource = Literal["rfc4733", "inband"]
DigitCallback = Callable[[str, DigitSource], None]
AudioCallback = Callable[[Pcm], None]
SequencedAudio = Callable[[int, Pcm], None]  # (RTP sequence number, decoded audio)
_CODECS = {"PCMU": (ulaw_encode, ulaw_decode), "PCMA": (alaw_encode, alaw_decode)}


@dataclass(frozen=True, slots=True)
class EndpointStats:
    packets_sent: int
    packets_received: int
    dropped: int  # not RTP, from a stranger, or of a payload type we did not agree on
    lost: int
    jitter_ms: float


class RtpEndpoint(asyncio.DatagramProtocol):
    """One SIP leg's media, terminated here. Open with `await RtpEndpoint.open(...)`."""

    def __init__(
        self,
        session: AudioSession,
        *,
        rng: random.Random,
        on_digit: DigitCallback | None = None,
        on_audio: AudioCallback | None = None,
    ) -> None:
        self.session = session
        self.frame_size = RATE * session.ptime // 1000
        self.encode, self.decode = _CODECS[session.codec]
        self.remote: Address = (session.remote_address, session.remote_port)
        self.on_digit = on_digit
        self.on_audio = on_audio
        self.on_sequenced: SequencedAudio | None = None  # a playout buffer's (bridge.links)
        self.clock = SequenceClock.random(rng, payload_type=session.payload_type)
        self.digit_sender: DigitSender | None = None
        self.digit_receiver: DigitReceiver | None = None
        if session.telephone_event is not None:
            self.digit_sender = DigitSender(
                self.clock, payload_type=session.telephone_event, interval=self.frame_size
            )
            self.digit_receiver = DigitReceiver(payload_type=session.telephone_event)
        # made on the first audio that needs it: its filter bank costs more than the rest of
        # the endpoint, and a queued caller bridged at once never sends any audio here
        self._detector: DtmfDetector | None = None
        self.statistics = ReceiveStatistics(RATE)
        self.transport: asyncio.DatagramTransport | None = None
        self.latched = False
        self.refused: Address | None = None  # the peer we were latched to before a move
        self.events_seen = False
        self.packets_sent = self.packets_received = self.dropped = 0
        self.outbound = OutboundAudio(self.frame_size)
        self._digits: deque[tuple[str, int]] = deque()  # (digit, frames left to hold it)
        self._digit_frames = 0
        self._first_packet = True
        self._packet_clock: PacketClock | None = None  # while we send (`start`, `pause`)
        self._recording: LegRecording | None = None

    @classmethod
    async def open(
        cls,
        session: AudioSession,
        host: str = "0.0.0.0",
        port: int = 0,
        *,
        rng: random.Random,
        on_digit: DigitCallback | None = None,
        on_audio: AudioCallback | None = None,
    ) -> RtpEndpoint:
        """Bind the leg's socket (port 0: any free one) and start the packet clock."""
        loop = asyncio.get_running_loop()
        endpoint = cls(session, rng=rng, on_digit=on_digit, on_audio=on_audio)
        sock = bound_socket(host, port)  # no address resolution for an IP literal
        if sock is None:
            await loop.create_datagram_endpoint(lambda: endpoint, local_addr=(host, port))
        else:
            try:
                await loop.create_datagram_endpoint(lambda: endpoint, sock=sock)
            except BaseException:
                sock.close()
                raise
        endpoint.start()
        return endpoint

    def start(self) -> None:
        """Run the packet clock (`open` does; again after `pause`: the same stream)."""
        if self._packet_clock is None:
            self._packet_clock = PacketClock.of(self.session.ptime)
            self._packet_clock.join(self)

    @property
    def running(self) -> bool:
        return self._packet_clock is not None

    def pause(self) -> None:
        """Stop sending (and what was playing) but keep the socket: another protocol may
        have the transport meanwhile (`set_protocol`; a SIP bridge hands it to the relay)."""
        self.stop_playback()
        self._leave_clock()

    def _leave_clock(self) -> None:
        if self._packet_clock is not None:
            self._packet_clock.leave(self)
            self._packet_clock = None

    def update(self, session: AudioSession) -> None:
        """A re-INVITE's outcome: hold (direction), moved media (address), another codec.
        The packet clock runs on: same SSRC, continuous sequence numbers and timestamps."""
        if (session.remote_address, session.remote_port) != (
            self.session.remote_address,
            self.session.remote_port,
        ):
            moved_to = (session.remote_address, session.remote_port)
            if self.latched:  # its packets still in flight must not latch us back (relay.py)
                self.refused = self.remote
            self.remote, self.latched = moved_to, False
            if self.refused == moved_to:
                self.refused = None
        self.encode, self.decode = _CODECS[session.codec]
        self.clock.payload_type = session.payload_type
        if session.ptime != self.session.ptime:
            log.info("rtp endpoint: ptime change to %s ms ignored mid-call", session.ptime)
        self.session = replace(session, ptime=self.session.ptime)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    # --- sending ---------------------------------------------------------------------

    def play(self, samples: npt.ArrayLike, *, loop: bool = False) -> asyncio.Future[None]:
        """Queue 8 kHz int16 audio after what is playing; the future resolves when it has
        been sent (a looping one only when stopped)."""
        pcm = np.asarray(samples)
        if pcm.dtype != np.int16:
            raise TypeError(f"samples: expected int16, got {pcm.dtype}")
        return self.outbound.play(pcm, loop=loop)

    async def say(self, prompts: PromptCache, text: str, voice: str = "en-us") -> None:
        """Speak `text` (rendered once, then cached) and return when it has been sent."""
        await self.play(await prompts.speak(text, voice))

    def start_hold_music(self, prompts: PromptCache) -> asyncio.Future[None]:
        """Loop the hold music until `stop_playback` (the future resolves then)."""
        return self.play(prompts.hold_music(), loop=True)

    def stop_playback(self) -> None:
        """Stop what is playing and drop what is queued (a caller pressed a key: barge-in)."""
        self.outbound.stop()

    def feed(self, samples: Pcm) -> None:
        """Live 8 kHz audio to send when no playback runs (at most 200 ms queued)."""
        self.outbound.feed(samples)

    @property
    def live_queued(self) -> int:
        """Samples of live audio fed and not sent yet (a feeder's underrun check)."""
        return self.outbound.live_queued

    def drop_live(self) -> None:
        """Forget the live audio not sent yet (its speaker left: a transfer, hold)."""
        self.outbound.drop_live()

    def send_digit(self, digit: str, duration_ms: int = 100) -> None:
        """Send a key press as RFC 4733 events (needs telephone-event in the SDP)."""
        if self.digit_sender is None:
            raise RtpError("digit: the peer did not agree on telephone-event")
        self._digits.append((digit, max(1, duration_ms // self.session.ptime)))

    def _digit_packets(self) -> list[RtpPacket] | None:
        """This tick's RFC 4733 packets, or None when no digit is being sent."""
        sender = self.digit_sender
        if sender is None:
            return None
        if sender.busy:
            if self._digit_frames > 1:
                self._digit_frames -= 1
                return sender.tick()
            if self._digit_frames == 1:
                self._digit_frames = 0
                return sender.stop()
            packets = sender.tick()  # the end packet's repeats (RFC 4733 2.5.1.4)
            self.clock.advance(self.frame_size)
            return packets
        if self._digits:
            digit, self._digit_frames = self._digits.popleft()
            return sender.start(digit)
        return None

    def tick(self) -> None:
        transport = self.transport
        sending = transport is not None and self.session.sends
        if self._recording is not None or not sending:
            audio = self.outbound.next_frame()
            if self._recording is not None:
                self._recording.outbound(audio)
            if not sending:
                # On hold: no packet, so no sequence number used (RFC 3550 5.1 counts packets
                # sent), but the timestamp follows the clock, and the next packet is marked as
                # a talkspurt's first so the peer's jitter buffer resynchronizes.
                self.clock.advance(self.frame_size)
                self._first_packet = True
                return
            payload = self.encode(audio)
        else:  # taken while a digit is sent too: the playback runs on under the digit
            payload = self.outbound.next_payload(self.encode)
        assert transport is not None
        packets = self._digit_packets()
        if packets is None:
            marker, self._first_packet = self._first_packet, False
            data = self.clock.stamp(payload, samples=self.frame_size, marker=marker)
            transport.sendto(data, self.remote)
            self.packets_sent += 1
            return
        for packet in packets:
            transport.sendto(packet.serialize(), self.remote)
            self.packets_sent += 1

    def skip(self, ticks: int) -> None:
        """The packet clock stalled: the lost time passes unsent (`packet_clock.py`)."""
        self.clock.advance(ticks * self.frame_size)

    # --- receiving ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A datagram endpoint's transport (uvloop's UDPTransport is not a registered subclass).
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if not self.latched and looks_like_rtp(data) and addr[:2] != self.refused:
            self.remote, self.latched = (addr[0], addr[1]), True  # symmetric RTP (RFC 4961)
        elif addr[:2] != self.remote:
            self.dropped += 1
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.dropped += 1
            return
        self.packets_received += 1
        if self.digit_receiver is not None and packet.payload_type == self.session.telephone_event:
            self.events_seen = True
            try:
                digits = self.digit_receiver.feed(packet)
            except RtpError:
                self.dropped += 1
                return
            for digit in digits:
                self._report(digit, "rfc4733")
            return
        if packet.payload_type != self.session.payload_type:
            self.dropped += 1  # comfort noise and the like: nothing we play or record
            return
        self.statistics.update(packet, asyncio.get_running_loop().time())
        pcm = self.decode(packet.payload)
        if self._recording is not None:
            self._recording.inbound(packet.timestamp, pcm)
        if self.on_audio is not None:
            self.on_audio(pcm)
        if self.on_sequenced is not None:
            self.on_sequenced(packet.sequence, pcm)
        if not self.events_seen:
            for digit in self.detector.feed(pcm):
                self._report(digit, "inband")

    @property
    def detector(self) -> DtmfDetector:
        """The in-band DTMF detector (the fallback for peers without RFC 4733)."""
        if self._detector is None:
            self._detector = DtmfDetector()
        return self._detector

    def _report(self, digit: str, source: DigitSource) -> None:
        if self.on_digit is not None:
            self.on_digit(digit, source)

    def error_received(self, exc: Exception) -> None:
        self.dropped += 1  # ICMP unreachable: the peer is gone or not up yet

    # --- recording ---------------------------------------------------------------------

    def record(self, recorder: StereoWavRecorder, *, remote_side: Side = "caller") -> None:
        """Record both directions from now on: the peer on `remote_side`, us on the other."""
        self._recording = LegRecording(recorder, remote_side, self.frame_size)

    def stop_recording(self) -> None:
        self._recording = None

    # --- life cycle ---------------------------------------------------------------------

    def stats(self) -> EndpointStats:
        report = self.statistics.report()
        return EndpointStats(
            self.packets_sent,
            self.packets_received,
            self.dropped,
            report.lost if report.valid else 0,
            report.jitter / RATE * 1000 if report.valid else 0.0,
        )

    def close(self) -> None:
        self.stop_playback()
        self._leave_clock()
        if self.transport is not None:
            self.transport.close()
        self.release()

    def release(self) -> None:
        """Forget the transport and the callbacks, once the socket is closed (by `close`, or
        by its owner when it is shared: `sip/media.py`). A transport and its protocol hold
        each other, and so do an endpoint and whoever its callbacks are methods of: cycles
        that wait for the garbage collector, whose pauses grow with what waits (at 400 SIP
        calls/s, every call's media; bench/README.md, `bench_sip.py`)."""
        self.transport = None
        self.on_digit = self.on_audio = self.on_sequenced = None
