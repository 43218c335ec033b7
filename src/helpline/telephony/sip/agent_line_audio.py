"""What an agent line over SIP is, what its agent hears and its recordings (seed 003;
`agent_lines`): the line's state; its audio (the agent id spoken by espeak-ng through the
WebRTC adapter's `PromptLibrary`, taken down to 8 kHz, hold music and the beep, each rendered
once); and the end of a recorded call on it.

Split from `agent_lines` so that module reads as the line's calls and legs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

from helpline.core import commands as cmd
from helpline.media.g711 import Pcm
from helpline.media.tones import resample, tone
from helpline.telephony.sip.calls import RecordingSink
from helpline.telephony.sip.media import CallMedia
from helpline.telephony.sip.outbound import OutboundLeg
from helpline.telephony.sip.outbound_recording import OutboundRecording
from helpline.telephony.virtual_lines import LINE_TRANSITIONS, LineState
from helpline.telephony.webrtc.audio import RATE as LIBRARY_RATE
from helpline.telephony.webrtc.prompts import PromptLibrary

log = logging.getLogger("helpline.sip")

RATE = 8000
BEEP = tone([1000.0], 0.25, RATE)  # seed 003 step 4: "A brief beep is heard"
FAREWELL_LIMIT_S = 10.0


@dataclass(eq=False)
class SipLine:
    tenant_id: str
    command: cmd.OpenAgentLine
    media: CallMedia
    leg: OutboundLeg | None = None  # the agent's phone
    state: LineState = LineState.RINGING
    attached: str | None = None  # the customer call on the line
    customer: OutboundLeg | None = None
    recording: OutboundRecording | None = None  # the call on the line, recorded (seed 004)
    serial: int = 0  # which audio is current: a slow render must not start late

    @property
    def agent_id(self) -> str:
        return self.command.agent_id

    def is_open(self) -> bool:
        return self.state is not LineState.ENDED

    def move(self, state: LineState) -> bool:
        """Take the transition if the table allows it (a late event may not: False)."""
        if state not in LINE_TRANSITIONS[self.state]:
            return False
        self.state = state
        return True


class LineAudio:
    """The lines' audio, rendered once per text (the agent ids differ, the music does not)."""

    def __init__(self, prompts: Callable[[], PromptLibrary]) -> None:
        self.prompts = prompts
        self._samples: dict[tuple[str, str], Pcm] = {}

    async def speak(self, text: str) -> Pcm:
        found = self._samples.get(("prompt", text))
        if found is None:
            spoken = await self.prompts().speak(text, None)
            found = self._samples[("prompt", text)] = resample(spoken, LIBRARY_RATE, RATE)
        return found

    async def music(self) -> Pcm:
        found = self._samples.get(("music", ""))
        if found is None:
            music = await self.prompts().hold_music()
            found = self._samples[("music", "")] = resample(music, LIBRARY_RATE, RATE)
        return found


async def play(
    line: SipLine, samples: Coroutine[object, object, Pcm], *, loop: bool
) -> asyncio.Future[None] | None:
    """Play to the agent's phone once rendered, unless other audio became current meanwhile."""
    line.serial += 1
    serial = line.serial
    try:
        pcm = await samples
    except Exception:
        log.exception("agent line %s: audio could not be rendered", line.command.call_id)
        return None
    if line.serial != serial or line.state is LineState.ENDED or line.media.caller is None:
        return None
    line.media.stop_playback()
    return line.media.play(pcm, loop=loop)


def finish_recording(
    line: SipLine, call_id: str | None, sink: RecordingSink | None
) -> Coroutine[object, object, None] | None:
    """The call left the line: its WAV is closed; what hands it to the sink, which points the
    call's record at it (`recording_url`), as for any other recorded call."""
    recording, line.recording = line.recording, None
    if recording is None or call_id is None:
        return None
    duration = recording.close()
    if duration is None or sink is None:
        return None
    tenant_id, path = line.tenant_id, recording.path

    async def deliver() -> None:
        await sink(tenant_id, call_id, path, duration)

    return deliver()
