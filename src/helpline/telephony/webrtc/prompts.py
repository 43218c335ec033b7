"""What callers hear: IVR prompts spoken from text by Debian's `espeak-ng`, uploaded audio,
and hold music.

A prompt is rendered once and cached on disk under a hash of (voice, text), so a busy IVR
runs `espeak-ng` once per distinct sentence, not once per call (issue 6, point 1). Uploaded
audio is the tenant's: `audio/<tenant>/<name>.wav` in the media directory, named by the
prompt's `audio`, checked and converted once at upload to what a leg plays (48 kHz mono), so
playing it is a read (in a thread, then an LRU), never a decode on the event loop.
Hold music is synthesised (a slow arpeggio), so no third party's recording ships with us.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import struct
import wave
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from helpline.core import commands as cmd
from helpline.telephony.webrtc.audio import RATE, Samples, to_rate

log = logging.getLogger("helpline.webrtc")

VOICES = {"en": "en-us", "es": "es", "fr": "fr", "de": "de", "tr": "tr", "vi": "vi"}
AUDIO_NAME = re.compile(r"^[\w.-]{1,120}$")
TENANT_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_UPLOAD_RATE, MAX_UPLOAD_RATE = 8000, 48000
MAX_UPLOAD_S = 600.0  # 10 minutes
UPLOAD_CACHE_SAMPLES = 64 * 1024 * 1024 // 2  # 64 MB of int16 (about 11 min of 48 kHz audio)


def read_wav(path: Path) -> Samples:
    """A 16-bit PCM WAV file (mono or the left of stereo) as 48 kHz mono samples."""
    with wave.open(str(path), "rb") as reader:
        if reader.getsampwidth() != 2:
            raise ValueError(f"{path.name}: only 16-bit PCM WAV is supported")
        channels = reader.getnchannels()
        rate = reader.getframerate()
        data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    if channels > 1:
        data = data[::channels]
    return to_rate(data, rate)


class PromptLibrary:
    def __init__(self, media_dir: Path, espeak: str = "espeak-ng") -> None:
        self.cache_dir = media_dir / "prompts"
        self.audio_dir = media_dir / "audio"
        self.espeak = espeak
        self._memory: dict[str, Samples] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._music: Samples | None = None
        self._uploads = _Lru(UPLOAD_CACHE_SAMPLES)

    async def speak(self, text: str, language: str | None = None) -> Samples:
        voice = VOICES.get((language or "en").split("-")[0].lower(), "en-us")
        key = hashlib.sha256(f"{voice}\0{text}".encode()).hexdigest()[:32]
        found = self._memory.get(key)
        if found is not None:
            return found
        async with self._locks.setdefault(key, asyncio.Lock()):  # one render per sentence
            found = self._memory.get(key)
            if found is not None:
                return found
            path = self.cache_dir / f"{key}.wav"
            if not path.exists():
                await self._render(text, voice, path)
            samples = read_wav(path)
            self._memory[key] = samples
            return samples

    async def _render(self, text: str, voice: str, path: Path) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        process = await asyncio.create_subprocess_exec(
            self.espeak,
            "-v",
            voice,
            "-s",
            "160",
            "-w",
            str(partial),
            "--",
            text,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"espeak-ng failed: {errors.decode(errors='replace')[:200]}")
        partial.replace(path)  # atomic: a crash never leaves half a prompt in the cache

    def tenant_audio_dir(self, tenant_id: str) -> Path:
        """The tenant's own folder of uploaded audio: one tenant never hears another's."""
        return self.audio_dir / tenant_folder(tenant_id)

    def store_upload(self, tenant_id: str, name: str, body: bytes) -> float:
        """Check an uploaded WAV, convert it once to what legs play, keep it; its seconds.

        Blocking (decode, resample, disk): the caller runs it in a thread. Raises ValueError
        with the reason when the file is not usable.
        """
        if not AUDIO_NAME.match(name):
            raise ValueError(f"name: {name!r} is not a usable audio name")
        samples = decode_upload(body)
        folder = self.tenant_audio_dir(tenant_id)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.part"
        with wave.open(str(partial), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(RATE)
            writer.writeframes(samples.astype("<i2").tobytes())
        partial.replace(folder / f"{name}.wav")  # atomic: a call never reads half a file
        return len(samples) / RATE

    async def uploaded(self, tenant_id: str, name: str) -> Samples | None:
        """The tenant's uploaded audio by name, or None when there is no such file.

        Stored already converted (48 kHz mono), so loading is a read; it happens in a thread
        and the result is kept in a bounded LRU keyed by the file's mtime (a new upload of the
        same name is picked up at the next play).
        """
        if not AUDIO_NAME.match(name):
            return None
        stem = name[:-4] if name.endswith(".wav") else name
        path = self.tenant_audio_dir(tenant_id) / f"{stem}.wav"
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        key = (tenant_id, stem, mtime)
        found = self._uploads.get(key)
        if found is not None:
            return found
        try:
            samples = await asyncio.to_thread(read_wav, path)
        except (ValueError, wave.Error, EOFError, OSError):
            log.warning("uploaded audio %s is not a usable WAV file", path)
            return None
        self._uploads.put(key, samples)
        return samples

    async def hold_music(self, tenant_id: str | None = None, name: str | None = None) -> Samples:
        """The tenant's uploaded music by that name, else the synthesised default."""
        if tenant_id is not None and name and name != "default":
            found = await self.uploaded(tenant_id, name)
            if found is not None:
                return found
        return self.default_music()

    def default_music(self) -> Samples:
        """The synthesised music (2.4 s, made once: cheap enough for the event loop)."""
        if self._music is None:
            self._music = synth_music()
        return self._music


T = TypeVar("T")
# renders a prompt: (its text, the name of its uploaded audio, its language) -> samples
Render = Callable[[str | None, str | None, str | None], Awaitable[T]]


async def queue_greeting(command: cmd.PlayQueueAudio, render: Render[T], call_id: str) -> T | None:
    """The greeting a queue plays once before its music (seed 000 2h), rendered by the
    adapter at its own rate; None when the queue has none, or when it cannot be rendered
    (logged: the caller hears the music rather than nothing)."""
    greeting = command.greeting
    audio = greeting.audio if greeting else None
    if not command.greeting_text and not audio:
        return None
    try:
        return await render(command.greeting_text, audio, greeting.language if greeting else None)
    except Exception:
        log.exception("call %s: the greeting could not be rendered", call_id)
        return None


async def queue_music(
    load: Callable[[str | None], Awaitable[T]], name: str | None, call_id: str
) -> T:
    """The queue's hold music by name, loaded by the adapter at its own rate; the default
    music when that one fails, so a broken upload never leaves a caller in silence."""
    try:
        return await load(name)
    except Exception:
        log.exception("call %s: the hold music could not be loaded", call_id)
        return await load(None)


def tenant_folder(tenant_id: str) -> str:
    """A path-safe folder name for a tenant: its id when plainly safe, else a hash of it."""
    if TENANT_SAFE.match(tenant_id) and tenant_id not in {".", ".."}:
        return tenant_id
    return "h-" + hashlib.sha256(tenant_id.encode()).hexdigest()[:32]


def decode_upload(body: bytes) -> Samples:
    """An uploaded WAV as 48 kHz mono int16, within the limits; ValueError names the problem.

    The rate is bounded so conversion cannot blow up (a 1 Hz header would ask for 48000
    samples per input sample), and so is the length (hold music, not an audiobook).
    """
    try:
        with wave.open(io.BytesIO(body)) as reader:
            width, rate = reader.getsampwidth(), reader.getframerate()
            channels, frames = reader.getnchannels(), reader.getnframes()
            if width != 2:
                raise ValueError("only 16-bit PCM WAV is supported")
            if not MIN_UPLOAD_RATE <= rate <= MAX_UPLOAD_RATE:
                raise ValueError(f"sample rate {rate} Hz: {MIN_UPLOAD_RATE}-{MAX_UPLOAD_RATE}")
            if channels not in (1, 2):
                raise ValueError(f"{channels} channels: mono or stereo only")
            if frames / rate > MAX_UPLOAD_S:
                raise ValueError(f"{frames / rate:.0f} s: at most {MAX_UPLOAD_S:.0f} s")
            raw = reader.readframes(frames)
    except (wave.Error, EOFError, struct.error) as error:
        raise ValueError(f"not a WAV file ({error})") from None
    data = np.frombuffer(raw[: len(raw) - len(raw) % (2 * channels)], dtype="<i2")
    if channels == 2:
        data = ((data[0::2].astype(np.int32) + data[1::2]) >> 1).astype(np.int16)
    return to_rate(data, rate)


class _Lru:
    """Decoded uploads kept in memory, bounded by their total samples (oldest use dropped)."""

    def __init__(self, max_samples: int) -> None:
        self.max_samples = max_samples
        self._items: OrderedDict[tuple[str, str, int], Samples] = OrderedDict()
        self._size = 0

    def get(self, key: tuple[str, str, int]) -> Samples | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str, int], samples: Samples) -> None:
        if len(samples) > self.max_samples:
            return  # bigger than the whole cache: read it each time rather than evict all
        old = self._items.pop(key, None)
        self._size -= 0 if old is None else len(old)
        self._items[key] = samples
        self._size += len(samples)
        while self._size > self.max_samples:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped)


def synth_music(seconds_per_note: float = 0.4) -> Samples:
    """A soft, looping C-major arpeggio with a gentle fade on each note."""
    notes = (261.63, 329.63, 392.0, 523.25, 392.0, 329.63)
    count = int(RATE * seconds_per_note)
    t = np.arange(count) / RATE
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-3.0 * t)
    pieces = [np.sin(2 * np.pi * f * t) * envelope for f in notes]
    wave_ = np.concatenate(pieces) * 0.2 * 32767
    return wave_.astype(np.int16)
