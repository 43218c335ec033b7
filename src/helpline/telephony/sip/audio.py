"""What a SIP caller hears, and the bridge to an agent's phone (issue 7 point 4).

The engine's audio commands for a SIP call, carried out on its `CallMedia`:

- `PlayPrompt`: the prompt's text spoken by espeak-ng or its uploaded audio, from the same
  `PromptLibrary` (and so the same disk cache and `audio/` folder) as the WebRTC adapter,
  taken down from 48 kHz to G.711's 8 kHz; `PromptEnded` when its last packet has gone out.
- `PlayQueueAudio`: the greeting once, then hold music, looping (seed 000 2h).
- `StartVoicemail`: the mailbox's prompt and the beep, then the caller's message is kept
  (`voicemail.SipVoicemail`) until the call's media close or the message is full.
- `SetHold`: music to the caller and nothing to the agent; off: joined again.
- `Bridge`: the caller joined to the agent's phone, relayed or (with `record`) recorded; or,
  when the agent is on a browser softphone, to its aiortc line through `browser`
  (`helpline.telephony.bridge`: G.711 decoded and widened to 48 kHz one way, narrowed and
  encoded on our endpoint's packet clock the other).
- `Hangup` with a prompt (an IVR's "goodbye"): the agents' legs end at once, the caller
  hears the prompt (at most `GOODBYE_LIMIT_S`), then gets the BYE.

Each audio command bumps the call's `audio_serial`: a prompt still rendering when the next
command came must not start late, and a prompt cut short reports no `PromptEnded` (the IVR
has moved on: what it asked for next is playing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.media.g711 import Pcm
from helpline.media.tones import resample
from helpline.telephony.sip.legs import AgentLeg, SipCall
from helpline.telephony.sip.voicemail import SipVoicemail, beep_after
from helpline.telephony.webrtc.audio import RATE as LIBRARY_RATE
from helpline.telephony.webrtc.prompts import PromptLibrary, queue_greeting, queue_music

log = logging.getLogger("helpline.sip")

RATE = 8000
Post = Callable[[str, ev.Event], None]
Recordings = Callable[[str, str], Path]  # (tenant id, call id) -> where its WAV goes
MEDIA_WAIT_S = 10.0  # a caller whose media never get agreed (no SDP answer in the ACK)
GOODBYE_LIMIT_S = 10.0  # as the WebRTC adapter: a long goodbye must not hold the line


class BrowserAgents(Protocol):
    """Joins a SIP caller to the bridged agent's browser line (`sip.browser.BrowserLines`)."""

    def join(self, call: SipCall, record_to: Path | None) -> bool: ...

    def part(self, call: SipCall) -> None: ...


class CallerAudio:
    """Mixed into the B2BUA, beside `AgentSide`."""

    # what `_audio_command` carries out (the caller is answered first: it hears them)
    AUDIO_COMMANDS = (
        cmd.PlayPrompt, cmd.PlayQueueAudio, cmd.SetHold, cmd.Bridge, cmd.StartVoicemail
    )  # fmt: skip

    browser: BrowserAgents | None  # None: no browser adapter behind us
    post: Post
    prompts: Callable[[], PromptLibrary]
    recordings: Recordings
    voicemail: SipVoicemail | None = None  # the adapter's mailbox (None: no voicemail)
    _spawn: Callable[[Coroutine[object, object, None]], None]
    _samples: dict[tuple[str, str, str | None], Pcm]

    def _hang_up(self, call: SipCall, reason: str) -> None:
        raise NotImplementedError  # the B2BUA's: every leg ends

    def _end_agent_leg(self, leg: AgentLeg) -> None:
        raise NotImplementedError  # AgentSide's

    def _tell_phone(self, call: SipCall, leg: AgentLeg) -> bool:
        raise NotImplementedError  # AgentSide's: a re-INVITE when the phone's hold differs

    async def _samples_of(
        self, tenant_id: str, text: str | None, audio: str | None, language: str | None
    ) -> Pcm:
        """The prompt at 8 kHz: the tenant's uploaded audio, else its text spoken."""
        library = self.prompts()
        if audio:  # read each time (the library caches it): an upload may replace it
            uploaded = await library.uploaded(tenant_id, audio)
            if uploaded is not None:
                return resample(uploaded, LIBRARY_RATE, RATE)
        if not text:
            return np.zeros(0, dtype=np.int16)
        key = ("prompt", text, language)  # a busy IVR resamples each sentence once
        found = self._samples.get(key)
        if found is None:
            spoken = await library.speak(text, language)
            found = self._samples[key] = resample(spoken, LIBRARY_RATE, RATE)
        return found

    async def _music(self, tenant_id: str, name: str | None) -> Pcm:
        """The tenant's uploaded hold music by that name, else the synthesised default."""
        library = self.prompts()
        if name and name != "default":
            return resample(await library.hold_music(tenant_id, name), LIBRARY_RATE, RATE)
        found = self._samples.get(("music", "", None))
        if found is None:
            music = await library.hold_music()
            found = self._samples[("music", "", None)] = resample(music, LIBRARY_RATE, RATE)
        return found

    def _audio_command(self, call: SipCall, command: cmd.Command) -> None:
        if isinstance(command, cmd.PlayPrompt | cmd.PlayQueueAudio | cmd.StartVoicemail):
            call.audio_serial += 1
            call.bridged, call.held = None, False  # the IVR, a queue or a mailbox has it now
            if call.media is not None:
                self._caller_alone(call)
                call.media.stop_playback()
            if isinstance(command, cmd.PlayPrompt):
                self._spawn(self._play_prompt(call, command, call.audio_serial))
            elif isinstance(command, cmd.StartVoicemail):
                self._spawn(self._play_voicemail(call, command, call.audio_serial))
            else:
                self._spawn(self._play_queue_audio(call, command, call.audio_serial))
        elif isinstance(command, cmd.SetHold):
            self._hold(call, command.on)
        elif isinstance(command, cmd.Bridge):
            call.audio_serial += 1
            call.bridged, call.held = command.agent_id, False
            call.recorded = call.recorded or command.record
            self._join(call)

    async def _media_ready(self, call: SipCall, serial: int) -> bool:
        media = call.media
        while media is None:  # the sockets are still opening
            await asyncio.sleep(0.01)
            if call.ended or call.audio_serial != serial:
                return False
            media = call.media
        try:
            await asyncio.wait_for(asyncio.shield(media.ready), MEDIA_WAIT_S)
        except (TimeoutError, asyncio.CancelledError):
            return False
        return not call.ended and call.audio_serial == serial

    async def _play_prompt(self, call: SipCall, command: cmd.PlayPrompt, serial: int) -> None:
        prompt = command.prompt
        try:
            samples = await self._samples_of(
                call.tenant_id, command.text, prompt.audio, prompt.language
            )
        except Exception:
            log.exception("call %s: the prompt could not be rendered", call.call_id)
            samples = np.zeros(0, dtype=np.int16)
        if not await self._media_ready(call, serial) or call.media is None:
            return
        await call.media.play(samples)
        if not call.ended and call.audio_serial == serial:
            self.post(call.tenant_id, ev.PromptEnded(call_id=call.call_id))

    async def _play_voicemail(
        self, call: SipCall, command: cmd.StartVoicemail, serial: int
    ) -> None:
        """The mailbox's prompt and the beep, then the caller's message is kept
        (`helpline.telephony.sip.voicemail`) until the call ends or the message is full."""
        prompt = command.prompt
        samples = np.zeros(0, dtype=np.int16)
        if prompt is not None:
            try:
                samples = await self._samples_of(
                    call.tenant_id, prompt.text, prompt.audio, prompt.language
                )
            except Exception:
                log.exception("call %s: the voicemail prompt could not be rendered", call.call_id)
        if not await self._media_ready(call, serial) or call.media is None:
            return
        await call.media.play(beep_after(samples))  # resolved early by stop_playback
        # a hang-up during the greeting resolves it too, and drops the call's media
        if call.ended or call.audio_serial != serial or call.media is None:
            return
        endpoint = call.media.caller
        if endpoint is None:
            return
        tenant_id, call_id = call.tenant_id, call.call_id

        def hang_up(reason: str) -> None:
            self.post(
                tenant_id, ev.CallHungUp(call_id=call_id, party=ev.Party.SYSTEM, reason=reason)
            )

        if self.voicemail is not None:
            self.voicemail.record(tenant_id, call_id, endpoint, hang_up)

    def _voicemail_over(self, call: SipCall) -> None:
        """The call's media are closing: a message being taken is over, and a mailbox
        prompt still playing stops (its task ends instead of waiting for ever)."""
        if call.media is not None:
            call.media.stop_playback()
        if self.voicemail is not None:
            self.voicemail.end(call.tenant_id, call.call_id)

    async def _play_queue_audio(
        self, call: SipCall, command: cmd.PlayQueueAudio, serial: int
    ) -> None:
        render = partial(self._samples_of, call.tenant_id)
        greeting = await queue_greeting(command, render, call.call_id)
        load = partial(self._music, call.tenant_id)
        music = await queue_music(load, command.hold_music, call.call_id)
        if not await self._media_ready(call, serial) or call.media is None:
            return
        if greeting is not None:
            call.media.play(greeting)
        call.media.play(music, loop=True)

    def _hold(self, call: SipCall, on: bool) -> None:
        call.held = on
        media = call.media
        if media is None:
            return
        leg = call.agents.get(call.bridged or "")
        # The engine's hold or resume (API, softphone), not the phone's own: the phone is
        # told (RFC 3264 8.4); what the phone asked for needs no re-INVITE back.
        if leg is not None:
            self._tell_phone(call, leg)
        call.audio_serial += 1
        if on:
            self._caller_alone(call)
            media.stop_playback()
            self._spawn(self._play_hold_music(call, call.audio_serial))
        elif call.bridged is not None:
            self._join(call)
        else:
            media.stop_playback()

    def _goodbye(self, call: SipCall, command: cmd.Hangup) -> bool:
        """Play the Hangup's prompt before the BYE, when the caller is answered and can hear
        it; False when there is nothing to play (hang up now)."""
        if call.saying_goodbye:
            return True  # the Hangup again (it is idempotent): the goodbye is under way
        prompt = command.prompt
        if prompt is None or not call.caller.answered or call.caller.ended or call.media is None:
            return False
        call.saying_goodbye = True
        call.audio_serial += 1
        call.bridged, call.held = None, False
        for leg in call.agents.values():
            self._end_agent_leg(leg)
        self._caller_alone(call)
        call.media.stop_playback()
        self._spawn(self._say_goodbye(call, command, call.audio_serial))
        return True

    async def _say_goodbye(self, call: SipCall, command: cmd.Hangup, serial: int) -> None:
        prompt = command.prompt
        try:
            if prompt is not None:
                samples = await self._samples_of(
                    call.tenant_id, prompt.text, prompt.audio, prompt.language
                )
                if await self._media_ready(call, serial) and call.media is not None:
                    played = asyncio.shield(call.media.play(samples))
                    await asyncio.wait_for(played, GOODBYE_LIMIT_S)
        except TimeoutError:
            log.info("call %s: the goodbye was cut at %.0f s", call.call_id, GOODBYE_LIMIT_S)
        except Exception:
            log.exception("call %s: the goodbye could not be played", call.call_id)
        finally:
            if not call.ended:
                self._hang_up(call, command.reason)

    async def _play_hold_music(self, call: SipCall, serial: int) -> None:
        music = await self._music(call.tenant_id, None)
        if await self._media_ready(call, serial) and call.media is not None:
            call.media.play(music, loop=True)

    def _caller_alone(self, call: SipCall) -> None:
        """Nobody joined to the caller (hold, a queue, a goodbye): a browser agent's line
        too stops hearing it."""
        if call.media is not None:
            call.media.caller_alone()
        if self.browser is not None:
            self.browser.part(call)

    def _join(self, call: SipCall) -> None:
        """The caller's media to the bridged agent's phone, or to its browser softphone."""
        media = call.media
        if media is None or call.bridged is None:
            return
        media.stop_playback()
        record_to = self.recordings(call.tenant_id, call.call_id) if call.recorded else None
        leg = call.agents.get(call.bridged)
        if leg is None or leg.session is None or leg.ended:
            # Not on a SIP phone: a browser agent's line gets the caller's media (a sandbox
            # agent has no media: the caller hears silence).
            if self.browser is not None and not self.browser.join(call, record_to):
                self._caller_alone(call)
            return
        if self.browser is not None:
            self.browser.part(call)  # a transfer from a browser agent to a phone
        media.bridge(leg.session, record_to=record_to)
