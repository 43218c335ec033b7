"""The `webrtc` telephony adapter: real audio for browser callers and browser agents.

It implements the `Telephony` port (helpline.ports) beside the virtual carrier: every command
goes to the virtual carrier too (so sandbox devices and callers keep working, and a sandbox
agent can take a browser's call), and the commands about a browser's call or a browser
agent's line are carried out here with media:

- `PlayPrompt`: the prompt's text spoken by espeak-ng (cached) or its uploaded audio; when it
  has played, `PromptEnded` goes back so the IVR's key timeout starts (core/ivr.py).
- `PlayQueueAudio`: the greeting once, then hold music, looping.
- `Bridge`: the caller hears the agent's line and the agent the caller's; with `record`
  (seed 004 "Recording permissions", decided by the engine) a stereo WAV is written, caller
  left, agent right, and handed to `on_recording` when the call ends.
- `SetHold`: music to the caller, silence to the agent; off: bridged again.
- `Hangup`: the optional goodbye prompt, then the caller's page is told and its leg closed.

Agents' lines (what each plays and hears, and their presence): helpline.telephony.webrtc.lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import numpy as np

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.ports import PostEvent, PostLineEvent, Telephony, TelephonyCommand
from helpline.telephony.webrtc.audio import RATE, SILENCE, Clip, Feed, Samples
from helpline.telephony.webrtc.calls import AgentLine, Channel, LineMedia, WebCall
from helpline.telephony.webrtc.inband import inband_detector
from helpline.telephony.webrtc.legs import Leg, MediaLeg
from helpline.telephony.webrtc.lines import AgentLines
from helpline.telephony.webrtc.prompts import (
    PromptLibrary,
    queue_greeting,
    queue_music,
    tenant_folder,
)
from helpline.telephony.webrtc.recording import CallRecording
from helpline.telephony.webrtc.voicemail import Voicemail

__all__ = ["AgentLine", "Channel", "LineMedia", "RecordingSink", "WebCall", "WebRtcTelephony"]

log = logging.getLogger("helpline.webrtc")

# (tenant id, call id, WAV path, duration in seconds): store it, point the record at it
RecordingSink = Callable[[str, str, Path, float], Awaitable[None]]
HANGUP_PROMPT_LIMIT_S = 10.0
# the voicemail beep: 1 kHz for 0.4 s, after the mailbox's prompt
BEEP = (np.sin(2 * np.pi * 1000 * np.arange(int(0.4 * RATE)) / RATE) * 8000).astype(np.int16)


class WebRtcTelephony(AgentLines):
    def __init__(
        self,
        fallback: Telephony,
        media_dir: Path,
        *,
        on_recording: RecordingSink | None = None,
        presence_grace_s: float = 5.0,
    ) -> None:
        self.fallback = fallback
        self.media_dir = media_dir
        self.prompts = PromptLibrary(media_dir)
        self.on_recording = on_recording
        self.voicemail = Voicemail()  # its length limit and sink: set by the API's install
        self.presence_grace_s = presence_grace_s
        self.calls: dict[tuple[str, str], WebCall] = {}
        self.lines: dict[tuple[str, str], AgentLine] = {}
        self._post: PostEvent | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def use_media_dir(self, media_dir: Path) -> None:
        """Where prompts, uploaded audio and recordings live (settings' `media_dir`)."""
        self.media_dir = media_dir
        self.prompts = PromptLibrary(media_dir)

    # -- legs (where their media run: here; in media workers with `worker_adapter`) ----------

    def new_leg(self, name: str, on_digit: Callable[[str], None] | None = None) -> MediaLeg:
        """A browser's leg, not yet answered; `on_digit`: keys heard in band (Goertzel)."""
        leg = Leg(name)
        if on_digit is not None:
            leg.listeners.append(inband_detector(on_digit))
        return leg

    def hear_caller(self, call: WebCall) -> None:
        """What the caller says reaches the bridge and the recorder (`WebCall.heard`)."""
        call.leg.listeners.append(call.heard)

    def hear_agent(self, line: AgentLine, leg: MediaLeg) -> None:
        """What the agent says on this leg reaches the line's call (`agent_heard`)."""
        leg.listeners.append(partial(self.agent_heard, line))

    # -- the port --------------------------------------------------------------------------------

    def attach(self, post: PostEvent) -> None:
        self._post = post
        self.fallback.attach(post)

    def listen_lines(self, listener: PostLineEvent) -> None:
        self.fallback.listen_lines(listener)  # agent lines are the carriers' (seed 003)

    def emit(self, tenant_id: str, event: ev.Event) -> None:
        if self._post is None:
            raise RuntimeError("the webrtc adapter is not attached to a runtime")
        self._post(tenant_id, event)

    async def execute(self, tenant_id: str, command: TelephonyCommand) -> None:
        await self.fallback.execute(tenant_id, command)
        call = self.calls.get((tenant_id, command.call_id))
        if isinstance(command, cmd.Bridge):
            self._bridge(tenant_id, command, call)
        elif isinstance(command, cmd.Hangup):
            self._release_agents(tenant_id, command.call_id)
        if call is None or call.ended:
            return
        if isinstance(command, cmd.PlayPrompt | cmd.PlayQueueAudio):
            # the IVR or a queue has the caller: no agent (any more: a transfer to a queue)
            self._unbridge(call)
            self._next_audio(call)
            if isinstance(command, cmd.PlayPrompt):
                self._spawn(self._play_prompt(call, command, call.audio_serial))
            else:
                self._spawn(self._play_queue_audio(call, command, call.audio_serial))
        elif isinstance(command, cmd.SetHold):
            self._hold(call, command.on)
        elif isinstance(command, cmd.Hangup):
            self._spawn(self._hang_up(call, command))
        elif isinstance(command, cmd.StartVoicemail):
            self._unbridge(call)
            self._next_audio(call)
            self._spawn(self._play_voicemail(call, command, call.audio_serial))
        elif isinstance(command, cmd.DialExternal):
            # silence until the number answers: the SIP adapter in front of us dials it
            # through the trunk and joins it (helpline.telephony.sip.browser)
            self._unbridge(call)
            self._next_audio(call)
            call.leg.out.source = SILENCE

    # -- commands ----------------------------------------------------------------------------------

    async def _samples_of(
        self, tenant_id: str, text: str | None, audio: str | None, language: str | None
    ) -> Samples:
        if audio:
            found = await self.prompts.uploaded(tenant_id, audio)
            if found is not None:
                return found
        if text:
            return await self.prompts.speak(text, language)
        return SILENCE.pull(0)

    async def _play_prompt(self, call: WebCall, command: cmd.PlayPrompt, serial: int) -> None:
        prompt = command.prompt
        try:
            samples = await self._samples_of(
                call.tenant_id, command.text, prompt.audio, prompt.language
            )
        except Exception:
            log.exception("call %s: the prompt could not be rendered", call.call_id)
            samples = SILENCE.pull(0)
        if call.ended or call.audio_serial != serial:
            return
        tenant, call_id = call.tenant_id, call.call_id
        call.leg.out.source = Clip(
            samples, on_end=lambda: self.emit(tenant, ev.PromptEnded(call_id=call_id))
        )

    async def _play_queue_audio(
        self, call: WebCall, command: cmd.PlayQueueAudio, serial: int
    ) -> None:
        # a broken upload must not leave the caller in silence (R5): the default plays
        load = partial(self.prompts.hold_music, call.tenant_id)
        music = Clip(await queue_music(load, command.hold_music, call.call_id), loop=True)
        render = partial(self._samples_of, call.tenant_id)
        greeting = await queue_greeting(command, render, call.call_id)
        if call.ended or call.audio_serial != serial:
            return
        call.leg.out.source = music if greeting is None else Clip(greeting, then=music)

    async def _play_voicemail(
        self, call: WebCall, command: cmd.StartVoicemail, serial: int
    ) -> None:
        """The mailbox's prompt, then the beep, then the caller's message is kept
        (helpline.telephony.webrtc.voicemail) until they hang up or it is full."""
        prompt = command.prompt
        samples = SILENCE.pull(0)
        if prompt is not None:
            try:
                samples = await self._samples_of(
                    call.tenant_id, prompt.text, prompt.audio, prompt.language
                )
            except Exception:
                log.exception("call %s: the voicemail prompt could not be rendered", call.call_id)
        if call.ended or call.audio_serial != serial:
            return
        tenant, call_id = call.tenant_id, call.call_id

        def hang_up(reason: str) -> None:
            self.emit(tenant, ev.CallHungUp(call_id=call_id, party=ev.Party.SYSTEM, reason=reason))

        def record() -> None:  # the beep has played: what the caller says now is the message
            if not call.ended and call.audio_serial == serial:
                self.voicemail.record(self.media_dir, tenant, call_id, call.leg, hang_up)

        call.leg.out.source = Clip(np.concatenate([samples, BEEP]), on_end=record)

    def _bridge(self, tenant_id: str, command: cmd.Bridge, call: WebCall | None) -> None:
        self._release_agents(tenant_id, command.call_id, keep=command.agent_id)
        line = self.lines.get((tenant_id, command.agent_id))
        if call is not None:
            self._next_audio(call)  # a prompt still rendering must not replace the agent
            call.agent_id = command.agent_id
            call.held = False
            call.agent_voice = Feed()
            call.caller_voice = Feed()
            call.leg.out.source = call.agent_voice
            if command.record and call.recorder is None:
                path = self.recording_path(tenant_id, command.call_id)
                call.recorder = CallRecording(path)
        if line is not None:
            if line.call_id != command.call_id:
                self._part(line)  # another call's media (a SIP caller's) end here
            line.call_id = command.call_id
            line.call = call
            self.connect_line(line)

    def recording_path(self, tenant_id: str, call_id: str) -> Path:
        """Where a call's recording goes: the tenant's folder, path-safe whatever its id."""
        return self.media_dir / "recordings" / tenant_folder(tenant_id) / f"{call_id}.wav"

    def _next_audio(self, call: WebCall) -> None:
        """The caller's audio moves on (a prompt, an agent, hold, another mailbox): what was
        playing is stale (`audio_serial`), and a message being taken is over."""
        call.audio_serial += 1
        self.voicemail.end(call.tenant_id, call.call_id)

    def _unbridge(self, call: WebCall) -> None:
        if call.agent_id is not None:
            call.agent_id = None
            self._release_agents(call.tenant_id, call.call_id)

    def _hold(self, call: WebCall, on: bool) -> None:
        call.held = on
        self._next_audio(call)
        if on:
            call.leg.out.source = Clip(self.prompts.default_music(), loop=True)
        else:
            call.agent_voice = Feed()
            call.leg.out.source = call.agent_voice
        line = self.lines.get((call.tenant_id, call.agent_id or ""))
        if line is not None:
            self.connect_line(line)

    async def _hang_up(self, call: WebCall, command: cmd.Hangup) -> None:
        call.ended = True
        if command.prompt is not None and command.prompt.text:
            done = asyncio.Event()
            try:
                samples = await self.prompts.speak(command.prompt.text, command.prompt.language)
                call.leg.out.source = Clip(samples, on_end=done.set)
                await asyncio.wait_for(done.wait(), HANGUP_PROMPT_LIMIT_S)
            except Exception:
                log.warning("call %s: the goodbye prompt was cut short", call.call_id)
        await self.finish(call, command.reason)

    async def finish(self, call: WebCall, reason: str) -> None:
        """Close the caller's leg, tell its page, hand over the recording."""
        call.ended = True
        self.calls.pop((call.tenant_id, call.call_id), None)
        try:
            await call.channel.send({"type": "ended", "call_id": call.call_id, "reason": reason})
        except Exception:  # the page may be gone already
            log.debug("call %s: the caller's page is gone", call.call_id)
        await call.leg.close()
        if call.recorder is not None:
            duration = call.recorder.close()
            if self.on_recording is not None:
                await self.on_recording(call.tenant_id, call.call_id, call.recorder.path, duration)

    # -- presence ------------------------------------------------------------------------------

    # -- housekeeping --------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for line in self.lines.values():
            if line.offline is not None:
                line.offline.cancel()
            if line.leg is not None:
                await line.leg.close()
        for call in list(self.calls.values()):
            await call.leg.close()
            if call.recorder is not None:  # a call cut by shutdown keeps what was recorded
                duration = call.recorder.close()
                if self.on_recording is not None:
                    try:
                        await self.on_recording(
                            call.tenant_id, call.call_id, call.recorder.path, duration
                        )
                    except Exception:
                        log.exception("call %s: its recording was not stored", call.call_id)
        await self.voicemail.drain()  # the messages the closed legs ended are stored first
        for task in list(self._tasks):
            task.cancel()
