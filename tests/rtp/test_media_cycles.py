"""A call's media leave no reference cycles when closed: at hundreds of calls a second, what
waits for the garbage collector makes its pauses (runtime/gc_pacing.py), so the sockets,
endpoints and relay of an ended call must go as soon as the last reference does."""

from __future__ import annotations

import asyncio
import gc
import random
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

from helpline.sip.sdp import AudioSession
from helpline.telephony.rtp.relay import RtpRelay
from helpline.telephony.sip.media import CallMedia


def _session(port: int) -> AudioSession:
    return AudioSession(
        remote_address="127.0.0.1",
        remote_port=port,
        codec="PCMU",
        payload_type=0,
        telephone_event=101,
        ptime=20,
        direction="sendrecv",
    )


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _settle() -> None:
    for _ in range(5):  # the transports' connection_lost callbacks
        await asyncio.sleep(0)
    await asyncio.sleep(0.02)


@pytest.mark.parametrize("bridged", [False, True])
async def test_closed_call_media_are_freed_without_the_collector(
    no_collector: None, bridged: bool
) -> None:
    media = await CallMedia.open("127.0.0.1", rng=random.Random(7), on_digit=lambda key: None)
    media.caller_session(_session(40000))
    await media.ready
    playing = media.play(np.zeros(800, dtype=np.int16), loop=True)
    await asyncio.sleep(0.05)  # a few packets out: the packet clock has the endpoint
    if bridged:
        media.bridge(_session(40002), record_to=None)
        await asyncio.sleep(0.05)
    assert media.caller is not None
    refs = [weakref.ref(media), weakref.ref(media.caller), weakref.ref(media.relay)]
    refs += [weakref.ref(media.relay.protocol(leg)) for leg in ("a", "b")]
    media.close()
    del media, playing
    await _settle()
    assert [ref() for ref in refs] == [None] * len(refs)


async def test_a_closed_relay_is_freed_without_the_collector(no_collector: None) -> None:
    relay = await RtpRelay.open("127.0.0.1")
    refs = [weakref.ref(relay)] + [weakref.ref(relay.protocol(leg)) for leg in ("a", "b")]
    relay.close()
    del relay
    await _settle()
    assert [ref() for ref in refs] == [None] * len(refs)
