"""In-band DTMF detection: batch Goertzel over numpy blocks, with ITU-T Q.24 style checks.

The signal (8 kHz) is cut into blocks of 102 samples (12.75 ms). One matrix product gives,
for every block, the DFT at the eight DTMF frequencies and their second harmonics (the
Goertzel filter's output is exactly that single DFT term); two neighbouring blocks combine
into a 204-sample analysis window (25.5 ms, resolution ~39 Hz, enough to tell 697 Hz from
770 Hz) hopping by one block. A window "hits" a digit when all of these hold:

1. energy: each of the two tones is at least `min_level_dbm0` (default -36 dBm0: Q.24's
   administrations ask for operation from about -25 to -30 dBm0 per tone, with margin);
2. twist (high-group level minus low-group level): from -`normal_twist_db` (9 dB: the high
   tone may arrive up to 8 dB weaker, the widest Q.24 figure, since lines attenuate high
   frequencies, plus 1 dB of measurement margin) to +`reverse_twist_db` (5 dB: phones
   send the high group ~2 dB hotter; 4 dB is the usual limit, plus the same margin);
3. other tones: the strongest tone of each group beats the others of its group by
   `group_margin_db` (6 dB: no two-key chords, no broadband sounds; no more, as with
   8 dB of twist the low tone leaks to within ~8 dB of the weak high one's neighbours);
4. the two tones carry `min_tone_ratio` (0.65) of the window's energy: this is what rejects
   speech, noise and off-frequency tones. Low-group tones are measured over the whole
   window, high-group tones per block (their Q.24 tolerance is wider in Hz), so that tones
   1.5 % off (Q.24: must be accepted) keep ~75 % of their energy and tones 2.5 % or more
   off (Q.24 must reject 3.5 %) keep under half;
5. second harmonics: each tone's second harmonic is `harmonic_margin_db` (6 dB) below it
   (voiced speech is rich in harmonics, a DTMF generator is not; the margin is no tighter
   because a column tone leaks ~13 dB down into the nearby second harmonic of a row);
6. steadiness: each tone's level in each half of the window is within
   `max_half_difference_db` (6 dB) of the other half, so a window that only partly covers a
   tone does not count; this is what makes the duration checks below measure the tone.

A digit starts after `on_blocks` (2) consecutive hits of the same digit and ends after
`off_blocks` (4) windows without it. With steady windows this accepts tones of 40 ms and
more and rejects tones of 25 ms and less (Q.24: accept 40 ms, reject 20 ms); it splits two
presses apart by a pause of 40 ms (Q.24's must-accept pause) and bridges dropouts of up to
25 ms inside a held key: Q.24 asks for 10 ms, and a lost 20 ms packet of a VoIP leg should
not turn one key into two. A held key gives one digit however long it lasts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from helpline.media.tones import DTMF_FREQUENCIES, HIGH_GROUP, KEYS, LOW_GROUP, dbm0_amplitude

__all__ = ["DTMF_FREQUENCIES", "HIGH_GROUP", "KEYS", "LOW_GROUP", "DtmfDetector", "DtmfEvent"]

BLOCK = 102
_FREQS = np.array(LOW_GROUP + HIGH_GROUP)


def _db(ratio_db: float) -> float:
    return float(10 ** (ratio_db / 10))


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """A detected digit; `start` and `end` are sample indices from the start of the stream."""

    digit: str
    start: int
    end: int

    def seconds(self, rate: int) -> tuple[float, float]:
        return self.start / rate, self.end / rate


class DtmfDetector:
    """Feed it audio in any chunk sizes; it returns each digit once, when the key is released."""

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        min_level_dbm0: float = -36.0,
        normal_twist_db: float = 9.0,
        reverse_twist_db: float = 5.0,
        group_margin_db: float = 6.0,
        min_tone_ratio: float = 0.65,
        harmonic_margin_db: float = 6.0,
        max_half_difference_db: float = 6.0,
        on_blocks: int = 2,
        off_blocks: int = 4,
    ) -> None:
        if sample_rate != 8000:
            # Block length and thresholds are tuned for 8 kHz; resample first (tones.Resampler).
            raise ValueError(f"sample_rate: only 8000 is supported, got {sample_rate}")
        self.sample_rate = sample_rate
        n = np.arange(BLOCK)
        freqs = np.concatenate([_FREQS, 2 * _FREQS])  # fundamentals, then second harmonics
        omega = 2 * np.pi * freqs / sample_rate
        self._basis = np.exp(-1j * np.outer(n, omega))  # (BLOCK, 16): one DFT term each
        self._shift = np.exp(-1j * omega * BLOCK)  # moves the second block's terms
        # A sine of peak A over a 204-sample window gives |X| = A * 204 / 2.
        min_amp = dbm0_amplitude(min_level_dbm0)
        self._min_power = (min_amp * BLOCK) ** 2
        self._normal_twist = _db(normal_twist_db)
        self._reverse_twist = _db(reverse_twist_db)
        self._group_margin = _db(group_margin_db)
        self._min_ratio = min_tone_ratio
        self._harmonic = _db(harmonic_margin_db)
        self._half = _db(max_half_difference_db)
        self.on_blocks = on_blocks
        self.off_blocks = off_blocks
        self._pending = np.zeros(0, dtype=np.float64)
        self._previous: npt.NDArray[np.complex128] | None = None  # last block's DFT terms
        self._previous_energy = 0.0
        self._window_start = 0  # sample index of the next window's first sample
        self._run_digit: str | None = None
        self._run_length = 0
        self._run_start = 0
        self._active: str | None = None
        self._active_start = 0
        self._active_end = 0
        self._misses = 0

    def feed(self, samples: npt.ArrayLike) -> list[str]:
        return [event.digit for event in self.feed_events(samples)]

    def feed_events(self, samples: npt.ArrayLike) -> list[DtmfEvent]:
        x = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64).reshape(-1)])
        whole = len(x) - len(x) % BLOCK
        self._pending = x[whole:]
        if whole == 0:
            return []
        blocks = x[:whole].reshape(-1, BLOCK)
        terms = blocks @ self._basis  # (blocks, 16)
        energy = np.einsum("ij,ij->i", blocks, blocks)
        if self._previous is None:
            first_terms, first_energy = terms[:-1], energy[:-1]
            terms_b, energy_b = terms[1:], energy[1:]
        else:
            first_terms = np.vstack([self._previous[None, :], terms[:-1]])
            first_energy = np.concatenate([[self._previous_energy], energy[:-1]])
            terms_b, energy_b = terms, energy
        self._previous, self._previous_energy = terms[-1], float(energy[-1])
        digits = self._classify(first_terms, terms_b, first_energy + energy_b)
        return self._track(digits)

    def _classify(
        self,
        first: npt.NDArray[np.complex128],
        second: npt.NDArray[np.complex128],
        energy: npt.NDArray[np.float64],
    ) -> list[str | None]:
        """One digit or None per window; every check is computed for all windows at once,
        the cheap ones first: most windows (speech, noise, silence) fail on energy or on the
        tone ratio, and then the rest is not computed."""
        misses: list[str | None] = [None] * len(first)
        if len(first) == 0:
            return misses
        # Low group: the 204-sample window (39 Hz resolution, for rows 73 Hz apart). High
        # group: the two blocks' powers added (78 Hz resolution, for columns ~130 Hz apart and
        # their wider Q.24 tolerance, 1.5 % of 1633 Hz being 24 Hz), scaled to the window's.
        low = np.abs(first[:, :4] + second[:, :4] * self._shift[:4]) ** 2
        high = 2 * (np.abs(first[:, 4:8]) ** 2 + np.abs(second[:, 4:8]) ** 2)
        row, col = low.argmax(axis=1), high.argmax(axis=1)
        idx = np.arange(len(first))
        p_row, p_col = low[idx, row], high[idx, col]
        ok = (p_row >= self._min_power) & (p_col >= self._min_power)
        # Power of a sine in the window's energy: |X|^2 * 2 / N (N = 2 * BLOCK samples).
        ok &= (p_row + p_col) / BLOCK >= self._min_ratio * energy
        if not ok.any():
            return misses
        ok &= p_col <= p_row * self._reverse_twist
        ok &= p_row <= p_col * self._normal_twist
        ok &= p_row >= np.sort(low, axis=1)[:, -2] * self._group_margin
        ok &= p_col >= np.sort(high, axis=1)[:, -2] * self._group_margin
        h_row = np.abs(first[idx, 8 + row] + second[idx, 8 + row] * self._shift[8 + row]) ** 2
        h_col = 2 * (np.abs(first[idx, 12 + col]) ** 2 + np.abs(second[idx, 12 + col]) ** 2)
        ok &= (h_row * self._harmonic <= p_row) & (h_col * self._harmonic <= p_col)
        for tone in (row, 4 + col):
            a = np.abs(first[idx, tone]) ** 2
            b = np.abs(second[idx, tone]) ** 2
            ok &= (a <= b * self._half) & (b <= a * self._half)
        return [KEYS[r][c] if hit else None for r, c, hit in zip(row, col, ok, strict=True)]

    def _track(self, digits: list[str | None]) -> list[DtmfEvent]:
        """The on/off state machine over window results (see the module's docstring)."""
        events: list[DtmfEvent] = []
        for digit in digits:
            start = self._window_start
            self._window_start += BLOCK
            end = start + 2 * BLOCK
            if digit is not None and digit == self._run_digit:
                self._run_length += 1
            else:
                self._run_digit, self._run_length, self._run_start = digit, 1, start
            if self._active is not None:
                if digit == self._active:
                    self._misses = 0
                    self._active_end = end
                    continue
                self._misses += 1
                if self._misses < self.off_blocks:
                    continue
                events.append(DtmfEvent(self._active, self._active_start, self._active_end))
                self._active = None
            if self._run_digit is not None and self._run_length >= self.on_blocks:
                self._active, self._active_start, self._active_end = (
                    self._run_digit,
                    self._run_start,
                    end,
                )
                self._misses = 0
        return events

    def flush(self) -> list[DtmfEvent]:
        """End of stream: a digit still held ends here."""
        if self._active is None:
            return []
        event = DtmfEvent(self._active, self._active_start, self._active_end)
        self._active = None
        return [event]
