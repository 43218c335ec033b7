"""RFC 4733 telephone-events: the payload, a digit sender and a one-digit-per-event receiver.

Payload (RFC 4733 section 2.3): event (8 bits), E (end), R (reserved), volume (6 bits, -dBm0),
duration (16 bits, in timestamp units since the event's start).

Sender (section 2.5.1): every packet of an event carries the event's start as its timestamp;
the first has the marker bit; updates follow every packet interval with a growing duration;
the final packet (E set) goes out three times (section 2.5.1.4), each with its own sequence
number. An event longer than the 16-bit duration (8.2 s at 8 kHz) is cut into segments
(2.5.1.3): a new timestamp, no marker, duration anew; a segment's last packet goes out once
here, not three times (a key held that long is rare and the next segment follows at once).

Receiver (section 2.5.2): an event is known by its timestamp, so a lost marker, lost updates,
lost or repeated end packets, and reordering all still give exactly one digit per event.
"""

from __future__ import annotations

import struct
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import Enum

from helpline.media.rtp import TS_MOD, RtpError, RtpPacket, RtpSender

DIGITS = "0123456789*#ABCD"  # events 0-15 (RFC 4733 section 3.2, Table 7)
MAX_DURATION = 0xFFFF
END_REPEATS = 3
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return DIGITS[self.event] if self.event < len(DIGITS) else None


def encode_event(event: TelephoneEvent) -> bytes:
    if not 0 <= event.event <= 255:
        raise RtpError(f"event: must be 0..255, got {event.event}")
    if not 0 <= event.volume <= 63:
        raise RtpError(f"volume: must be 0..63 (-dBm0), got {event.volume}")
    if not 0 <= event.duration <= MAX_DURATION:
        raise RtpError(f"duration: must be 0..65535, got {event.duration}")
    return _PAYLOAD.pack(event.event, (event.end << 7) | event.volume, event.duration)


def decode_event(payload: bytes) -> TelephoneEvent:
    """The first event block of a payload. The R bit is ignored, as 2.3 asks receivers to."""
    if len(payload) < _PAYLOAD.size:
        raise RtpError(f"payload: a telephone-event needs 4 octets, got {len(payload)}")
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def digit_event(digit: str) -> int:
    index = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise RtpError(f"digit: must be one of {DIGITS}, got {digit!r}")
    return index


class _SenderState(Enum):
    IDLE = "idle"
    SENDING = "sending"
    ENDING = "ending"


class DigitSender:
    """Sends one digit at a time over an `RtpSender` shared with the audio stream.

    Driven by the shell's packet clock: `start(digit)` when the key goes down, `tick()` every
    `interval` samples (each returns the packets to send now), `stop()` when it goes up. After
    `stop()` the next two ticks repeat the end packet. While `busy`, the shell sends no audio
    on the stream (the events stand for the tone); the stream's timestamp is moved past the
    event at `stop()`, so audio resumes on continuous time.
    """

    def __init__(
        self, stream: RtpSender, *, payload_type: int, interval: int = 160, volume: int = 10
    ) -> None:
        self.stream = stream
        self.payload_type = payload_type
        self.interval = interval
        self.volume = volume
        self.state = _SenderState.IDLE
        self._event = 0
        self._timestamp = 0
        self._duration = 0
        self._repeats_left = 0

    @property
    def busy(self) -> bool:
        return self.state is not _SenderState.IDLE

    def _packet(self, *, end: bool, marker: bool = False) -> RtpPacket:
        payload = encode_event(TelephoneEvent(self._event, end, self.volume, self._duration))
        return self.stream.packet_at(
            self._timestamp, payload, marker=marker, payload_type=self.payload_type
        )

    def start(self, digit: str) -> list[RtpPacket]:
        if self.busy:
            raise RtpError("digit: the previous digit has not finished sending")
        self._event = digit_event(digit)
        self._timestamp = self.stream.timestamp
        self._duration = self.interval
        self.state = _SenderState.SENDING
        return [self._packet(end=False, marker=True)]

    def tick(self) -> list[RtpPacket]:
        if self.state is _SenderState.SENDING:
            duration = self._duration + self.interval
            if duration > MAX_DURATION:
                # 2.5.1.3: close this segment at the maximum and start the next one.
                self._duration = MAX_DURATION
                closing = self._packet(end=False)
                self._timestamp = (self._timestamp + MAX_DURATION) % TS_MOD
                self._duration = duration - MAX_DURATION
                return [closing, self._packet(end=False)]
            self._duration = duration
            return [self._packet(end=False)]
        if self.state is _SenderState.ENDING:
            packet = self._packet(end=True)
            self._repeats_left -= 1
            if self._repeats_left == 0:
                self.state = _SenderState.IDLE
            return [packet]
        return []

    def stop(self) -> list[RtpPacket]:
        if self.state is not _SenderState.SENDING:
            return []
        self.state = _SenderState.ENDING
        self._repeats_left = END_REPEATS - 1
        # The audio clock resumes after the event: its start plus the whole duration.
        self.stream.timestamp = self._timestamp
        self.stream.advance(self._duration)
        return [self._packet(end=True)]


def digit_packets(sender: DigitSender, digit: str, duration: int) -> list[tuple[int, RtpPacket]]:
    """The whole packet sequence of one digit lasting `duration` samples, each with the offset
    (in samples from the key press) at which to send it."""
    out = [(0, p) for p in sender.start(digit)]
    at = 0
    while at + sender.interval < duration:
        at += sender.interval
        out.extend((at, p) for p in sender.tick())
    at += sender.interval
    out.extend((at, p) for p in sender.stop())
    while sender.busy:
        at += sender.interval
        out.extend((at, p) for p in sender.tick())
    return out


@dataclass(slots=True)
class _Seen:
    timestamp: int
    event: int
    ended: bool
    duration: int


@dataclass(slots=True)
class _Source:
    """What the receiver remembers of one SSRC."""

    newest: int | None
    seen: deque[_Seen]


class DigitReceiver:
    """Turns telephone-event packets of one stream into digits, once per event.

    A digit is reported on the first packet of its event (lowest latency; its end packets may
    all be lost). Events already seen are remembered by timestamp, so end-packet repeats and
    late packets of an old event change nothing; packets of an event older than `horizon`
    samples before the newest one are dropped as stale. Each SSRC is remembered apart (the
    last `sources` of them), so late packets from before a change of source repeat nothing.
    """

    def __init__(
        self,
        *,
        payload_type: int,
        horizon: int = 8000 * 10,
        memory: int = 64,
        sources: int = 4,
    ) -> None:
        self.payload_type = payload_type
        self.horizon = horizon
        self.memory = memory
        self.sources = sources
        self._sources: OrderedDict[int, _Source] = OrderedDict()

    def _source(self, ssrc: int) -> _Source:
        source = self._sources.get(ssrc)
        if source is None:
            source = self._sources[ssrc] = _Source(None, deque(maxlen=self.memory))
            if len(self._sources) > self.sources:
                self._sources.popitem(last=False)
        self._sources.move_to_end(ssrc)
        return source

    @staticmethod
    def _is_next_segment(source: _Source, packet: RtpPacket, event: TelephoneEvent) -> bool:
        """A long event's next segment (2.5.1.3): same event, no marker, starting where the
        previous unended segment of that event reached its maximum duration."""
        if packet.marker:
            return False
        for seen in source.seen:
            start = (seen.timestamp + MAX_DURATION) % TS_MOD
            if seen.event == event.event and not seen.ended and start == packet.timestamp:
                return True
        return False

    def feed(self, packet: RtpPacket) -> list[str]:
        """Digits that start with this packet; `RtpError` if its payload is too short."""
        if packet.payload_type != self.payload_type:
            return []
        event = decode_event(packet.payload)
        source = self._source(packet.ssrc)
        for seen in source.seen:
            if seen.timestamp == packet.timestamp:
                seen.ended = seen.ended or event.end
                seen.duration = max(seen.duration, event.duration)
                return []
        if source.newest is not None:
            age = (source.newest - packet.timestamp) % TS_MOD
            if 0 < age < TS_MOD // 2 and age > self.horizon:
                return []
        if source.newest is None or 0 < (packet.timestamp - source.newest) % TS_MOD < TS_MOD // 2:
            source.newest = packet.timestamp
        continuation = self._is_next_segment(source, packet, event)
        source.seen.append(_Seen(packet.timestamp, event.event, event.end, event.duration))
        if continuation or event.digit is None:
            return []
        return [event.digit]
