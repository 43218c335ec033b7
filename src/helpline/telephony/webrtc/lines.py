"""Browser agents' lines in the `webrtc` adapter: what each agent's one peer connection plays
and hears, and its presence (helpline.telephony.webrtc.adapter holds the commands).

An agent's line is one peer connection for as long as its softphone is open (no per-call
negotiation: a call is a change of what each leg's source is). It plays the caller's voice of
the browser call it is on (`WebCall`), or the `LineMedia` of a call that is not a browser's (a
SIP caller's, helpline.telephony.bridge), or silence. Its presence is the agent's online
presence (routing type 1). A dropped softphone has `presence_grace_s` to come back before the
agent goes offline and a call it was on is ended (seed 002 "Generic Softphone SSO": a dropped
websocket must not leave a call up).
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod

import numpy as np

from helpline.core import events as ev
from helpline.media.tones import dtmf_tone
from helpline.telephony.webrtc.audio import RATE, SILENCE, Samples
from helpline.telephony.webrtc.calls import AgentLine, LineMedia

# the softphone's keypad tones: 100 ms with 60 ms between them (Q.24 asks at least 40 ms each)
KEY_TONE_S, KEY_GAP_S = 0.1, 0.06


class AgentLines:
    """The agents' lines of a `WebRtcTelephony`. Not used on its own: see that class."""

    # set by `WebRtcTelephony.__init__`
    lines: dict[tuple[str, str], AgentLine]
    presence_grace_s: float

    @abstractmethod
    def emit(self, tenant_id: str, event: ev.Event) -> None:
        """Post an event to the tenant's runtime."""

    # -- what a line plays and hears -------------------------------------------------------------

    def connect_line(self, line: AgentLine) -> None:
        """Point the agent's leg at its call (again, after a softphone reconnects)."""
        if line.leg is None:
            return
        call = line.call
        if line.media is not None:
            line.leg.out.source = line.media.voice
            return
        line.leg.out.source = SILENCE if call is None or call.held else call.caller_voice

    def join_line(self, tenant_id: str, call_id: str, agent_id: str, media: LineMedia) -> bool:
        """A call that is not a browser caller's (a SIP caller's) bridged to the agent's
        line: the line plays `media.voice` and hands what it hears to `media`. False (and
        `media` closed) when the agent has no line on that call (a sandbox or SIP agent)."""
        line = self.lines.get((tenant_id, agent_id))
        if line is None or line.call_id != call_id or line.call is not None:
            media.close()
            return False
        self._part(line)
        line.media = media
        self.connect_line(line)
        return True

    def part_line(self, tenant_id: str, call_id: str) -> None:
        """The call's media leave every line they were joined to (hold, transfer, end)."""
        for line in self.lines.values():
            if line.tenant_id == tenant_id and line.call_id == call_id and line.media:
                self._part(line)
                self.connect_line(line)

    def _part(self, line: AgentLine) -> None:
        if line.media is not None:
            line.media.close()
            line.media = None

    def agent_heard(self, line: AgentLine, samples: Samples) -> None:
        if line.media is not None:
            line.media.agent_said(samples)
            return
        call = line.call
        if call is None or call.ended:
            return
        if not call.held:
            call.agent_voice.push(samples)
        if call.recorder is not None:
            call.recorder.agent(samples)

    def agent_keys(self, line: AgentLine, digits: str) -> bool:
        """The softphone's keypad: each digit's Q.23 tone pair mixed into what the browser
        caller hears (an IVR or a bank's menu further on hears real DTMF); False when the
        agent is on no browser caller's call. Tones 100 ms with 60 ms between them (Q.24
        asks at least 40 ms of each)."""
        if line.media is not None:
            return line.media.agent_keys(digits)
        call = line.call
        if call is None or call.ended:
            return False
        gap = np.zeros(int(KEY_GAP_S * RATE), dtype=np.int16)
        for digit in digits:
            call.leg.out.mix(np.concatenate([dtmf_tone(digit, KEY_TONE_S, RATE), gap]))
        return True

    def _release_agents(self, tenant_id: str, call_id: str, keep: str | None = None) -> None:
        for line in self.lines.values():
            if line.tenant_id != tenant_id or line.agent_id == keep:
                continue
            if line.call_id == call_id:
                line.call_id = None
                line.call = None
                self._part(line)
                self.connect_line(line)

    # -- presence ------------------------------------------------------------------------------

    def line(self, tenant_id: str, agent_id: str) -> AgentLine:
        """The agent's line, made on first use (its softphone connecting)."""
        return self.lines.setdefault((tenant_id, agent_id), AgentLine(tenant_id, agent_id))

    def agent_connected(self, tenant_id: str, agent_id: str) -> AgentLine:
        line = self.line(tenant_id, agent_id)
        if line.offline is not None:  # came back within the grace period: nothing changed
            line.offline.cancel()
            line.offline = None
        elif line.sessions == 0:
            self.emit(tenant_id, ev.AgentPresenceChanged(agent_id=agent_id, online=True))
        line.sessions += 1
        return line

    def agent_disconnected(self, line: AgentLine) -> None:
        line.sessions -= 1
        if line.sessions > 0:
            return
        loop = asyncio.get_running_loop()
        line.offline = loop.call_later(self.presence_grace_s, self._went_offline, line)

    def _went_offline(self, line: AgentLine) -> None:
        line.offline = None
        if line.sessions > 0:
            return
        self.emit(line.tenant_id, ev.AgentPresenceChanged(agent_id=line.agent_id, online=False))
        if line.call_id is not None:
            self.emit(
                line.tenant_id,
                ev.CallHungUp(
                    call_id=line.call_id,
                    party=ev.Party.AGENT,
                    reason="agent_connection_lost",
                ),
            )
