"""The `webrtc` adapter with its media in worker processes (setting `media_workers` > 0).

The server keeps everything that decides: the engine, the signalling websockets, this
adapter's bookkeeping (`WebRtcTelephony`: calls, lines, presence, prompts' rendering). The
media (aiortc connections, Opus, prompts and music playing, the bridge, recording, in-band
DTMF) run in N worker processes (`worker_pool`), one asyncio loop each, so bridged calls use
every core instead of one.

Legs are `RemoteLeg`s, placed on the least loaded worker when they are answered (a caller's
leg, an agent's softphone line where it was created). A bridge between two browser legs is
carried out by the workers: each leg's worker forwards what it hears to the other's inbox, in
the same worker or over the loopback UDP relay between two; a recording is written by the
caller's worker. Paths whose other end has its audio in the server (a SIP caller joined to an
agent's line, a browser caller's SIP agent or external number, voicemail) keep working
unchanged: the remote leg streams what it hears to the server and plays what the server
pumps to it (`worker_legs`), so only their PCM crosses the relay, not their decisions.

A worker that dies fails each leg it hosted: a caller's leg ends its call (`media_failed`,
as a dropped browser), an agent's line is told `media_failed` and the call it carried is
ended (`media_worker_died`); recordings keep what was written (`repair_wav`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.ports import Telephony
from helpline.telephony.webrtc.adapter import RecordingSink, WebRtcTelephony
from helpline.telephony.webrtc.audio import SILENCE, Samples
from helpline.telephony.webrtc.calls import AgentLine, WebCall
from helpline.telephony.webrtc.legs import MediaLeg
from helpline.telephony.webrtc.worker_legs import LegVoice, RemoteLeg
from helpline.telephony.webrtc.worker_pool import MediaWorker, MediaWorkers
from helpline.telephony.webrtc.worker_recording import WorkerRecording

log = logging.getLogger("helpline.webrtc.workers")

WORKER_DIED_REASON = "media_worker_died"


class WorkerTelephony(WebRtcTelephony):
    def __init__(
        self,
        fallback: Telephony,
        media_dir: Path,
        *,
        workers: int,
        on_recording: RecordingSink | None = None,
        presence_grace_s: float = 5.0,
    ) -> None:
        super().__init__(
            fallback, media_dir, on_recording=on_recording, presence_grace_s=presence_grace_s
        )
        self.pool = MediaWorkers(workers)
        self.pool.on_worker_died.append(self._worker_died)
        self.recordings: dict[tuple[str, str], WorkerRecording] = {}
        # the agent's voice heard in the server, while a SIP caller is joined to its line
        self._agent_taps: dict[tuple[str, str], tuple[MediaLeg, Callable[[Samples], None]]] = {}

    async def start(self) -> None:
        await self.pool.start()

    # -- legs ---------------------------------------------------------------------------------

    def new_leg(self, name: str, on_digit: Callable[[str], None] | None = None) -> MediaLeg:
        return RemoteLeg(self.pool, name, on_digit=on_digit)

    def hear_caller(self, call: WebCall) -> None:
        """Nothing by default: the workers bridge and record (`_bridge` taps when needed)."""

    def hear_agent(self, line: AgentLine, leg: MediaLeg) -> None:
        """Nothing by default: `connect_line` taps the line when a SIP caller is joined."""

    # -- the bridge ---------------------------------------------------------------------------

    def _bridge(self, tenant_id: str, command: cmd.Bridge, call: WebCall | None) -> None:
        line = self.lines.get((tenant_id, command.agent_id))
        if call is None or line is None or not isinstance(call.leg, RemoteLeg):
            super()._bridge(tenant_id, command, call)
            if call is not None and call.recorder is not None:
                self._tap_caller(call)  # an in-process recording: the caller's side
            return
        # two browser legs: the workers carry the audio and write the recording
        super()._bridge(tenant_id, replace(command, record=False), call)
        key = (tenant_id, call.call_id)
        if command.record and key not in self.recordings and call.recorder is None:
            path = self.recording_path(tenant_id, call.call_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.recordings[key] = WorkerRecording(self.pool, path, call.leg)
        self.connect_line(line)
        if line.leg is None:  # the softphone is reconnecting: its new leg is joined then
            call.leg.out.source = SILENCE

    def _tap_caller(self, call: WebCall) -> None:
        if call.heard not in call.leg.listeners:
            call.leg.listeners.append(call.heard)

    def connect_line(self, line: AgentLine) -> None:
        self._sync_agent_tap(line)
        leg, call = line.leg, line.call
        if leg is None:
            return
        if line.media is not None or call is None:
            super().connect_line(line)
            return
        if not isinstance(call.leg, RemoteLeg) or not isinstance(leg, RemoteLeg):
            super().connect_line(line)
            return
        recording = self.recordings.get((call.tenant_id, call.call_id))
        if recording is not None:
            recording.attach_agent(leg)
        if call.held or call.agent_id != line.agent_id:
            leg.out.source = SILENCE
            return
        leg.out.source = LegVoice(call.leg)
        heard = call.leg.out.source
        if not (isinstance(heard, LegVoice) and heard.leg is leg):
            call.leg.out.source = LegVoice(leg)  # a softphone that came back: its new leg

    def _hold(self, call: WebCall, on: bool) -> None:
        super()._hold(call, on)  # music to the caller; the line: `connect_line`
        line = self.lines.get((call.tenant_id, call.agent_id or ""))
        if not on and line is not None:
            leg = line.leg
            call.leg.out.source = LegVoice(leg) if isinstance(leg, RemoteLeg) else SILENCE

    def _sync_agent_tap(self, line: AgentLine) -> None:
        """A SIP caller joined to the line hears the agent through the server (`LineMedia`):
        the line's leg sends what it hears here only while one is."""
        key = (line.tenant_id, line.agent_id)
        wanted = line.leg if line.media is not None else None
        tapped = self._agent_taps.get(key)
        if tapped is not None and tapped[0] is wanted:
            return
        if tapped is not None:
            old_leg, listener = self._agent_taps.pop(key)
            if listener in old_leg.listeners:
                old_leg.listeners.remove(listener)
        if wanted is not None:
            listener = partial(self.agent_heard, line)
            wanted.listeners.append(listener)
            self._agent_taps[key] = (wanted, listener)

    # -- the end of a call ----------------------------------------------------------------------

    async def finish(self, call: WebCall, reason: str) -> None:
        recording = self.recordings.pop((call.tenant_id, call.call_id), None)
        await super().finish(call, reason)
        if recording is not None:
            await self._store(call.tenant_id, call.call_id, recording)

    async def _store(self, tenant_id: str, call_id: str, recording: WorkerRecording) -> None:
        duration = await recording.stop()
        if duration is None or self.on_recording is None:
            return
        try:
            await self.on_recording(tenant_id, call_id, recording.path, duration)
        except Exception:
            log.exception("call %s: its recording was not stored", call_id)

    def _worker_died(self, worker: MediaWorker) -> None:
        """Calls whose agent's line was in the dead worker end (a caller's leg there ends its
        call itself, through its leg's failure)."""
        for line in self.lines.values():
            leg = line.leg
            if isinstance(leg, RemoteLeg) and leg.worker is worker and line.call_id is not None:
                hung_up = ev.CallHungUp(
                    call_id=line.call_id, party=ev.Party.SYSTEM, reason=WORKER_DIED_REASON
                )
                self.emit(line.tenant_id, hung_up)

    async def close(self) -> None:
        for (tenant_id, call_id), recording in list(self.recordings.items()):
            await self._store(tenant_id, call_id, recording)
        self.recordings.clear()
        await super().close()
        await self.pool.close()
