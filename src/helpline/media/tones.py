"""Signal generation and conversion: tones, DTMF tones, silence, comfort noise, mixing,
int16 clipping and resampling between 8 kHz (G.711, detection) and 48 kHz (Opus, WebRTC).

Levels: `dbm0` gives a sine's level against the G.711 digital reference, where 0 dBm0 is
3.17 dB below a full-scale sine (ITU-T G.711 section 4 / G.168's convention), i.e. a peak of
about 22,706 on the int16 scale.

Resampling is polyphase FIR, not linear interpolation: going down from 48 kHz, linear
interpolation would fold everything between 4 and 24 kHz (Opus carries it) into the
telephone band, where a DTMF detector would hear it. The filter is a Kaiser-windowed sinc
(pass band to 3.4 kHz, -60 dB from 4.6 kHz at the 8 kHz side), and streams keep the filter's
history between frames so 20 ms frames resample as one continuous signal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]
Float = npt.NDArray[np.float64]

# The DTMF keypad (ITU-T Q.23): a key sends its row's low-group tone and its column's
# high-group tone together.
LOW_GROUP = (697.0, 770.0, 852.0, 941.0)
HIGH_GROUP = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES: dict[str, tuple[float, float]] = {
    KEYS[r][c]: (LOW_GROUP[r], HIGH_GROUP[c]) for r in range(4) for c in range(4)
}

FULL_SCALE = 32767
DBM0_PEAK = FULL_SCALE * 10 ** (-3.17 / 20)  # peak of a 0 dBm0 sine on the int16 scale


def dbm0_amplitude(level_dbm0: float) -> float:
    """Peak amplitude (int16 scale) of a sine at `level_dbm0`."""
    return float(DBM0_PEAK * 10 ** (level_dbm0 / 20))


def clip16(samples: npt.ArrayLike) -> Pcm:
    """Round and saturate to int16 (overflow would wrap into loud clicks)."""
    array = np.asarray(samples, dtype=np.float64)
    return np.clip(np.rint(array), -32768, 32767).astype(np.int16)


def _count(duration_s: float, rate: int) -> int:
    if duration_s < 0 or rate <= 0:
        raise ValueError(f"duration_s and rate: must be >= 0 and > 0, got {duration_s}, {rate}")
    return round(duration_s * rate)


def tone(
    freqs: Sequence[float],
    duration_s: float,
    rate: int = 8000,
    amplitude: float | Sequence[float] = 8000.0,
    *,
    phase_s: float = 0.0,
) -> Pcm:
    """Sum of sines; `amplitude` is the peak of each one (one value, or one per frequency).
    `phase_s` starts the sines that far into their run, to continue a tone across frames."""
    n = _count(duration_s, rate)
    t = (np.arange(n) / rate + phase_s)[:, None]
    amps = np.broadcast_to(np.asarray(amplitude, dtype=np.float64), (len(freqs),))
    waves = np.sin(2 * np.pi * np.asarray(freqs, dtype=np.float64)[None, :] * t) * amps
    return clip16(waves.sum(axis=1))


def dtmf_tone(
    digit: str,
    duration_s: float = 0.1,
    rate: int = 8000,
    *,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
) -> Pcm:
    """A DTMF digit: its low-group tone at `level_dbm0`, its high-group tone `twist_db` above
    it (negative: the high tone weaker, as after a line that attenuates high frequencies)."""
    low, high = DTMF_FREQUENCIES[digit.upper()]
    base = dbm0_amplitude(level_dbm0)
    return tone([low, high], duration_s, rate, [base, base * 10 ** (twist_db / 20)])


def silence(duration_s: float, rate: int = 8000) -> Pcm:
    return np.zeros(_count(duration_s, rate), dtype=np.int16)


def comfort_noise(
    duration_s: float, rate: int, rng: np.random.Generator, *, level_dbm0: float = -60.0
) -> Pcm:
    """White noise at `level_dbm0` (RMS of a sine of that level): the hiss that tells a
    listener the line is alive. The generator is an input, so output is reproducible."""
    rms = dbm0_amplitude(level_dbm0) / np.sqrt(2)
    return clip16(rng.normal(0.0, rms, _count(duration_s, rate)))


def mix(*signals: npt.ArrayLike) -> Pcm:
    """Sum signals sample by sample (the shorter ones padded with silence), saturating."""
    arrays = [np.asarray(s, dtype=np.int32).reshape(-1) for s in signals]
    total = np.zeros(max((len(a) for a in arrays), default=0), dtype=np.int32)
    for array in arrays:
        total[: len(array)] += array
    return clip16(total)


_HALF_TAPS = 12  # per side, at the low rate: the delay in low-rate samples


def _lowpass(factor: int) -> Float:
    """Kaiser-windowed sinc at the high rate, cut at the low rate's Nyquist frequency.

    Odd length 2 * factor * 12 + 1 so the delay is a whole 12 samples at the low rate; zero
    padded to a multiple of the factor for the polyphase split."""
    taps = 2 * factor * _HALF_TAPS + 1
    n = np.arange(taps) - (taps - 1) / 2
    cutoff = 0.5 / factor  # as a fraction of the high rate
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(taps, 5.65)  # beta 5.65: ~-60 dB
    h /= h.sum()
    return np.concatenate([h, np.zeros(-taps % factor)])


class Resampler:
    """Streaming integer-ratio resampler (e.g. 8000 -> 48000 or 48000 -> 8000).

    Up: insert factor-1 zeros and low-pass; down: low-pass and keep every factor-th sample.
    Both compute only the outputs kept (polyphase), as one matrix product per frame. Frames
    may have any length (down: a remainder shorter than the factor waits for the next one).
    Output lags input by a fixed `delay` of 12 samples at the low rate.
    """

    delay = _HALF_TAPS

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError("from_rate and to_rate: must be positive")
        high, low = max(from_rate, to_rate), min(from_rate, to_rate)
        if high % low:
            raise ValueError(f"rates: {high} is not a whole multiple of {low}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.factor = high // low
        self.up = to_rate > from_rate
        taps = _lowpass(self.factor)
        if self.up:
            # Output n*factor + p = sum_j taps[j*factor + p] * x[n - j]: phase p's taps,
            # reversed to meet a window whose newest sample is last; gain `factor` makes up
            # for the inserted zeros.
            self._kernel = (taps.reshape(-1, self.factor).T[:, ::-1] * self.factor).T.copy()
        else:
            self._kernel = taps[::-1].copy()
        self._history = np.zeros(self._kernel.shape[0] - 1)
        self._carry = np.zeros(0)

    def process(self, samples: npt.ArrayLike) -> Pcm:
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if self.factor == 1:
            return clip16(x)
        if not self.up:
            x = np.concatenate([self._carry, x])
            usable = len(x) - len(x) % self.factor
            x, self._carry = x[:usable], x[usable:]
        padded = np.concatenate([self._history, x])
        self._history = padded[len(x) :]
        windows = np.lib.stride_tricks.sliding_window_view(padded, self._kernel.shape[0])
        if self.up:
            return clip16((windows @ self._kernel).reshape(-1))  # (n, factor), interleaved
        return clip16(windows[:: self.factor] @ self._kernel)


def resample(samples: npt.ArrayLike, from_rate: int, to_rate: int) -> Pcm:
    """Resample a whole signal: the filter's delay removed, length scaled exactly."""
    resampler = Resampler(from_rate, to_rate)
    x = np.asarray(samples).reshape(-1)
    if resampler.factor == 1:
        return clip16(x)
    tail = resampler.delay * (1 if resampler.up else resampler.factor)
    out = resampler.process(np.concatenate([x, np.zeros(tail + resampler.factor)]))
    skip = resampler.delay * (resampler.factor if resampler.up else 1)
    return out[skip : skip + len(x) * to_rate // from_rate]
