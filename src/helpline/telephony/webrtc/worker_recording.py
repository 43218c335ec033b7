"""A call's recording made in a media worker, and what is kept of it when the worker dies.

The stereo WAV (`recording.CallRecording`, caller left, agent right) is written by the
worker that hosts the caller's leg; the agent's leg forwards what it hears there, from
whichever worker it lives in. Stopping asks the worker to finish the file and say its length.

A worker killed mid-call never finishes its file: the `wave` module writes the RIFF and
`data` sizes only at close, so the header still says zero. `repair_wav` sets both from the
file's size (RFC 2361 / the RIFF WAVE layout: `RIFF` size at byte 4, each chunk an id and a
little-endian size), so the audio written up to the death is kept and plays.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

from helpline.telephony.webrtc import worker_protocol as wp
from helpline.telephony.webrtc.worker_legs import RemoteLeg
from helpline.telephony.webrtc.worker_pool import MediaWorkers, WorkerGone

log = logging.getLogger("helpline.webrtc.workers")

STOP_TIMEOUT_S = 10.0


class WorkerRecording:
    def __init__(self, pool: MediaWorkers, path: Path, caller: RemoteLeg) -> None:
        if caller.worker is None:
            raise ValueError("the caller's leg is not answered")
        self.pool = pool
        self.path = path
        self.home = caller.worker
        self.caller = caller
        self.agent: RemoteLeg | None = None
        self.recording_id = next(pool.ids)
        self.caller_sink = next(pool.ids)
        self.agent_sink = next(pool.ids)
        pool.send(
            self.home,
            wp.StartRecording(
                recording=self.recording_id,
                path=str(path),
                caller_sink=self.caller_sink,
                agent_sink=self.agent_sink,
            ),
        )
        caller.forward_sink(self.caller_sink, self.home)

    def attach_agent(self, leg: RemoteLeg) -> None:
        """The agent's side comes from `leg` from now on (a softphone that reconnected)."""
        if leg is self.agent:
            return
        if self.agent is not None:
            self.agent.unforward(self.agent_sink)
        self.agent = leg
        leg.forward_sink(self.agent_sink, self.home)

    async def stop(self) -> float | None:
        """Finish the file; its length in seconds, or None when there is no file at all."""
        self.caller.unforward(self.caller_sink)
        if self.agent is not None:
            self.agent.unforward(self.agent_sink)
        if self.home.alive:
            seq = next(self.pool.ids)
            message = wp.StopRecording(seq=seq, recording=self.recording_id)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    reply = await self.pool.request(self.home, message, seq)
            except (WorkerGone, TimeoutError):
                log.warning("recording %s: its worker died; keeping what it wrote", self.path)
            else:
                if reply.error:  # it never started there: no file to report
                    log.warning("recording %s: %s", self.path, reply.error)
                    return None
                return reply.duration
        # the whole file is read: not on the event loop
        return await asyncio.to_thread(repair_wav, self.path)


def repair_wav(path: Path) -> float | None:
    """Fix the sizes in an unfinished 16-bit PCM WAV; its length in seconds (None: no file)."""
    try:
        with path.open("r+b") as file:
            data = bytearray(file.read())
            if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
                return None
            offset, rate, frame_bytes = 12, 0, 0
            while offset + 8 <= len(data):
                chunk = data[offset : offset + 4]
                size = struct.unpack_from("<I", data, offset + 4)[0]
                if chunk == b"fmt ":
                    _, channels, rate = struct.unpack_from("<HHI", data, offset + 8)
                    bits = struct.unpack_from("<H", data, offset + 22)[0]
                    frame_bytes = channels * bits // 8
                elif chunk == b"data":
                    size = len(data) - offset - 8
                    size -= size % frame_bytes if frame_bytes else 0
                    file.seek(offset + 4)
                    file.write(struct.pack("<I", size))
                    file.seek(4)
                    file.write(struct.pack("<I", offset + 8 + size - 8))
                    file.truncate(offset + 8 + size)
                    return size / frame_bytes / rate if frame_bytes and rate else 0.0
                offset += 8 + size + (size % 2)
    except OSError:
        return None
    return None
