"""Audio for SIP legs at 8 kHz: IVR prompts spoken by `espeak-ng`, WAV files, hold music.

A spoken prompt is rendered once and cached on disk under a hash of (voice, text), so a busy
IVR runs `espeak-ng` once per distinct sentence, not once per call (issue 7, point 4; the
WebRTC adapter does the same at 48 kHz). espeak-ng writes 22,050 Hz, which is no whole
multiple of 8 kHz, so `sox` converts it (with its band-limited resampler: a linear one
would fold the 4-11 kHz of sibilants into the telephone band). WAV files at 16, 24 or
48 kHz go through `tones.resample` (integer ratios) without a subprocess.
"""

from __future__ import annotations

import asyncio
import hashlib
import wave
from pathlib import Path

import numpy as np

from helpline.core.errors import ClientError
from helpline.media.g711 import Pcm
from helpline.media.tones import resample
from helpline.telephony.webrtc.audio import RATE as WEBRTC_RATE
from helpline.telephony.webrtc.prompts import synth_music

RATE = 8000


class PromptError(ClientError):
    """A prompt that cannot be played: a missing or unreadable file, a failed rendering."""

    code = "bad_prompt"


def read_wav_8k(path: Path) -> Pcm:
    """A 16-bit PCM WAV (mono, or the left channel of stereo) as 8 kHz int16 samples.

    Rates that are whole multiples of 8 kHz are resampled here; others need `convert_wav`."""
    try:
        with wave.open(str(path), "rb") as reader:
            if reader.getsampwidth() != 2:
                raise PromptError(f"{path.name}: only 16-bit PCM WAV is supported")
            channels, rate = reader.getnchannels(), reader.getframerate()
            data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    except (OSError, EOFError, wave.Error) as exc:
        raise PromptError(f"{path.name}: not a readable WAV file ({exc})") from exc
    mono = data[::channels].astype(np.int16)
    if rate == RATE:
        return mono
    if max(rate, RATE) % min(rate, RATE):
        raise PromptError(f"{path.name}: {rate} Hz is not a whole multiple of 8000 Hz")
    return resample(mono, rate, RATE)


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        detail = errors.decode(errors="replace").strip()[:200]
        raise PromptError(f"{Path(command[0]).name} failed ({process.returncode}): {detail}")


async def convert_wav(source: Path, target: Path, *, sox: str = "sox") -> None:
    """Any WAV sox reads, as 8 kHz mono 16-bit (written to `target`)."""
    await _run(sox, str(source), "-r", str(RATE), "-c", "1", "-b", "16", str(target))


class PromptCache:
    """Spoken prompts and WAV files as 8 kHz samples, kept in memory once loaded."""

    def __init__(
        self, cache_dir: Path, *, espeak: str = "espeak-ng", sox: str = "sox", speed: int = 160
    ) -> None:
        self.cache_dir = cache_dir
        self.espeak = espeak
        self.sox = sox
        self.speed = speed
        self.renders = 0  # how many times espeak-ng ran: the cache's measure
        self._memory: dict[str, Pcm] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._music: Pcm | None = None

    @staticmethod
    def key(text: str, voice: str) -> str:
        return hashlib.sha256(f"{voice}\0{text}".encode()).hexdigest()[:32]

    async def speak(self, text: str, voice: str = "en-us") -> Pcm:
        """The text spoken by `voice` at 8 kHz: from memory, the disk cache, or espeak-ng."""
        if not text.strip():
            raise PromptError("text: nothing to say")
        key = self.key(text, voice)
        found = self._memory.get(key)
        if found is not None:
            return found
        async with self._locks.setdefault(key, asyncio.Lock()):  # one render per sentence
            found = self._memory.get(key)
            if found is None:
                path = self.cache_dir / f"{key}.wav"
                if not path.exists():
                    await self._render(text, voice, path)
                found = self._memory[key] = read_wav_8k(path)
            return found

    async def _render(self, text: str, voice: str, path: Path) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        spoken = path.with_suffix(".espeak.wav")
        partial = path.with_suffix(".part.wav")
        self.renders += 1
        await _run(self.espeak, "-v", voice, "-s", str(self.speed), "-w", str(spoken), "--", text)
        try:
            await convert_wav(spoken, partial, sox=self.sox)
        finally:
            spoken.unlink(missing_ok=True)
        partial.replace(path)  # atomic: a crash never leaves half a prompt in the cache

    async def load(self, path: Path) -> Pcm:
        """A WAV file at 8 kHz; rates that need sox are converted once, into the cache."""
        name = f"file:{path.resolve()}:{path.stat().st_mtime_ns if path.exists() else 0}"
        found = self._memory.get(name)
        if found is not None:
            return found
        if not path.is_file():
            raise PromptError(f"{path.name}: no such file")
        try:
            samples = read_wav_8k(path)
        except PromptError:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            converted = self.cache_dir / f"{self.key(name, 'file')}.wav"
            if not converted.exists():
                partial = converted.with_suffix(".part.wav")
                await convert_wav(path, partial, sox=self.sox)
                partial.replace(converted)
            samples = read_wav_8k(converted)
        self._memory[name] = samples
        return samples

    def hold_music(self) -> Pcm:
        """The synthesised default hold music (shared with the WebRTC adapter), at 8 kHz."""
        if self._music is None:
            self._music = resample(synth_music(), WEBRTC_RATE, RATE)
        return self._music
