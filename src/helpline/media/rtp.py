"""RTP packets (RFC 3550 section 5.1), an outgoing sequence/timestamp generator, and the
receiver's statistics of RFC 3550 Appendix A.1 (sequence validation), A.3 (loss) and A.8
(interarrival jitter).

Sans-I/O: the parser takes bytes and returns a frozen `RtpPacket` or raises `RtpError`;
arrival times and the random initial values are arguments.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from helpline.core.errors import ClientError

RTP_VERSION = 2
_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
_EXTENSION_HEADER = struct.Struct("!HH")  # profile-defined id, length in 32-bit words
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


class RtpError(ClientError):
    """A datagram that is not a valid RTP packet (RFC 3550 section 5.1, A.1)."""

    code = "bad_rtp"


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """The header extension of RFC 3550 section 5.3.1: a profile id and 32-bit-aligned data."""

    profile: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. `padding` is the number of padding octets (0: the P bit is clear)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0
    version: int = RTP_VERSION

    def __post_init__(self) -> None:
        # Checked here so that serialize() can never produce what parse_rtp() would refuse.
        if self.version != RTP_VERSION:
            raise RtpError(f"version: must be 2, got {self.version}")
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload_type: must be 0..127, got {self.payload_type}")
        if not 0 <= self.sequence < SEQ_MOD:
            raise RtpError(f"sequence: must be 0..65535, got {self.sequence}")
        if not 0 <= self.timestamp < TS_MOD:
            raise RtpError(f"timestamp: must be 0..2**32-1, got {self.timestamp}")
        if not 0 <= self.ssrc < TS_MOD:
            raise RtpError(f"ssrc: must be 0..2**32-1, got {self.ssrc}")
        if len(self.csrc) > 15 or any(not 0 <= c < TS_MOD for c in self.csrc):
            raise RtpError("csrc: at most 15 identifiers, each 0..2**32-1")
        if not 0 <= self.padding <= 255:
            raise RtpError(f"padding: must be 0..255 octets, got {self.padding}")
        if self.extension is not None and (
            len(self.extension.data) % 4 or not 0 <= self.extension.profile < SEQ_MOD
        ):
            raise RtpError("extension: data must be a multiple of 4 octets, profile 0..65535")

    def serialize(self) -> bytes:
        first = (self.version << 6) | ((self.padding > 0) << 5) | len(self.csrc)
        first |= (self.extension is not None) << 4
        second = (self.marker << 7) | self.payload_type
        parts = [_HEADER.pack(first, second, self.sequence, self.timestamp, self.ssrc)]
        parts.extend(struct.pack("!I", c) for c in self.csrc)
        if self.extension is not None:
            words = len(self.extension.data) // 4
            parts.append(_EXTENSION_HEADER.pack(self.extension.profile, words))
            parts.append(self.extension.data)
        parts.append(self.payload)
        if self.padding:
            # RFC 3550 5.1: the last padding octet counts the padding octets, itself included.
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet; anything malformed raises `RtpError` (and nothing else)."""
    if len(data) < _HEADER.size:
        raise RtpError(f"packet: {len(data)} octets is shorter than the 12-octet RTP header")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    version = first >> 6
    if version != RTP_VERSION:
        raise RtpError(f"version: must be 2, got {version}")
    csrc_count = first & 0x0F
    offset = _HEADER.size + 4 * csrc_count
    if len(data) < offset:
        raise RtpError(f"csrc: {csrc_count} identifiers do not fit in {len(data)} octets")
    csrc = struct.unpack_from(f"!{csrc_count}I", data, _HEADER.size)
    extension = None
    if first & 0x10:
        if len(data) < offset + _EXTENSION_HEADER.size:
            raise RtpError("extension: header extension is truncated")
        profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
        offset += _EXTENSION_HEADER.size
        if len(data) < offset + 4 * words:
            raise RtpError(f"extension: {words} words do not fit in the packet")
        extension = RtpExtension(profile, bytes(data[offset : offset + 4 * words]))
        offset += 4 * words
    end = len(data)
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or end - padding < offset:
            raise RtpError(f"padding: count {padding} is zero or longer than the payload")
        end -= padding
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrc=tuple(csrc),
        extension=extension,
        padding=padding,
    )


class RtpSender:
    """Sequence numbers and timestamps for one outgoing stream (one SSRC).

    The timestamp runs on the media clock whether or not packets are sent: `advance` moves it
    over time that was not sent (silence suppressed, hold), so the far end's jitter buffer
    and recorder see continuous time. Initial values are random per RFC 3550 5.1; they are
    given (or drawn from the `random.Random` passed to `random`), never taken here.
    """

    def __init__(self, *, ssrc: int, sequence: int, timestamp: int, payload_type: int) -> None:
        self.ssrc = ssrc % TS_MOD
        self.sequence = sequence % SEQ_MOD
        self.timestamp = timestamp % TS_MOD
        self.payload_type = payload_type

    @classmethod
    def random(cls, rng: random.Random, *, payload_type: int) -> RtpSender:
        return cls(
            ssrc=rng.getrandbits(32),
            sequence=rng.getrandbits(16),
            timestamp=rng.getrandbits(32),
            payload_type=payload_type,
        )

    def packet(self, payload: bytes, *, samples: int, marker: bool = False) -> RtpPacket:
        """A media packet stamped now; the clock then moves on by its `samples`."""
        packet = self.packet_at(self.timestamp, payload, marker=marker)
        self.advance(samples)
        return packet

    def packet_at(
        self, timestamp: int, payload: bytes, *, marker: bool = False, payload_type: int = -1
    ) -> RtpPacket:
        """A packet with an explicit timestamp (RFC 4733 events keep the event's start)."""
        packet = RtpPacket(
            payload_type=self.payload_type if payload_type < 0 else payload_type,
            sequence=self.sequence,
            timestamp=timestamp % TS_MOD,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self.sequence = (self.sequence + 1) % SEQ_MOD
        return packet

    def stamp(self, payload: bytes, *, samples: int, marker: bool = False) -> bytes:
        """`packet(...).serialize()` without the packet: the wire bytes of a plain media
        packet (no CSRC, extension or padding), for a sender that makes 50 a second per leg.
        Its fields are this sender's own, always in range, so nothing is checked."""
        data = _HEADER.pack(
            RTP_VERSION << 6,
            (marker << 7) | self.payload_type,
            self.sequence,
            self.timestamp,
            self.ssrc,
        )
        self.sequence = (self.sequence + 1) % SEQ_MOD
        self.timestamp = (self.timestamp + samples) % TS_MOD
        return data + payload

    def advance(self, samples: int) -> None:
        self.timestamp = (self.timestamp + samples) % TS_MOD


# RFC 3550 Appendix A.1: a source is valid after MIN_SEQUENTIAL packets in sequence; a jump
# of up to MAX_DROPOUT ahead is loss, up to MAX_MISORDER behind is a late or duplicate packet,
# anything else is a restart unless the next packet confirms the new sequence.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


@dataclass(frozen=True, slots=True)
class ReceiveReport:
    """What an RTCP receiver report block says about one source (RFC 3550 6.4.1, A.3)."""

    extended_highest_sequence: int
    received: int
    expected: int
    lost: int  # cumulative, clamped to the 24-bit signed field; negative with duplicates
    fraction_lost: float  # since the previous report, 0..1
    jitter: float  # in timestamp units (A.8)
    valid: bool


class ReceiveStatistics:
    """Per-source receive statistics: sequence validation (A.1), loss (A.3), jitter (A.8).

    `update(packet, arrival)` takes the arrival time in seconds (any origin); the clock rate
    converts it to timestamp units for the jitter.
    """

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.probation = MIN_SEQUENTIAL
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = SEQ_MOD + 1  # "never": no sequence equals it
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0
        self._transit: float | None = None
        self._started = False

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def _update_seq(self, seq: int) -> bool:
        """A.1's update_seq: False when the packet must not count (probation or a jump)."""
        if not self._started:
            self._started = True
            self._init_seq(seq)
            self.max_seq = (seq - 1) % SEQ_MOD
        udelta = (seq - self.max_seq) % SEQ_MOD
        if self.probation:
            if seq == (self.max_seq + 1) % SEQ_MOD:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD  # wrapped around
            self.max_seq = seq
        elif udelta <= SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                # Two packets in sequence after a big jump: the source restarted.
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) % SEQ_MOD
                return False
        # else: a duplicate or reordered packet, counted as received (A.3 tolerates it)
        self.received += 1
        return True

    def update(self, packet: RtpPacket, arrival: float) -> bool:
        """Count one packet; returns False when A.1 says not to use it."""
        if not self._update_seq(packet.sequence):
            return False
        # A.8: transit = arrival - timestamp (both in timestamp units); J += (|D| - J) / 16.
        transit = arrival * self.clock_rate - packet.timestamp
        if self._transit is not None:
            d = transit - self._transit
            # Timestamps wrap at 2**32: the true difference is the one nearest zero.
            d = (d + TS_MOD / 2) % TS_MOD - TS_MOD / 2
            self.jitter += (abs(d) - self.jitter) / 16.0
        self._transit = transit
        return True

    @property
    def extended_highest_sequence(self) -> int:
        return self.cycles + self.max_seq

    def report(self) -> ReceiveReport:
        """A report; the fraction lost covers the time since the previous report (A.3)."""
        valid = self._started and self.probation == 0
        if not valid:
            return ReceiveReport(0, 0, 0, 0, 0.0, 0.0, valid=False)
        expected = self.extended_highest_sequence - self.base_seq + 1
        lost = max(-(1 << 23), min(expected - self.received, (1 << 23) - 1))
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0.0
        if expected_interval > 0 and lost_interval > 0:
            fraction = lost_interval / expected_interval
        return ReceiveReport(
            extended_highest_sequence=self.extended_highest_sequence,
            received=self.received,
            expected=expected,
            lost=lost,
            fraction_lost=fraction,
            jitter=self.jitter,
            valid=True,
        )
