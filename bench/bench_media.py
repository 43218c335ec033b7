"""Cost of the media building blocks per call leg (issues 6 and 7, "Performance").

Each figure is a real-time factor: seconds of audio processed per second of CPU
(`time.process_time`, this process only), so RTF 1,000 means one core could keep up with
1,000 legs of that work, and the per-leg cost is 100 / RTF percent of a core. Audio goes in
20 ms frames, as a leg delivers it (160 samples at 8 kHz, 960 at 48 kHz): the per-call
overhead of numpy matters at that size, so frames, not one big array, are what is timed.

Workloads (the audio is 8 kHz unless said):
- DTMF detection: keyed digits between stretches of noise (the detector's checks all run on
  every window whatever the content);
- G.711 µ-law encode, and decode, of 20 ms frames;
- resampling 48 kHz -> 8 kHz (a browser leg's audio into the detector or a G.711 leg) and
  8 kHz -> 48 kHz;
- the chain a browser leg needs for in-band DTMF: 48k -> 8k, then detection.

Run: `python bench/bench_media.py` (`--seconds 60` of audio per workload, best of
`--repeat 3`); `--seconds 2 --repeat 1` is the smoke size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from helpline.media import g711
from helpline.media.dtmf import DtmfDetector
from helpline.media.tones import Resampler, clip16, dtmf_tone, resample, silence

Pcm = npt.NDArray[np.int16]


def test_audio(seconds: float, rate: int = 8000) -> Pcm:
    """Digits and noise, repeated to `seconds`."""
    rng = np.random.default_rng(1)
    parts: list[Pcm] = []
    total = 0
    keys = "0123456789*#ABCD"
    while total < seconds * 8000:
        key = keys[len(parts) % len(keys)]
        parts += [dtmf_tone(key, 0.08, level_dbm0=-15), silence(0.08)]
        parts.append(clip16(rng.normal(0, 2000, 8000)))
        total += sum(len(p) for p in parts[-3:])
    audio = np.concatenate(parts)[: round(seconds * 8000)]
    return audio if rate == 8000 else resample(audio, 8000, rate)


def frames(audio: Pcm, size: int) -> list[Pcm]:
    return [audio[i : i + size] for i in range(0, len(audio) - size + 1, size)]


def rtf(work: Callable[[], object], audio_seconds: float, repeat: int) -> float:
    """Best real-time factor of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return audio_seconds / max(best, 1e-9)


def measure(seconds: float, repeat: int) -> list[tuple[str, float]]:
    audio8 = test_audio(seconds)
    audio48 = resample(audio8, 8000, 48000)
    frames8 = frames(audio8, 160)
    frames48 = frames(audio48, 960)
    encoded = [g711.ulaw_encode(f) for f in frames8]
    expected = "".join(DtmfDetector().feed(audio8))

    def detect() -> None:
        detector = DtmfDetector()
        found = [d for f in frames8 for d in detector.feed(f)]
        if "".join(found) != expected:  # measure nothing that does not work
            raise AssertionError(f"frame-by-frame detection gave {found}, whole gave {expected}")

    def encode() -> None:
        for f in frames8:
            g711.ulaw_encode(f)

    def decode() -> None:
        for data in encoded:
            g711.ulaw_decode(data)

    def down() -> None:
        resampler = Resampler(48000, 8000)
        for f in frames48:
            resampler.process(f)

    def up() -> None:
        resampler = Resampler(8000, 48000)
        for f in frames8:
            resampler.process(f)

    def browser_leg_dtmf() -> None:
        resampler, detector = Resampler(48000, 8000), DtmfDetector()
        for f in frames48:
            detector.feed(resampler.process(f))

    return [
        ("DTMF detection (8 kHz, 20 ms frames)", rtf(detect, seconds, repeat)),
        ("G.711 µ-law encode (20 ms frames)", rtf(encode, seconds, repeat)),
        ("G.711 µ-law decode (20 ms frames)", rtf(decode, seconds, repeat)),
        ("resample 48k -> 8k (20 ms frames)", rtf(down, seconds, repeat)),
        ("resample 8k -> 48k (20 ms frames)", rtf(up, seconds, repeat)),
        ("48k -> 8k + DTMF detection (browser leg)", rtf(browser_leg_dtmf, seconds, repeat)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per workload")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (best kept)")
    args = parser.parse_args(argv)
    rows = measure(args.seconds, args.repeat)
    print(f"{'workload':<44} {'RTF (1 leg)':>12} {'% of a core per leg':>20}")
    for name, factor in rows:
        print(f"{name:<44} {factor:>12,.0f} {100 / factor:>20.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
