"""G.711 against the standard's segment tables (Tables 1a and 2a), known values, round trips,
and a cross-check against the stdlib `audioop` where the interpreter still has it (<= 3.12)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from helpline.media import g711

Encode = Callable[[Any], bytes]
Decode = Callable[[bytes], Any]
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64)


def ulaw_intervals() -> tuple[np.ndarray, np.ndarray]:
    """Table 2a, positive half, on the 14-bit scale: (lower decision value, decoder output)
    for the 128 codes in order of magnitude (segment 1..8, step 1..16)."""
    lowers, outputs = [], []
    starts = [0, 31, 95, 223, 479, 991, 2015, 4063]
    for segment, start in enumerate(starts):
        step = 2 << segment
        for m in range(16):
            if segment == 0:
                lower, upper = (0, 1) if m == 0 else (2 * m - 1, 2 * m + 1)
            else:
                lower, upper = start + m * step, start + (m + 1) * step
            lowers.append(lower)
            outputs.append((lower + upper) // 2)
    return np.array(lowers), np.array(outputs)


def alaw_intervals() -> tuple[np.ndarray, np.ndarray]:
    """Table 1a, positive half, on the 13-bit scale: segments 1 and 2 step 2 from 0 and 32,
    then each segment doubles its step and its start."""
    lowers, outputs = [], []
    for segment in range(8):
        start = 0 if segment == 0 else 16 << segment
        step = 2 if segment < 2 else 1 << segment
        for m in range(16):
            lowers.append(start + m * step)
            outputs.append(start + m * step + step // 2)
    return np.array(lowers), np.array(outputs)


def test_ulaw_matches_table_2a() -> None:
    lowers, outputs = ulaw_intervals()
    # Code for magnitude index k (0..127), sign bit 1 = positive, all bits inverted on the line.
    positive_codes = np.array([0xFF - k for k in range(128)])
    negative_codes = positive_codes & 0x7F
    decoded = g711.ulaw_decode(bytes(positive_codes.tolist())).astype(np.int64)
    assert decoded.tolist() == (outputs * 4).tolist()
    assert (
        g711.ulaw_decode(bytes(negative_codes.tolist())).astype(np.int64).tolist()
        == (-outputs * 4).tolist()
    )
    encoded = np.frombuffer(g711.ulaw_encode(ALL_INT16.astype(np.int16)), dtype=np.uint8)
    magnitude = np.where(ALL_INT16 >= 0, ALL_INT16, -ALL_INT16 - 1) >> 2
    index = np.searchsorted(lowers, np.minimum(magnitude, 8158), side="right") - 1
    expected = np.where(ALL_INT16 >= 0, 0xFF - index, 0x7F - index)
    assert np.array_equal(encoded, expected)


def test_alaw_matches_table_1a() -> None:
    lowers, outputs = alaw_intervals()
    positive_codes = np.array([(0x80 | k) ^ 0x55 for k in range(128)])
    negative_codes = np.array([k ^ 0x55 for k in range(128)])
    assert (
        g711.alaw_decode(bytes(positive_codes.tolist())).astype(np.int64).tolist()
        == (outputs * 8).tolist()
    )
    assert (
        g711.alaw_decode(bytes(negative_codes.tolist())).astype(np.int64).tolist()
        == (-outputs * 8).tolist()
    )
    encoded = np.frombuffer(g711.alaw_encode(ALL_INT16.astype(np.int16)), dtype=np.uint8)
    magnitude = np.where(ALL_INT16 >= 0, ALL_INT16, -ALL_INT16 - 1) >> 3
    index = np.searchsorted(lowers, magnitude, side="right") - 1
    expected = np.where(ALL_INT16 >= 0, (0x80 | index) ^ 0x55, index ^ 0x55)
    assert np.array_equal(encoded, expected)


@pytest.mark.parametrize(
    ("encode", "samples", "codes"),
    [
        (
            g711.ulaw_encode,
            [0, -1, 32767, -32768, 1000, -1000],
            [0xFF, 0x7F, 0x80, 0x00, 0xCE, 0x4E],
        ),
        (
            g711.alaw_encode,
            [0, -1, 32767, -32768, 1000, -1000],
            [0xD5, 0x55, 0xAA, 0x2A, 0xFA, 0x7A],
        ),
    ],
)
def test_known_codes(encode: Encode, samples: list[int], codes: list[int]) -> None:
    assert list(encode(np.array(samples, dtype=np.int16))) == codes


def test_known_decoded_values() -> None:
    assert g711.ulaw_decode(bytes([0x00, 0x80, 0x7F, 0xFF])).tolist() == [-32124, 32124, 0, 0]
    assert g711.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)],
)
def test_round_trips(encode: Encode, decode: Decode) -> None:
    codes = bytes(range(256))
    values = decode(codes)
    # Every decoded value is a fixed point of encode+decode; codes come back but for the
    # µ-law "negative zero" 0x7F, which decodes to 0 and re-encodes as 0xFF.
    assert np.array_equal(decode(encode(values)), values)
    back = encode(values)
    assert [c for c, b in zip(codes, back, strict=True) if c != b] in ([], [0x7F])
    # A -10 dBm0 sine keeps G.711's ~38 dB of signal to quantization noise.
    t = np.arange(8000) / 8000
    sine = np.rint(7180 * np.sin(2 * np.pi * 1004 * t)).astype(np.int16)
    noise = decode(encode(sine)).astype(np.float64) - sine
    snr = 10 * np.log10(np.mean(sine.astype(np.float64) ** 2) / np.mean(noise**2))
    assert snr > 35


def test_input_must_be_int16() -> None:
    with pytest.raises(TypeError, match="int16"):
        g711.ulaw_encode(np.zeros(4, dtype=np.float32))


def test_cross_check_with_stdlib_audioop() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="stdlib audioop left in Python 3.13")
    pcm = ALL_INT16.astype(np.int16)
    ours_a = g711.alaw_encode(pcm)
    assert ours_a == audioop.lin2alaw(pcm.tobytes(), 2)
    ours_u = np.frombuffer(g711.ulaw_encode(pcm), dtype=np.uint8)
    theirs_u = np.frombuffer(audioop.lin2ulaw(pcm.tobytes(), 2), dtype=np.uint8)
    assert np.array_equal(ours_u[32768:], theirs_u[32768:])  # non-negative samples
    # audioop folds a negative x as -x where G.191 uses -x - 1: one 14-bit step apart, so our
    # code for x is audioop's code for x + 4 (see the module docstring).
    shifted = (ALL_INT16[:32764] + 4).astype(np.int16)
    theirs_shifted = np.frombuffer(audioop.lin2ulaw(shifted.tobytes(), 2), dtype=np.uint8)
    assert np.array_equal(ours_u[:32764], theirs_shifted)
    codes = bytes(range(256))
    assert g711.ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)
    assert g711.alaw_decode(codes).tobytes() == audioop.alaw2lin(codes, 2)
