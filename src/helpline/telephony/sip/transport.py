"""SIP over UDP and TCP on asyncio (RFC 3261 section 18): sockets in, whole messages out.

Each datagram is one message; each TCP connection is cut into messages by the sans-I/O
`StreamFramer` (18.3). Everything that arrives goes to one `Receiver` with where it came
from; nothing a peer sends can raise out of here (a bug in the receiver is logged and the
listener carries on). Responses over TCP go back on the connection the request came on
(18.2.2), requests to a peer reuse an open connection to it or open one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from helpline.sip.errors import SipParseError
from helpline.sip.framing import FramingError, KeepAlive, StreamFramer
from helpline.sip.message import Request, Response, parse_message

log = logging.getLogger("helpline.sip")

Address = tuple[str, int]
TCP_IDLE_LIMIT = 1 << 20  # bytes buffered without a whole message: a broken peer
UDP_BUFFER_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from: the transport ("UDP"/"TCP") and the peer's address."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


def parse_source(text: str) -> Source | None:
    """The inverse of `str(Source)` (the registrar keeps bindings' sources as text)."""
    transport, _, rest = text.partition(":")
    host, _, port = rest.rpartition(":")
    if transport.upper() not in ("UDP", "TCP") or not host or not port.isdigit():
        return None
    return Source(transport.upper(), host, int(port))


# (the message or why it could not be read, where from)
Receiver = Callable[[Request | Response | SipParseError, Source], None]


def _deliver(receive: Receiver, item: Request | Response | SipParseError, source: Source) -> None:
    try:
        receive(item, source)
    except Exception:  # never let one message take the listener down
        log.exception("SIP: handling a message from %s failed", source)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, receive: Receiver) -> None:
        self.receive = receive
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.DatagramTransport", transport)
        sock = self.transport.get_extra_info("socket")
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            # a burst of calls must not overflow the default ~200 KiB: every datagram the
            # kernel drops costs a retransmission at best (the kernel caps at rmem_max)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        source = Source("UDP", addr[0], addr[1])
        if not data.strip(b"\r\n"):
            return  # a CRLF keep-alive (RFC 5626 3.5.1)
        try:
            item: Request | Response | SipParseError = parse_message(data)
        except SipParseError as error:
            item = error
        except Exception as error:  # the parser must not raise anything else; if it does
            log.exception("SIP: the parser failed on a datagram from %s", source)
            item = SipParseError(f"unreadable message ({type(error).__name__})")
        _deliver(self.receive, item, source)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP: %s", exc)  # ICMP unreachable from a gone phone: nothing to do


class _Tcp(asyncio.Protocol):
    def __init__(self, owner: Transports) -> None:
        self.owner = owner
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.source: Source | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)
        host, port = self.transport.get_extra_info("peername")[:2]
        self.source = Source("TCP", host, port)
        self.owner.connections[(host, port)] = self

    def data_received(self, data: bytes) -> None:
        assert self.source is not None and self.transport is not None
        try:
            framed = self.framer.feed(data)
        except Exception:
            log.exception("SIP: the framer failed on %s", self.source)
            self.transport.close()
            return
        for item in framed:
            if isinstance(item, KeepAlive):
                self.transport.write(b"\r\n")  # the pong (RFC 5626 4.4.1)
                continue
            _deliver(self.owner.receive, item, self.source)
            if isinstance(item, FramingError):
                self.transport.close()  # the framing is lost (RFC 4475 3.1.2.3)
                return
        if self.framer.buffered > TCP_IDLE_LIMIT:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.source is not None:
            key = (self.source.host, self.source.port)
            if self.owner.connections.get(key) is self:
                del self.owner.connections[key]


class Transports:
    """The UDP socket and the TCP listener of one address, and the open TCP connections."""

    def __init__(self, receive: Receiver) -> None:
        self.receive = receive
        self.udp: _Udp | None = None
        self.tcp_server: asyncio.Server | None = None
        self.connections: dict[Address, _Tcp] = {}
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Listen on UDP and TCP; port 0 picks a free one (the same for both). The port."""
        loop = asyncio.get_running_loop()
        for _ in range(20):  # port 0: find a port free on both transports
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self.receive), local_addr=(host, port)
            )
            bound = int(transport.get_extra_info("sockname")[1])
            try:
                self.tcp_server = await loop.create_server(
                    lambda: _Tcp(self), host, bound, reuse_address=True
                )
            except OSError:
                transport.close()
                if port:
                    raise
                continue
            self.udp = protocol
            self.port = bound
            return bound
        raise OSError("no port free on both UDP and TCP")

    async def stop(self) -> None:
        if self.udp is not None and self.udp.transport is not None:
            self.udp.transport.close()
        for connection in list(self.connections.values()):
            if connection.transport is not None:
                connection.transport.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
            await self.tcp_server.wait_closed()

    def send(self, data: bytes, transport: str, address: Address) -> None:
        """Send one message; over TCP on the open connection to `address`, or a new one."""
        if transport == "UDP":
            if self.udp is not None and self.udp.transport is not None:
                self.udp.transport.sendto(data, address)
            return
        connection = self.connections.get(address)
        if connection is not None and connection.transport is not None:
            connection.transport.write(data)
            return
        asyncio.get_running_loop().create_task(self._connect_and_send(data, address))

    async def _connect_and_send(self, data: bytes, address: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(lambda: _Tcp(self), *address)
        except OSError as error:
            log.info("SIP: cannot connect to %s:%s over TCP: %s", *address, error)
            return
        transport.write(data)
