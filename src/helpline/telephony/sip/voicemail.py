"""Voicemail for SIP callers: the caller's message after the beep, kept as a mono WAV.

The same mailbox as a browser caller's (`helpline.telephony.webrtc.voicemail`): the engine's
`StartVoicemail` plays the mailbox's prompt and the same beep (1 kHz, 0.4 s, taken down to
G.711's 8 kHz), and once the beep's last packet has gone out (`audio.CallerAudio`) what the
caller's endpoint decodes is the message. It is widened from 8 kHz to 16 kHz as it arrives
(one file format whoever called: `GET /v1/call-records/{id}/voicemail` serves 16 kHz), and
written to `<media_dir>/voicemail/<tenant>/<call>.wav` (`voicemail_path`).

The message ends when the call's media close (the caller's BYE, the engine's `Hangup`, a
media timeout: every way a SIP call ends closes its sockets, `B2BUA._close_media`), or at
the browser adapter's `max_s` (the `voicemail_max_s` setting), when the system hangs up
(`CallHungUp`, reason `voicemail_max_length`). Then the browser adapter's sink is told (the
API points the call's record at the file); an empty message is removed and nobody is told.
Without a browser adapter behind us the defaults hold (120 s, nobody told: the file stays).
"""

from __future__ import annotations

import asyncio
import logging
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpline.media.g711 import Pcm
from helpline.media.tones import Resampler, resample
from helpline.telephony.rtp.endpoint import RtpEndpoint
from helpline.telephony.webrtc.adapter import BEEP as WIDE_BEEP
from helpline.telephony.webrtc.adapter import WebRtcTelephony
from helpline.telephony.webrtc.audio import RATE as WIDE_RATE
from helpline.telephony.webrtc.voicemail import (
    DEFAULT_MAX_S,
    DRAIN_LIMIT_S,
    MAX_LENGTH_REASON,
    MESSAGE_RATE,
    MessageSink,
    Voicemail,
    drain_tasks,
    voicemail_path,
)

log = logging.getLogger("helpline.sip")

RATE = 8000  # what the caller's endpoint decodes (G.711)
BEEP = resample(WIDE_BEEP, WIDE_RATE, RATE)  # the browser callers' beep, at 8 kHz

# (reason) -> None: the system hangs the call up (the message is full)
HangUp = Callable[[str], None]


class PhoneMessage:
    """One message being written: 8 kHz samples in, 16-bit mono 16 kHz WAV out, capped at
    `max_s` seconds (`add` says False once it is full)."""

    def __init__(self, path: Path, max_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.limit = round(max_s * MESSAGE_RATE)
        self.written = 0
        self.closed = False
        self._widen = Resampler(RATE, MESSAGE_RATE)
        # open across add() calls, closed by close(): no `with` block can span that
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(MESSAGE_RATE)

    def add(self, samples: Pcm) -> bool:
        """Write the caller's next 8 kHz samples; False when the message is full."""
        if self.closed or self.written >= self.limit:
            return False
        out = self._widen.process(samples)[: self.limit - self.written]
        self._wav.writeframes(out.astype("<i2").tobytes())
        self.written += len(out)
        return self.written < self.limit

    def close(self) -> float:
        """Finish the file; the message's length in seconds."""
        if not self.closed:
            self.closed = True
            self._wav.close()
        return self.written / MESSAGE_RATE


@dataclass(eq=False)
class _Taking:
    """A message under way: its file, the endpoint it listens to, its length limit's timer."""

    tenant_id: str
    call_id: str
    message: PhoneMessage
    endpoint: RtpEndpoint
    hang_up: HangUp
    finish: Callable[[_Taking, bool], None]  # (this message, full): it is over
    timer: asyncio.TimerHandle | None = None

    def hear(self, samples: Pcm) -> None:
        if not self.message.add(samples):
            self.finish(self, True)


class SipVoicemail:
    """The B2BUA's mailbox: where messages go, and (from the browser adapter, so one setting
    and one sink serve both kinds of caller) how long they may be and whom to tell."""

    def __init__(
        self, media_dir: Callable[[], Path], mailbox: Callable[[], Voicemail | None]
    ) -> None:
        self.media_dir = media_dir
        self.mailbox = mailbox  # read each time: the API installs its sink after we start
        self._taking: dict[tuple[str, str], _Taking] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _policy(self) -> tuple[float, MessageSink | None]:
        mailbox = self.mailbox()
        if mailbox is None:
            return DEFAULT_MAX_S, None
        return mailbox.max_s, mailbox.on_message

    def record(
        self, tenant_id: str, call_id: str, endpoint: RtpEndpoint, hang_up: HangUp
    ) -> PhoneMessage | None:
        """Keep what the caller's endpoint decodes from now on (the beep has played); None
        when the file cannot be written (a full disk must not fail the call)."""
        key = (tenant_id, call_id)
        self.end(tenant_id, call_id)  # a second StartVoicemail: the first message is over
        max_s, _ = self._policy()
        path = voicemail_path(self.media_dir(), tenant_id, call_id)
        try:
            message = PhoneMessage(path, max_s)
        except OSError:
            log.exception("call %s: its voicemail message cannot be written", call_id)
            return None
        taking = _Taking(tenant_id, call_id, message, endpoint, hang_up, self._finish)
        endpoint.on_audio = taking.hear
        # the clock too, not only the packets: a caller whose RTP stopped (a silence-
        # suppressing phone, a dead one before the media timeout) must not hold the line
        taking.timer = asyncio.get_running_loop().call_later(max_s, self._finish, taking, True)
        self._taking[key] = taking
        return taking.message

    def end(self, tenant_id: str, call_id: str) -> None:
        """The call's media are closing (it ended, however it ended): the message is over."""
        taking = self._taking.get((tenant_id, call_id))
        if taking is not None:
            self._finish(taking, full=False)

    def _finish(self, taking: _Taking, full: bool) -> None:
        if taking.message.closed:
            return
        if self._taking.get((taking.tenant_id, taking.call_id)) is taking:
            del self._taking[(taking.tenant_id, taking.call_id)]
        if taking.timer is not None:
            taking.timer.cancel()
        if taking.endpoint.on_audio == taking.hear:  # (bound methods: equal, never identical)
            taking.endpoint.on_audio = None
        duration = taking.message.close()
        if full:  # before telling: the record is written once the engine has ended the call
            taking.hang_up(MAX_LENGTH_REASON)
        if duration <= 0:  # the caller left during the beep: no message. Removed now, not
            # in a task: a next message on the same path may be opening it already
            taking.message.path.unlink(missing_ok=True)
            return
        _, sink = self._policy()
        self._spawn(self._deliver(taking, duration, sink))

    async def drain(self, timeout_s: float = DRAIN_LIMIT_S) -> None:
        """Wait (at shutdown) for the messages being delivered; what is still pending after
        `timeout_s` is cancelled (its file stays on disk)."""
        await drain_tasks(self._tasks, timeout_s)

    async def _deliver(self, taking: _Taking, duration: float, sink: MessageSink | None) -> None:
        if sink is None:
            return
        try:
            await sink(taking.tenant_id, taking.call_id, taking.message.path, duration)
        except Exception:
            log.exception("call %s: its voicemail message was not stored", taking.call_id)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def web_mailbox(web: Callable[[], WebRtcTelephony | None]) -> Callable[[], Voicemail | None]:
    """The browser adapter's mailbox (its length limit and sink), when it is behind us."""

    def mailbox() -> Voicemail | None:
        found = web()
        return found.voicemail if found is not None else None

    return mailbox


def beep_after(prompt: Pcm) -> Pcm:
    """What the caller hears before the message: the mailbox's prompt, then the beep."""
    return np.concatenate([prompt, BEEP]).astype(np.int16)
