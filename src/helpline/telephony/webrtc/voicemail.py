"""Voicemail for browser callers: the caller's message after the beep, kept as a mono WAV.

The engine's `StartVoicemail` decides *that* a call goes to a mailbox (an IVR action or a
queue's fallback); the adapter plays the mailbox's prompt and the beep, and when the beep has
played hands the caller's leg to `Voicemail.record`. From then on what the caller says (the
leg's one reader, 48 kHz) is resampled to 16 kHz (speech needs no more, as for recordings)
and written to `<media_dir>/voicemail/<tenant>/<call>.wav` as it arrives, so a long message
never sits in memory.

The message ends when the caller hangs up (their leg closes, however it closes: the page's
hang-up, a dropped page, failed media, or the engine's `Hangup`), or at `max_s` (the
`voicemail_max_s` setting, 120 s by default), when the system hangs up the call itself
(`CallHungUp`, reason `voicemail_max_length`): a caller who never hangs up must not hold a
line and a file open for ever. Then `on_message` is told (the API points the call's record
at the file: `voicemail_url`). A message with no audio at all (the caller left during the
beep) is no message: its file is removed and nobody is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

from helpline.media.tones import Resampler
from helpline.telephony.webrtc.audio import RATE, Samples
from helpline.telephony.webrtc.legs import MediaLeg
from helpline.telephony.webrtc.prompts import tenant_folder

log = logging.getLogger("helpline.webrtc")

MESSAGE_RATE = 16000
DEFAULT_MAX_S = 120.0
MAX_LENGTH_REASON = "voicemail_max_length"
ENDED_STATES = frozenset({"closed", "failed"})  # the leg's peer connection is gone
# how long shutdown waits for messages being delivered (the API waits up to 5 s for the
# call's record first: media_ready.SETTLE_LIMIT_S)
DRAIN_LIMIT_S = 10.0

# (tenant id, call id, WAV path, duration in seconds): point the call's record at it
MessageSink = Callable[[str, str, Path, float], Awaitable[None]]


def voicemail_path(media_dir: Path, tenant_id: str, call_id: str) -> Path:
    """Where a call's message goes: the tenant's folder, path-safe whatever the ids."""
    return media_dir / "voicemail" / tenant_folder(tenant_id) / f"{tenant_folder(call_id)}.wav"


class MessageFile:
    """One message being written: 48 kHz samples in, 16-bit mono 16 kHz WAV out, capped at
    `max_s` seconds (what comes after is dropped: `add` says False once it is full)."""

    def __init__(self, path: Path, max_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.limit = round(max_s * MESSAGE_RATE)
        self.written = 0
        self._resampler = Resampler(RATE, MESSAGE_RATE)
        # open across add() calls, closed by close(): no `with` block can span that
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(MESSAGE_RATE)
        self.closed = False

    @property
    def full(self) -> bool:
        return self.written >= self.limit

    def add(self, samples: Samples) -> bool:
        """Write the caller's next 48 kHz samples; False when the message is full."""
        if self.closed or self.full:
            return False
        out = self._resampler.process(samples)[: self.limit - self.written]
        self._wav.writeframes(out.astype("<i2").tobytes())
        self.written += len(out)
        return not self.full

    def close(self) -> float:
        """Finish the file; the message's length in seconds."""
        if not self.closed:
            self.closed = True
            self._wav.close()
        return self.written / MESSAGE_RATE


class Voicemail:
    """The adapter's voicemail: how long a message may be and whom to tell of one, and the
    messages under way (one per call: one writer per file, one delivery per message)."""

    def __init__(
        self, *, max_s: float = DEFAULT_MAX_S, on_message: MessageSink | None = None
    ) -> None:
        self.max_s = max_s
        self.on_message = on_message
        self._ending: dict[tuple[str, str], Callable[[], None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def record(
        self,
        media_dir: Path,
        tenant_id: str,
        call_id: str,
        leg: MediaLeg,
        hang_up: Callable[[str], None],
    ) -> MessageFile | None:
        """Keep what the caller says on `leg` from now on; `hang_up(reason)` ends the call
        when the message is full. None when the leg is gone already (nothing to record) or
        the file cannot be written (a full disk must not fail the call: it goes on unrecorded)."""
        key = (tenant_id, call_id)
        self.end(tenant_id, call_id)  # a second StartVoicemail: the first message is over
        if leg.closed:
            return None
        try:
            message = MessageFile(voicemail_path(media_dir, tenant_id, call_id), self.max_s)
        except OSError:
            log.exception("call %s: its voicemail message cannot be written", call_id)
            return None
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def end(full: bool) -> None:
            if message.closed:
                return
            if self._ending.get(key) is end_now:
                del self._ending[key]
            if timer is not None:
                timer.cancel()
            with contextlib.suppress(ValueError):
                leg.listeners.remove(hear)
            duration = message.close()
            if full:  # before telling: the record is written once the engine has ended it
                hang_up(MAX_LENGTH_REASON)
            if duration <= 0:  # the caller left during the beep: no message. Removed now,
                # not in a task: a next message on the same path may be opening it already
                message.path.unlink(missing_ok=True)
                return
            self._spawn(self._deliver(tenant_id, call_id, message.path, duration))

        def end_now() -> None:
            end(full=False)

        def hear(samples: Samples) -> None:
            if not message.add(samples):
                end(full=True)

        def on_state() -> None:
            if leg.pc.connectionState in ENDED_STATES:
                end(full=False)

        self._ending[key] = end_now
        leg.listeners.append(hear)
        # called by the connection itself as it closes (aiortc emits the state change before it
        # drops its listeners), whoever closes it: no change to how a call ends is needed
        leg.pc.on("connectionstatechange", on_state)
        # the clock too, not only the samples: a caller whose audio stopped coming (a frozen
        # page) would otherwise hold the line open for ever
        timer = loop.call_later(self.max_s, end, True)
        return message

    def end(self, tenant_id: str, call_id: str) -> None:
        """The call's audio moves on (a prompt, an agent, another mailbox): a message being
        taken is over (as `helpline.telephony.sip.voicemail.SipVoicemail.end`)."""
        ending = self._ending.get((tenant_id, call_id))
        if ending is not None:
            ending()

    async def drain(self, timeout_s: float = DRAIN_LIMIT_S) -> None:
        """Wait (at shutdown) for the messages being delivered; what is still pending after
        `timeout_s` is cancelled (its file stays on disk)."""
        await drain_tasks(self._tasks, timeout_s)

    async def _deliver(self, tenant_id: str, call_id: str, path: Path, duration: float) -> None:
        if self.on_message is None:
            return
        try:
            await self.on_message(tenant_id, call_id, path, duration)
        except Exception:
            log.exception("call %s: its voicemail message was not stored", call_id)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def drain_tasks(tasks: set[asyncio.Task[None]], timeout_s: float) -> None:
    """Wait for `tasks` up to `timeout_s`, then cancel the rest (shutdown must end)."""
    pending = set(tasks)
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=timeout_s)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)
