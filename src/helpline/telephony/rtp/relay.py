"""RTP relay for a SIP-to-SIP bridge: two UDP sockets, each packet forwarded to the other leg.

Both legs' SDP point at our sockets; whatever arrives on leg A's socket goes out of leg B's
socket to leg B's peer, and back. The payload is never looked at: both legs agreed on the
same codec (the B2BUA offered the A leg's answer to the B leg), and RFC 4733 events,
comfort noise and any other payload type pass through as they are, with the sender's own
SSRC, sequence numbers and timestamps.

Latching (symmetric RTP, RFC 4961; "comedia"): a phone behind NAT puts its private address
in its SDP, which we cannot reach. So each side sends to the SDP address only until the
first RTP packet arrives on its socket, and from then on to the address that packet came
from, where the NAT binding is known to be open. A datagram only latches when it looks like
RTP (version 2, 12 octets at least, not an RTCP packet type), so a scanner's garbage does
not hijack the stream; once latched, datagrams from any other address are dropped.
`expect_host` narrows latching to the peer's signalled IP address where NAT is known absent
(a trunk). A re-INVITE that moves the media, or a transfer to another agent's phone, calls
`relatch`; the address the leg was latched to is then refused until the leg latches again,
so the old phone's packets still in flight (or a phone that ignores its BYE) cannot win the
race against the new phone's first packet.

The hot path is `datagram_received` on a latched leg: one tuple comparison, two counter
increments and one `sendto`. Everything else (latching, stats) is off that path.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

log = logging.getLogger("helpline.rtp")

Address = tuple[str, int]
Leg = Literal["a", "b"]
_RTP_HEADER = 12
# RFC 5761 section 4: with rtcp-mux, RTCP packet types 192-223 share the RTP socket; as RTP
# their second octet would read as payload types 64-95 (with the marker bit).
_RTCP_TYPES = range(192, 224)


def looks_like_rtp(data: bytes) -> bool:
    """Cheap test of an RTP header (RFC 3550 5.1): version 2, long enough, not RTCP."""
    return len(data) >= _RTP_HEADER and data[0] >> 6 == 2 and data[1] not in _RTCP_TYPES


@dataclass(frozen=True, slots=True)
class LegStats:
    """One leg as seen from the relay: what came in on its socket and what went out of it."""

    local_port: int
    peer: Address | None
    latched: bool
    packets_in: int
    bytes_in: int
    packets_out: int
    bytes_out: int
    dropped: int  # from a stranger, not RTP before latching, or with no peer to go to


class _LegSocket(asyncio.DatagramProtocol):
    """One leg's socket. Counters are plain ints on the object: cheaper than a dataclass."""

    def __init__(self, peer: Address | None, expect_host: str | None) -> None:
        self.peer = peer  # where this leg's packets go: SDP address, then the latched one
        self.expect_host = expect_host
        self.latched = False
        self.refused: Address | None = None  # the phone this leg was re-targeted away from
        self.other: _LegSocket | None = None  # the relay's other leg (RtpRelay)
        self.transport: asyncio.DatagramTransport | None = None
        self.local_port = 0  # known once bound (`RtpRelay.open`)
        self.packets_in = self.bytes_in = self.packets_out = self.bytes_out = self.dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A datagram endpoint's transport (uvloop's UDPTransport is not a registered subclass).
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if (addr != self.peer or not self.latched) and not self._latch(data, addr):
            self.dropped += 1
            return
        self.packets_in += 1
        self.bytes_in += len(data)
        other = self.other
        if other is None or other.peer is None or other.transport is None:
            self.dropped += 1
            return
        other.transport.sendto(data, other.peer)
        other.packets_out += 1
        other.bytes_out += len(data)

    def _latch(self, data: bytes, addr: Address) -> bool:
        if self.latched or not looks_like_rtp(data):
            return False
        if self.expect_host is not None and addr[0] != self.expect_host:
            return False
        if self.refused is not None and addr[:2] == self.refused:
            return False
        if addr != self.peer:
            log.debug("rtp relay latched %s (SDP said %s)", addr, self.peer)
        self.peer = (addr[0], addr[1])  # addr may carry IPv6 flow info and scope: drop them
        self.latched = True
        return True

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that hung up: not worth more than a count.
        self.dropped += 1

    def stats(self) -> LegStats:
        return LegStats(
            self.local_port if self.transport else 0,
            self.peer,
            self.latched,
            self.packets_in,
            self.bytes_in,
            self.packets_out,
            self.bytes_out,
            self.dropped,
        )


def _factory(leg: _LegSocket) -> Callable[[], _LegSocket]:
    return lambda: leg


def bound_socket(host: str, port: int = 0) -> socket.socket | None:
    """A non-blocking UDP socket bound to `host` and `port` (0: any free port), when `host` is
    an IP address literal; None for a name, which the event loop must resolve. Binding it
    here, not through `create_datagram_endpoint(local_addr=...)`, skips the loop's address
    resolution: each call opens two, so at hundreds of calls a second this is about half the
    cost of opening a call's sockets (15 against 30 µs each, uvloop, here)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _open_leg(leg: _LegSocket, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    sock = bound_socket(host, port)
    if sock is None:
        transport, _ = await loop.create_datagram_endpoint(_factory(leg), local_addr=(host, port))
        leg.local_port = int(transport.get_extra_info("sockname")[1])
        return
    leg.local_port = int(sock.getsockname()[1])
    try:
        await loop.create_datagram_endpoint(_factory(leg), sock=sock)
    except BaseException:
        sock.close()
        raise


class RtpRelay:
    """Two sockets forwarding each other's packets. Open with `await RtpRelay.open(...)`."""

    def __init__(self, a: _LegSocket, b: _LegSocket) -> None:
        self._legs = {"a": a, "b": b}
        a.other, b.other = b, a

    @classmethod
    async def open(
        cls,
        host: str = "0.0.0.0",
        *,
        ports: tuple[int, int] = (0, 0),
        peers: tuple[Address | None, Address | None] = (None, None),
        expect_hosts: tuple[str | None, str | None] = (None, None),
    ) -> RtpRelay:
        """Bind leg A's and leg B's sockets on `host` (port 0: any free port), with each leg's
        SDP address if it is known yet (`set_peer` can give it later, from an answer)."""
        legs: list[_LegSocket] = []
        try:
            for port, peer, expect in zip(ports, peers, expect_hosts, strict=True):
                leg = _LegSocket(peer, expect)
                legs.append(leg)
                await _open_leg(leg, host, port)
        except OSError:
            for leg in legs:
                if leg.transport:
                    leg.transport.close()
            raise
        return cls(legs[0], legs[1])

    def port(self, leg: Leg) -> int:
        """The local port to put in the SDP sent to `leg`."""
        return self._legs[leg].local_port

    def set_peer(self, leg: Leg, peer: Address, *, expect_host: str | None = None) -> None:
        """The leg's address from its SDP; used until (unless) the leg latches."""
        side = self._legs[leg]
        if not side.latched:
            side.peer = peer
        side.expect_host = expect_host

    def relatch(self, leg: Leg, peer: Address | None = None) -> None:
        """The leg's media moved (a re-INVITE, a transfer to another phone): forget the latched
        address and learn it anew, never from the address it was latched to (unless that is
        where `peer` says the media now are)."""
        side = self._legs[leg]
        if side.latched and side.peer is not None:
            side.refused = side.peer
        side.latched = False
        if peer is not None:
            side.peer = peer
            if side.refused == peer:
                side.refused = None

    def stats(self, leg: Leg) -> LegStats:
        return self._legs[leg].stats()

    def protocol(self, leg: Leg) -> asyncio.DatagramProtocol:
        """The leg's forwarding protocol, to give its transport back to (`set_protocol`)
        after another protocol had it (a SIP caller's endpoint, before the bridge)."""
        return self._legs[leg]

    def transport(self, leg: Leg) -> asyncio.DatagramTransport | None:
        return self._legs[leg].transport

    def close(self) -> None:
        # The references go too: a transport holds its protocol and each leg the other, and
        # such cycles wait for the garbage collector, whose pauses grow with what waits
        # (a call's media were a quarter of a 400-calls/s server's cyclic garbage).
        for leg in self._legs.values():
            if leg.transport is not None:
                leg.transport.close()
                leg.transport = None
            leg.other = None
