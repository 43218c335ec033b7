"""The webrtc adapter's call commands, driven directly (its legs are real aiortc peer
connections that never negotiate): what each party hears after each engine command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.events import Event
from helpline.core.model import Prompt
from helpline.telephony.virtual import VirtualCarrier
from helpline.telephony.webrtc import WebRtcTelephony
from helpline.telephony.webrtc.adapter import BEEP, WebCall
from helpline.telephony.webrtc.audio import RATE, SILENCE, Clip, Feed
from helpline.telephony.webrtc.legs import Leg


class Page:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def settle(phone: WebRtcTelephony) -> None:
    while phone._tasks:  # the adapter's own background work (renders, hang-ups)
        await asyncio.gather(*list(phone._tasks))


async def test_what_the_caller_and_the_agent_hear_through_a_call(tmp_path: Path) -> None:
    posted: list[Event] = []
    recordings: list[tuple[str, float]] = []

    async def stored(tenant: str, call_id: str, path: Path, duration: float) -> None:
        recordings.append((call_id, duration))

    phone = WebRtcTelephony(VirtualCarrier(), tmp_path, on_recording=stored)
    phone.attach(lambda tenant, event: posted.append(event))
    page = Page()
    call = WebCall(tenant_id="t", call_id="c1", leg=Leg("c1"), channel=page)
    phone.calls[("t", "c1")] = call
    line = phone.agent_connected("t", "alice")
    line.leg = Leg("agent-alice")

    await phone.execute(
        "t",
        cmd.PlayPrompt(
            call_id="c1", prompt=Prompt(text="Press one."), text="Press one.", collect=True
        ),
    )
    await settle(phone)
    prompt = call.leg.out.source
    assert isinstance(prompt, Clip)
    prompt.pull(len(prompt.samples) + 1)  # played to its end: the IVR's timeout may start
    assert posted[-1] == ev.PromptEnded(call_id="c1")

    await phone.execute(
        "t",
        cmd.PlayQueueAudio(call_id="c1", greeting=None, greeting_text=None, hold_music="default"),
    )
    await settle(phone)
    assert isinstance(call.leg.out.source, Clip)
    assert call.leg.out.source.loop  # music

    await phone.execute("t", cmd.Bridge(call_id="c1", agent_id="alice", record=True))
    assert call.leg.out.source is call.agent_voice
    assert line.leg.out.source is call.caller_voice
    assert isinstance(call.agent_voice, Feed)
    assert call.recorder is not None

    await phone.execute("t", cmd.SetHold(call_id="c1", on=True))
    assert isinstance(call.leg.out.source, Clip)
    assert line.leg.out.source is SILENCE
    await phone.execute("t", cmd.SetHold(call_id="c1", on=False))
    assert call.leg.out.source is call.agent_voice
    assert line.leg.out.source is call.caller_voice

    # a transfer to a queue: the agent is let go, the caller hears the queue again
    await phone.execute(
        "t",
        cmd.PlayQueueAudio(call_id="c1", greeting=None, greeting_text=None, hold_music="default"),
    )
    await settle(phone)
    assert call.agent_id is None
    assert line.call_id is None
    assert line.leg.out.source is SILENCE
    assert isinstance(call.leg.out.source, Clip)

    await phone.execute("t", cmd.Hangup(call_id="c1", reason="test"))
    await settle(phone)
    assert page.sent[-1] == {"type": "ended", "call_id": "c1", "reason": "test"}
    assert ("t", "c1") not in phone.calls
    assert [call_id for call_id, _ in recordings] == ["c1"]
    assert (tmp_path / "recordings" / "t" / "c1.wav").is_file()
    await phone.close()


async def test_a_slow_prompt_does_not_replace_the_agent(tmp_path: Path) -> None:
    phone = WebRtcTelephony(VirtualCarrier(), tmp_path)
    phone.attach(lambda tenant, event: None)
    call = WebCall(tenant_id="t", call_id="c2", leg=Leg("c2"), channel=Page())
    phone.calls[("t", "c2")] = call
    text = "A sentence nobody has heard before, rendered now."
    await phone.execute(
        "t", cmd.PlayPrompt(call_id="c2", prompt=Prompt(text=text), text=text, collect=True)
    )
    await phone.execute("t", cmd.Bridge(call_id="c2", agent_id="bob"))  # before the render ends
    await settle(phone)
    assert call.leg.out.source is call.agent_voice
    await phone.close()


async def test_voicemail_plays_the_mailbox_prompt_then_the_beep(tmp_path: Path) -> None:
    phone = WebRtcTelephony(VirtualCarrier(), tmp_path)
    phone.attach(lambda tenant, event: None)
    call = WebCall(tenant_id="t", call_id="c3", leg=Leg("c3"), channel=Page())
    phone.calls[("t", "c3")] = call
    await phone.execute(
        "t", cmd.StartVoicemail(call_id="c3", mailbox="sales", prompt=Prompt(text="Leave it."))
    )
    await settle(phone)
    played = call.leg.out.source
    assert isinstance(played, Clip)
    tail = played.samples[-len(BEEP) :]
    assert np.array_equal(tail, BEEP)
    assert len(played.samples) > len(BEEP) + RATE // 4  # the spoken prompt came first
    await phone.close()
