"""One SIP call's RTP: two UDP sockets, and what each of them is wired to (issue 7 point 4).

The call opens an `RtpRelay` when it arrives: socket A faces the caller (its port is in our
answer to the caller), socket B faces the agents' phones (its port is in our offers to them).
Each socket's asyncio transport is then handed between protocols as the call moves on,
without ever changing the port either phone was told about:

- caller alone (IVR, queue, hold): A is the caller's `RtpEndpoint` (prompts, hold music,
  RFC 4733 and in-band digits); B drops what an agent's phone sends before the bridge.
- bridged: A and B are the relay's own two leg sockets, which forward packets untouched.
- bridged and recorded: A is the caller's endpoint and B an endpoint for the agent's phone;
  each hands the audio it decodes to the other to send, and the caller's endpoint records
  both directions (caller left, agent right: seed 004).
- bridged to a browser agent (`to_browser`): A stays the caller's endpoint, whose decoded
  audio and live feed a `helpline.telephony.bridge.LineLink` joins to the agent's aiortc
  line; B drops. A recorded call is recorded by the caller's endpoint as above.

Switching A from our endpoint to the relay changes the RTP stream the caller receives: from
our SSRC to the agent phone's own SSRC, sequence numbers and timestamps. That is allowed: a
new SSRC is a new source (RFC 3550 section 8.2 and 6.3.2: receivers key their state on the
SSRC), which is exactly what a phone sees when a B2BUA or a PBX transfers media, and the
relay's pass-through keeps the payload types both sides agreed (the B leg is offered the A
leg's codec and telephone-event). When we take A back (hold in a bridged call) our
endpoint's timestamps are moved on by the time it was away (RFC 3550 5.1: timestamps follow
the sampling clock), so the caller's jitter buffer sees our stream resume, not stall.

The asyncio transport API has `set_protocol` for exactly this hand-over; the endpoint pauses
its packet clock (`pause`, `start`) while the relay has its socket.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from helpline.media.g711 import Pcm
from helpline.media.wav import StereoWavRecorder
from helpline.sip.sdp import AudioSession
from helpline.telephony.rtp.endpoint import DigitSource, RtpEndpoint
from helpline.telephony.rtp.relay import Address, RtpRelay

log = logging.getLogger("helpline.sip")

Mode = Literal["caller", "relay", "record", "browser"]
RATE = 8000


class _Drop(asyncio.DatagramProtocol):
    """A socket nobody listens to yet: its datagrams are counted (media timeout) and dropped."""

    def __init__(self) -> None:
        self.packets = 0

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.packets += 1


def _attach(transport: asyncio.DatagramTransport, protocol: asyncio.DatagramProtocol) -> None:
    transport.set_protocol(protocol)
    protocol.connection_made(transport)


class CallMedia:
    """The sockets of one call and the mode they are in. Open with `await CallMedia.open`."""

    def __init__(
        self, relay: RtpRelay, *, rng: random.Random, on_digit: Callable[[str], None]
    ) -> None:
        self.relay = relay
        self.rng = rng
        self.on_digit = on_digit
        self._leg_a, self._leg_b = relay.protocol("a"), relay.protocol("b")
        transport_a, transport_b = relay.transport("a"), relay.transport("b")
        assert transport_a is not None and transport_b is not None
        self._transport_a, self._transport_b = transport_a, transport_b
        self._drop = _Drop()
        _attach(transport_b, self._drop)
        self.caller: RtpEndpoint | None = None  # once the caller's session is agreed
        self.agent: RtpEndpoint | None = None  # in a recorded bridge
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.mode: Mode = "caller"
        self.recorder: StereoWavRecorder | None = None
        self.recording: Path | None = None
        self._agent_address: Address | None = None  # the SDP address leg B was bridged to
        self._paused_at: dict[int, float] = {}  # id(endpoint) -> when its clock stopped
        self._closed = False

    @classmethod
    async def open(
        cls, host: str, *, rng: random.Random, on_digit: Callable[[str], None]
    ) -> CallMedia:
        return cls(await RtpRelay.open(host), rng=rng, on_digit=on_digit)

    @property
    def caller_port(self) -> int:
        return self.relay.port("a")

    @property
    def agent_port(self) -> int:
        return self.relay.port("b")

    def received(self) -> int:
        """Datagrams that came in on either socket so far, whoever took them (media timeout)."""
        total = self._drop.packets
        for leg in ("a", "b"):
            stats = self.relay.stats(leg)
            total += stats.packets_in + stats.dropped
        for endpoint in (self.caller, self.agent):
            if endpoint is not None:
                total += endpoint.packets_received + endpoint.dropped
        return total

    # -- the caller alone ---------------------------------------------------------------------

    def caller_session(self, session: AudioSession) -> None:
        """The caller's session is agreed (our answer, or its answer in the ACK): from now on
        socket A is the caller's endpoint."""
        if self.caller is not None:
            self.caller.update(session)
            return
        endpoint = RtpEndpoint(session, rng=self.rng, on_digit=self._digit)
        self.caller = endpoint
        if self.mode != "relay":
            self._run_endpoint(endpoint, self._transport_a)
        if not self.ready.done():
            self.ready.set_result(None)

    def _digit(self, digit: str, source: DigitSource) -> None:
        log.debug("digit %s (%s)", digit, source)
        if digit in "0123456789*#":
            self.on_digit(digit)

    def _run_endpoint(self, endpoint: RtpEndpoint, transport: asyncio.DatagramTransport) -> None:
        _attach(transport, endpoint)
        if endpoint.running:
            return  # one packet clock per stream
        paused_at = self._paused_at.pop(id(endpoint), None)
        if paused_at is not None:  # our stream resumes where real time is now
            away = int((asyncio.get_running_loop().time() - paused_at) * RATE)
            endpoint.clock.advance(away // endpoint.frame_size * endpoint.frame_size)
        endpoint.start()

    def _stop_endpoint(self, endpoint: RtpEndpoint) -> None:
        if endpoint.running:
            self._paused_at[id(endpoint)] = asyncio.get_running_loop().time()
        endpoint.pause()

    def play(self, samples: Pcm, *, loop: bool = False) -> asyncio.Future[None]:
        """Play to the caller (after the caller's session is agreed: await `ready` first)."""
        assert self.caller is not None
        return self.caller.play(samples, loop=loop)

    def stop_playback(self) -> None:
        if self.caller is not None:
            self.caller.stop_playback()

    # -- hold and bridge ------------------------------------------------------------------------

    def caller_alone(self) -> None:
        """Back to the caller's endpoint on A, nothing on B (hold, or a transfer to a queue)."""
        if self.mode == "caller" or self.caller is None:
            self.mode = "caller"
            return
        if self.agent is not None:
            self._stop_endpoint(self.agent)
        self.caller.on_audio = None  # nobody is joined to the caller's audio any more
        _attach(self._transport_b, self._drop)
        if self.mode == "relay":
            self._run_endpoint(self.caller, self._transport_a)
        self.mode = "caller"

    def bridge(self, agent: AudioSession, *, record_to: Path | None) -> None:
        """Join the caller and the agent's phone: relayed, or terminated here and recorded."""
        caller = self.caller
        if caller is None:
            log.info("bridge before the caller's media were agreed: not joined")
            return
        caller.stop_playback()
        caller.on_audio = None  # a browser agent's link, when there was one, is over
        address = (agent.remote_address, agent.remote_port)
        # Another agent's phone than the one leg B last served (a transfer, straight or
        # through a queue): leg B must forget the old phone's latched address, or the new
        # phone's audio never reaches the caller and the caller's goes to the old phone.
        moved = self._agent_address is not None and address != self._agent_address
        self._agent_address = address
        if record_to is None and self.recorder is None:
            if moved:
                self.relay.relatch("b", address)
            if self.mode == "relay":
                return
            self._stop_endpoint(caller)
            # Not latched yet (the relay's leg A never received): the caller's address as our
            # endpoint learned it (only packets from that host may latch it again), and leg B
            # the phone's SDP address until its first packet.
            expect = caller.remote[0] if caller.latched else None
            self.relay.set_peer("a", caller.remote, expect_host=expect)
            self.relay.set_peer("b", address)
            _attach(self._transport_a, self._leg_a)
            _attach(self._transport_b, self._leg_b)
            self.mode = "relay"
            return
        if self.mode == "relay":
            self._run_endpoint(caller, self._transport_a)
        self._record(caller, record_to)
        if self.agent is None:
            self.agent = RtpEndpoint(agent, rng=self.rng)
            relayed = self.relay.stats("b")
            if moved and relayed.latched:  # the old phone, relayed before: it may send on
                self.agent.refused = relayed.peer
        else:
            self.agent.update(agent)
        self._run_endpoint(self.agent, self._transport_b)
        caller.on_audio, self.agent.on_audio = self.agent.feed, caller.feed
        self.mode = "record"

    def _record(self, caller: RtpEndpoint, record_to: Path | None) -> None:
        if self.recorder is None and record_to is not None:
            record_to.parent.mkdir(parents=True, exist_ok=True)
            self.recorder = StereoWavRecorder(record_to, RATE)
            self.recording = record_to
            caller.record(self.recorder, remote_side="caller")

    def to_browser(self, *, record_to: Path | None) -> RtpEndpoint | None:
        """The caller's endpoint on A for a bridge to a browser agent (its `on_audio` and
        `feed` are the link's to use), nothing on B; recorded when `record_to` is given (what
        the endpoint sends is the agent). None before the caller's media are agreed."""
        caller = self.caller
        if caller is None:
            return None
        caller.stop_playback()
        if self.agent is not None:  # a recorded bridge to a SIP phone before (a transfer)
            self._stop_endpoint(self.agent)
        _attach(self._transport_b, self._drop)
        if self.mode == "relay":
            self._run_endpoint(caller, self._transport_a)
        self._record(caller, record_to)
        self.mode = "browser"
        return caller

    def close(self) -> float | None:
        """Close the sockets; the recording's length in seconds, when there was one."""
        if self._closed:
            return None
        self._closed = True
        for endpoint in (self.caller, self.agent):
            if endpoint is not None:
                self._stop_endpoint(endpoint)
        self.relay.close()  # the relay's sockets are the endpoints' too
        for endpoint in (self.caller, self.agent):
            if endpoint is not None:
                endpoint.release()  # no cycles left for the garbage collector (its docstring)
        if not self.ready.done():
            self.ready.cancel()
        if self.recorder is not None:
            return self.recorder.close()
        return None
