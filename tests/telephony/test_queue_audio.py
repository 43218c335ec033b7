"""What a queued caller hears first, decided once for both adapters (webrtc/prompts.py):
the greeting (text or an upload) then the hold music; a greeting that cannot be rendered is
skipped and music that cannot be loaded is replaced by the default, never silence."""

from __future__ import annotations

import logging

import pytest

from helpline.core import commands as cmd
from helpline.core.model import Prompt
from helpline.telephony.webrtc.prompts import queue_greeting, queue_music


async def _render(text: str | None, audio: str | None, language: str | None) -> str:
    if audio == "broken.wav":
        raise ValueError("not a WAV file")
    return f"{text}|{audio}|{language}"


def _command(greeting: Prompt | None, text: str | None) -> cmd.PlayQueueAudio:
    return cmd.PlayQueueAudio(call_id="c1", greeting=greeting, greeting_text=text, hold_music=None)


async def test_the_greeting_is_rendered_from_its_text_or_its_upload() -> None:
    spoken = _command(Prompt(text="Hello {name}", language="fr"), "Hello Ann")
    assert await queue_greeting(spoken, _render, "c1") == "Hello Ann|None|fr"
    uploaded = _command(Prompt(audio="welcome.wav"), None)
    assert await queue_greeting(uploaded, _render, "c1") == "None|welcome.wav|en"
    assert await queue_greeting(_command(None, None), _render, "c1") is None  # no greeting


async def test_a_greeting_that_cannot_be_rendered_is_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    broken = _command(Prompt(audio="broken.wav"), None)
    assert await queue_greeting(broken, _render, "c1") is None
    assert "call c1: the greeting could not be rendered" in caplog.messages


async def test_music_that_cannot_be_loaded_is_replaced_by_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    asked: list[str | None] = []

    async def load(name: str | None) -> str:
        asked.append(name)
        if name == "broken":
            raise OSError("unreadable")
        return name or "default music"

    assert await queue_music(load, "jazz", "c1") == "jazz"
    assert await queue_music(load, "broken", "c2") == "default music"
    assert asked == ["jazz", "broken", None]
    assert "call c2: the hold music could not be loaded" in caplog.messages
