"""The channel between the server and its media workers: typed messages, length-prefixed.

One stream (a socketpair) per worker carries control messages both ways, in order. A frame
is `!II` (header length, payload length), a JSON header holding the message's `kind` and
fields, then the raw payload (a clip's int16 samples, when the message has one), so audio
never goes through JSON. Live audio between legs of different workers (and between a worker
and the server) does not use this stream: it is a loopback UDP relay of 20 ms L16 frames,
`RELAY_HEADER` (the sink id) then the 48 kHz int16 samples (`worker_media.Relay`).

Every id (leg, sink, clip, recording, notification) is allocated by the server from one
counter, so an id names one thing across every process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

FRAME_HEADER = struct.Struct("!II")
RELAY_HEADER = struct.Struct("!Q")  # the sink the samples are for
MAX_FRAME = 64 * 1024 * 1024  # a clip of 10 minutes at 48 kHz is 55 MB


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    kind: ClassVar[str] = ""
    payload: bytes = field(default=b"", repr=False)


# -- server -> worker ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateLeg(Message):
    """Answer a browser's offer; `detect_dtmf`: Goertzel on what it says (`DigitDetected`)."""

    kind: ClassVar[str] = "create_leg"
    seq: int
    leg: int
    name: str
    sdp: str
    detect_dtmf: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseLeg(Message):
    kind: ClassVar[str] = "close_leg"
    leg: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PutClip(Message):
    """Keep these samples (the payload, int16 48 kHz) as clip `clip` for later `Play`s."""

    kind: ClassVar[str] = "put_clip"
    clip: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DropClip(Message):
    kind: ClassVar[str] = "drop_clip"
    clip: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Play(Message):
    """What the leg sends from the next frame on. `clip` None: silence; `inbox`: what its
    inbox sink receives (another leg's voice, or the server's PCM); else the clip (looping
    or not), then `then` (looping), and `notify` is sent back when the clip has played."""

    kind: ClassVar[str] = "play"
    leg: int
    clip: int | None = None
    loop: bool = False
    then: int | None = None
    notify: int | None = None
    inbox: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Mix(Message):
    """Play a clip over whatever the leg's source is (the softphone's keypad tones)."""

    kind: ClassVar[str] = "mix"
    leg: int
    clip: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Forward(Message):
    """Send what `leg` hears to `sink`: in this worker when `host` is empty, else as UDP L16
    frames to (host, port), another worker's relay or the server's."""

    kind: ClassVar[str] = "forward"
    leg: int
    sink: int
    host: str = ""
    port: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Unforward(Message):
    kind: ClassVar[str] = "unforward"
    leg: int
    sink: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StartRecording(Message):
    """A stereo WAV at `path`: what reaches `caller_sink` left, `agent_sink` right."""

    kind: ClassVar[str] = "start_recording"
    recording: int
    path: str
    caller_sink: int
    agent_sink: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StopRecording(Message):
    kind: ClassVar[str] = "stop_recording"
    seq: int
    recording: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GetStats(Message):
    kind: ClassVar[str] = "get_stats"
    seq: int


# -- worker -> server ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready(Message):
    """The worker is up; its relay listens on (host, port)."""

    kind: ClassVar[str] = "ready"
    pid: int
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply(Message):
    """The answer to the request `seq`: `error` empty when it worked."""

    kind: ClassVar[str] = "reply"
    seq: int
    error: str = ""
    sdp: str = ""
    duration: float = 0.0
    legs: int = 0
    cpu_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitDetected(Message):
    kind: ClassVar[str] = "digit"
    leg: int
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClipEnded(Message):
    kind: ClassVar[str] = "clip_ended"
    notify: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LegFailed(Message):
    """The leg's connection failed or closed without being told to (media dead)."""

    kind: ClassVar[str] = "leg_failed"
    leg: int


KINDS: dict[str, type[Message]] = {
    kind.kind: kind
    for kind in (
        CreateLeg,
        CloseLeg,
        PutClip,
        DropClip,
        Play,
        Mix,
        Forward,
        Unforward,
        StartRecording,
        StopRecording,
        GetStats,
        Ready,
        Reply,
        DigitDetected,
        ClipEnded,
        LegFailed,
    )
}


class ProtocolError(ValueError):
    """A frame that is not one of our messages: the channel is broken."""


def encode(message: Message) -> bytes:
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    fields.pop("payload")
    fields["kind"] = message.kind
    header = json.dumps(fields, separators=(",", ":")).encode()
    return FRAME_HEADER.pack(len(header), len(message.payload)) + header + message.payload


def decode(header: bytes, payload: bytes) -> Message:
    try:
        fields: dict[str, Any] = json.loads(header)
        kind = KINDS[fields.pop("kind")]
        return kind(payload=payload, **fields)
    except (ValueError, KeyError, TypeError) as error:
        raise ProtocolError(f"not a worker message: {error}") from error


async def read_message(reader: asyncio.StreamReader) -> Message:
    """The next message; `asyncio.IncompleteReadError` when the other side has gone."""
    sizes = await reader.readexactly(FRAME_HEADER.size)
    header_size, payload_size = FRAME_HEADER.unpack(sizes)
    if header_size + payload_size > MAX_FRAME:
        raise ProtocolError(f"a frame of {header_size + payload_size} bytes")
    header = await reader.readexactly(header_size)
    payload = await reader.readexactly(payload_size) if payload_size else b""
    return decode(header, payload)
