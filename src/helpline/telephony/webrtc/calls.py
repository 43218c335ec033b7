"""What the `webrtc` adapter keeps per browser call and per agent's softphone line.

A line's call may be a browser caller's (`call`: the two legs' feeds meet here) or any other
(`call_id` alone: a sandbox caller, or a SIP caller whose media a `LineMedia` carries, see
`helpline.telephony.bridge`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from helpline.telephony.webrtc.audio import Feed, Samples, Source
from helpline.telephony.webrtc.legs import MediaLeg
from helpline.telephony.webrtc.recording import CallRecording


class LineMedia(Protocol):
    """The other side of an agent line's call when it is not a browser caller (a SIP caller):
    `voice` is what the line plays, `agent_said` takes what its reader hears (48 kHz)."""

    @property
    def voice(self) -> Source: ...

    def agent_said(self, samples: Samples) -> None: ...

    def agent_keys(self, digits: str) -> bool: ...

    def close(self) -> None: ...


class Channel(Protocol):
    """A page's signalling connection (a websocket): JSON messages both ways."""

    async def send(self, message: dict[str, Any]) -> None: ...


@dataclass(eq=False)
class WebCall:
    """A browser caller's call: its leg and what is bridged to it."""

    tenant_id: str
    call_id: str
    leg: MediaLeg
    channel: Channel
    agent_id: str | None = None
    held: bool = False
    ended: bool = False
    audio_serial: int = 0  # which audio command is current: a slow render must not win late
    caller_voice: Feed = field(default_factory=Feed)  # what the agent hears
    agent_voice: Feed = field(default_factory=Feed)  # what the caller hears
    recorder: CallRecording | None = None
    claimed_from: str | None = None  # what the caller's page said it was: unverified

    def heard(self, samples: Samples) -> None:
        if self.agent_id is not None and not self.held:
            self.caller_voice.push(samples)
        if self.recorder is not None:
            self.recorder.caller(samples)


@dataclass(eq=False)
class AgentLine:
    """A browser agent's softphone: its leg while connected, the call it is on."""

    tenant_id: str
    agent_id: str
    sessions: int = 0
    leg: MediaLeg | None = None
    call_id: str | None = None  # the call it is on (a browser's or any other)
    call: WebCall | None = None  # that call, when it is a browser caller's
    offline: asyncio.TimerHandle | None = None
    media: LineMedia | None = None  # a SIP caller's media, when the call is one
