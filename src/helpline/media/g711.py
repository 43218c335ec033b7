"""ITU-T G.711 µ-law and A-law, as numpy lookup tables (the stdlib `audioop` is gone in 3.13).

Both laws are built here from the segment tables of G.711 (Table 1a for A-law, Table 2a for
µ-law): eight segments per sign, sixteen equal steps per segment, each segment's step twice
the one before. The tables are computed once at import:

- encode: one code per int16 value (65,536 entries), indexed by the sample's bit pattern;
- decode: one int16 value per code (256 entries), the midpoint of the code's interval.

16-bit samples map onto G.711's 14-bit (µ-law) and 13-bit (A-law) scales as in ITU-T G.191's
reference software: the low bits are dropped and a negative sample x is folded onto its
magnitude as ~x (= -x - 1), so that x and -x - 1 always get mirrored codes. (The old
`audioop.lin2ulaw` folded negatives as -x, which shifts every negative µ-law decision by one
14-bit step; its A-law and both expansions agree with these tables.)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]

# µ-law (Table 2a): 14-bit magnitudes are biased by 33 so that segment s covers biased values
# [32 << s, 64 << s) with a step of 2 << s; codes are sent with every bit inverted.
_ULAW_BIAS = 33
_ULAW_MAX_BIASED = 0x1FFF  # magnitudes at or over 8159 clip to the last step of segment 7
# A-law (Table 1a): segment 0 covers 13-bit magnitudes 0..31 in steps of 2, segment s >= 1
# covers [16 << s, 32 << s) in steps of 1 << s; even bits are inverted (XOR 0x55).
_ALAW_XOR = 0x55


def _folded_magnitude(shift: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Every int16, in bit-pattern order (index = uint16 view), as (magnitude, is_positive)."""
    values = np.arange(65536, dtype=np.int64)
    values = np.where(values >= 32768, values - 65536, values)
    positive = values >= 0
    magnitude = np.where(positive, values, ~values) >> shift
    return magnitude, positive


def _segment(value: npt.NDArray[np.int64], lowest_bits: int) -> npt.NDArray[np.int64]:
    """The segment number: how many octaves `value` lies above 2**lowest_bits (0 below)."""
    bit_length = np.zeros_like(value)
    remaining = value.copy()
    while np.any(remaining):
        bit_length += remaining > 0
        remaining >>= 1
    return np.clip(bit_length - lowest_bits, 0, 7)


def _build_ulaw() -> tuple[npt.NDArray[np.uint8], Pcm]:
    magnitude, positive = _folded_magnitude(2)
    biased = np.minimum(magnitude + _ULAW_BIAS, _ULAW_MAX_BIASED)
    segment = _segment(biased, 6)  # biased values 32..63 (6 bits) are segment 0
    mantissa = (biased >> (segment + 1)) & 0xF
    code = ((~positive).astype(np.int64) << 7) | (segment << 4) | mantissa  # sign 1: negative
    encode = (~code & 0xFF).astype(np.uint8)

    codes = np.arange(256, dtype=np.int64)
    plain = ~codes & 0xFF
    seg = (plain >> 4) & 0x7
    mant = plain & 0xF
    magnitude14 = ((2 * mant + _ULAW_BIAS) << seg) - _ULAW_BIAS  # interval midpoint, Table 2a
    decode = np.where(plain & 0x80, -magnitude14 * 4, magnitude14 * 4).astype(np.int16)
    return encode, decode


def _build_alaw() -> tuple[npt.NDArray[np.uint8], Pcm]:
    magnitude, positive = _folded_magnitude(3)
    segment = _segment(magnitude, 5)  # magnitudes 0..31 (5 bits) are segment 0
    mantissa = np.where(segment == 0, magnitude >> 1, magnitude >> np.maximum(segment, 1)) & 0xF
    code = (positive.astype(np.int64) << 7) | (segment << 4) | mantissa
    encode = ((code ^ _ALAW_XOR) & 0xFF).astype(np.uint8)

    codes = np.arange(256, dtype=np.int64)
    plain = codes ^ _ALAW_XOR
    seg = (plain >> 4) & 0x7
    mant = plain & 0xF
    magnitude13 = np.where(seg == 0, 2 * mant + 1, (2 * mant + 33) << np.maximum(seg - 1, 0))
    decode = np.where(plain & 0x80, magnitude13 * 8, -magnitude13 * 8).astype(np.int16)
    return encode, decode


ULAW_ENCODE, ULAW_DECODE = _build_ulaw()
ALAW_ENCODE, ALAW_DECODE = _build_alaw()
for _table in (ULAW_ENCODE, ULAW_DECODE, ALAW_ENCODE, ALAW_DECODE):
    _table.flags.writeable = False

# The codes of a digital silence, handy for filling gaps without encoding zeros.
ULAW_SILENCE = int(ULAW_ENCODE[0])
ALAW_SILENCE = int(ALAW_ENCODE[0])


def _as_pcm(pcm: npt.ArrayLike) -> Pcm:
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise TypeError(f"pcm: expected int16 samples, got {array.dtype}")
    return array.reshape(-1)


def ulaw_encode(pcm: npt.ArrayLike) -> bytes:
    """int16 samples -> µ-law bytes, one per sample."""
    return ULAW_ENCODE[_as_pcm(pcm).view(np.uint16)].tobytes()


def ulaw_decode(data: bytes) -> Pcm:
    """µ-law bytes -> int16 samples (a new array)."""
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: npt.ArrayLike) -> bytes:
    """int16 samples -> A-law bytes, one per sample."""
    return ALAW_ENCODE[_as_pcm(pcm).view(np.uint16)].tobytes()


def alaw_decode(data: bytes) -> Pcm:
    """A-law bytes -> int16 samples (a new array)."""
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
