"""Real captures shipped with Debian's sipp (package sip-tester): RFC 4733 digits and G.711
A-law audio, read with a minimal pcap reader (Ethernet / IPv4 / UDP / RTP)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from helpline.media.dtmf import DtmfDetector
from helpline.media.g711 import alaw_decode
from helpline.media.rfc4733 import DigitReceiver, decode_event
from helpline.media.rtp import ReceiveStatistics, RtpPacket, parse_rtp

PCAPS = Path("/usr/share/sip-tester")
NAMES = {"star": "*", "pound": "#", **{str(d): str(d) for d in range(10)}}


def rtp_datagrams(path: Path) -> list[tuple[float, bytes]]:
    """(capture time, UDP payload) of each frame of a little-endian Ethernet pcap."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, linktype) == (0xA1B2C3D4, 1)
    out, offset = [], 24
    while offset + 16 <= len(data):
        seconds, micros, length, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        assert frame[12:14] == b"\x08\x00" and frame[23] == 17  # IPv4, UDP
        ip_header = (frame[14] & 0x0F) * 4
        out.append((seconds + micros / 1e6, frame[14 + ip_header + 8 :]))
    return out


def dtmf_pcaps() -> list[tuple[str, Path]]:
    files = sorted(PCAPS.glob("dtmf_2833_*.pcap"))
    assert len(files) >= 10, "sipp's sample captures (Debian package sip-tester) are missing"
    return [(NAMES[f.stem.removeprefix("dtmf_2833_")], f) for f in files]


@pytest.mark.parametrize(("digit", "path"), dtmf_pcaps(), ids=str)
def test_each_capture_gives_its_digit_once(digit: str, path: Path) -> None:
    datagrams = [raw for _, raw in rtp_datagrams(path)]
    packets = [parse_rtp(raw) for raw in datagrams]
    assert [p.serialize() for p in packets] == datagrams
    # sipp repeats the end packet three times with one sequence number (others increment it).
    assert sum(decode_event(p.payload).end for p in packets) == 3
    receiver = DigitReceiver(payload_type=packets[0].payload_type)
    assert [d for p in packets for d in receiver.feed(p)] == [digit]


def test_all_captures_in_a_row_reordered() -> None:
    expected, stream = [], []
    for digit, path in dtmf_pcaps():
        expected.append(digit)
        stream.extend(parse_rtp(raw) for _, raw in rtp_datagrams(path))
    swapped: list[RtpPacket] = []  # every packet one slot early or late
    for i in range(0, len(stream), 2):
        swapped.extend(reversed(stream[i : i + 2]))
    receiver = DigitReceiver(payload_type=101)
    assert [d for p in swapped for d in receiver.feed(p)] == expected


def test_g711a_capture() -> None:
    datagrams = rtp_datagrams(PCAPS / "g711a.pcap")
    packets = [parse_rtp(raw) for _, raw in datagrams]
    assert {p.payload_type for p in packets} == {8}  # PCMA
    stats = ReceiveStatistics(8000)
    for (arrival, _), packet in zip(datagrams, packets, strict=True):
        stats.update(packet, arrival)
    report = stats.report()
    assert report.lost == 0 and report.expected == len(packets) - 1  # first one: probation
    assert 0 < report.jitter < 80  # a LAN capture: well under 10 ms
    audio = np.concatenate([alaw_decode(p.payload) for p in packets])
    assert len(audio) == 240 * len(packets)
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 500  # real audio, not silence
    detector = DtmfDetector()
    assert detector.feed(audio) + [e.digit for e in detector.flush()] == []  # no false digit
