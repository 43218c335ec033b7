"""SIP over UDP, TCP and TLS on asyncio (RFC 3261 sections 18 and 26): sockets in, whole
messages out.

Each datagram is one message; each TCP or TLS connection is cut into messages by the
sans-I/O `StreamFramer` (18.3): TLS is asyncio's TLS over the very same stream protocol,
so framing, keep-alives and limits are the same. Everything that arrives goes to one
`Receiver` with where it came from; nothing a peer sends can raise out of here (a bug in the
receiver is logged and the listener carries on). Responses over TCP or TLS go back on the
connection the request came on (18.2.2), requests to a peer reuse an open connection to it
(the flow a phone registered over, as RFC 5626 5.3 has it) or open one. TLS listens on its
own port (5061 by default, 26.2), and a connection we open verifies the peer's certificate
against the system's CAs or a trunk's own CA file (26.3.1: the server side is always
authenticated). What a stream connection may cost us is capped (stream_limits.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from helpline.sip.errors import SipParseError
from helpline.sip.framing import FramingError, KeepAlive, StreamFramer
from helpline.sip.message import Request, Response, parse_message
from helpline.telephony.sip.addresses import (
    Address,
    ConnectionKey,
    Source,
    parse_source,
    transport_param,
)
from helpline.telephony.sip.stream_limits import (
    ConnectionCounts,
    RateLimitedLog,
    StreamPolicy,
    close_at,
)
from helpline.telephony.sip.tls_accept import TlsListener, listen_tls

__all__ = ["Source", "TlsOptions", "Transports", "parse_source", "transport_param"]

log = logging.getLogger("helpline.sip")

UDP_BUFFER_BYTES = 4 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsOptions:
    """TLS: the listener (our certificate) and how the peers we connect to are verified."""

    port: int | None = None  # where to listen (0: any free port); None: connect out only
    server: ssl.SSLContext | None = None  # our certificate and key (needed to listen)
    # peer host -> a context trusting that peer's CAs (its trunks' `tls_ca_file`s); any
    # other peer is verified against the system's CAs
    clients: Mapping[str, ssl.SSLContext] = field(default_factory=dict)


# (the message or why it could not be read, where from)
Receiver = Callable[[Request | Response | SipParseError, Source], None]
# told why a message could not be sent (no connection): its transaction fails (17.1.4)
OnFailure = Callable[[str], None]


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


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection (asyncio runs TLS underneath: we see plain bytes), closed
    when it breaks the limits of `StreamPolicy` (see stream_limits.py)."""

    def __init__(self, owner: Transports, transport_name: str, *, inbound: bool) -> None:
        self.owner = owner
        self.name = transport_name
        self.inbound = inbound
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.source: Source | None = None
        self.keys: list[ConnectionKey] = []  # what `Transports.connections` knows it by
        self.counted = False  # in `Transports.counts` (an accepted connection)
        self.last_received = 0.0
        self.partial_since: float | None = None  # a message begun, not yet whole
        self.flow_until: float | None = None  # a registered phone's flow: kept till then
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)
        host, port = self.transport.get_extra_info("peername")[:2]
        self.source = Source(self.name, host, port)
        if self.inbound and not self.counted:  # a TLS one was counted at accept (tls_accept)
            refused = self.owner.counts.admit(host)
            if refused is not None:
                self.owner.refusals.warning(
                    self.owner.now(), "SIP: refused a %s connection from %s: %s already",
                    self.name, host, refused,
                )  # fmt: skip
                self.transport.abort()
                return
            self.counted = True
        self.keys.append((self.name, host, port))
        self.owner.connections[self.keys[0]] = self
        self.last_received = self.owner.now()
        if self.inbound:  # whoever connects to us has a message to send: it is due now
            self.partial_since = self.last_received
        self.arm()

    def data_received(self, data: bytes) -> None:
        if self.source is None or self.transport is None or self.transport.is_closing():
            return
        self.last_received = self.owner.now()
        try:
            framed = self.framer.feed(data)
        except Exception:
            log.exception("SIP: the framer failed on %s", self.source)
            self.transport.abort()
            return
        for item in framed:
            if isinstance(item, KeepAlive):
                self.write(b"\r\n")  # the pong (RFC 5626 4.4.1)
                continue
            _deliver(self.owner.receive, item, self.source)
            if isinstance(item, FramingError):
                self.transport.close()  # the framing is lost (RFC 4475 3.1.2.3)
                return
        # a lone CRLF (a pong, or half a ping) between messages is not a message begun
        if self.framer.buffered <= 3:
            self.partial_since = None
        elif framed or self.partial_since is None:  # the next message began in this chunk
            self.partial_since = self.last_received
            self.arm()

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes, on_failure: OnFailure | None = None) -> bool:
        """Send `data`; False (and `on_failure` told) if the connection is closing, or is
        now closed because the peer reads nothing and too much waits to be sent."""
        transport = self.transport
        if transport is None or transport.is_closing():
            if on_failure is not None:
                on_failure(f"{self.source}: the connection is closing")
            return False
        transport.write(data)
        waiting = transport.get_write_buffer_size()
        if waiting <= self.owner.policy.max_write_buffer:
            return True
        self.owner.overflows.warning(
            self.owner.now(), "SIP: closing %s: it reads nothing (%d octets unsent)",
            self.source, waiting,
        )  # fmt: skip
        transport.abort()  # not close(): that would wait for the peer to read it all
        if on_failure is not None:
            on_failure(f"{self.source}: the peer is not reading ({waiting} octets unsent)")
        return False

    def _close_at(self) -> float:
        return close_at(
            self.owner.policy,
            last_received=self.last_received,
            partial_since=self.partial_since,
            flow_until=self.flow_until,
        )

    def arm(self) -> None:
        """Have `_expire` run by the deadline; a later deadline keeps the timer as it is
        (it looks again when it fires), so traffic costs no timer churn."""
        deadline = self._close_at()
        if self._timer is not None:
            if self._timer.when() <= deadline:
                return
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self.transport is None:
            return
        if self.transport.is_closing():  # still flushing to a peer that does not read
            self.transport.abort()
            return
        if self.owner.now() < self._close_at():
            self.arm()
            return
        why = "a message not whole in time" if self.partial_since is not None else "idle"
        log.info("SIP: closing %s: %s", self.source, why)
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.counted and self.source is not None:
            self.counted = False
            self.owner.counts.release(self.source.host)
        for key in self.keys:
            if self.owner.connections.get(key) is self:
                del self.owner.connections[key]


class Transports:
    """The UDP socket and the TCP (and TLS) listeners of one address, and the open
    connections of both stream transports."""

    def __init__(self, receive: Receiver, policy: StreamPolicy | None = None) -> None:
        self.receive = receive
        self.policy = policy or StreamPolicy()
        self.counts = ConnectionCounts(self.policy)
        self.refusals = RateLimitedLog(log)  # connections over the caps
        self.overflows = RateLimitedLog(log)  # peers that read nothing
        self.udp: _Udp | None = None
        self.tcp_server: asyncio.Server | None = None
        self.tls_server: TlsListener | None = None
        self.tls = TlsOptions()
        self.connections: dict[ConnectionKey, _Stream] = {}
        # messages waiting for a connection being opened: sent once it is up, in order
        self._connecting: dict[ConnectionKey, list[tuple[bytes, OnFailure | None]]] = {}
        self._default_client: ssl.SSLContext | None = None
        self.port = self.tls_port = 0

    async def start(self, host: str, port: int, tls: TlsOptions | None = None) -> int:
        """Listen on UDP and TCP; port 0 picks a free one (the same for both). The port.
        With `tls`, TLS too, on `tls.port` (see `tls_port`)."""
        loop = asyncio.get_running_loop()
        self.tls = tls or TlsOptions()
        for _ in range(20):  # port 0: find a port free on both transports
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self.receive), local_addr=(host, port)
            )
            bound = int(transport.get_extra_info("sockname")[1])
            try:
                self.tcp_server = await loop.create_server(
                    lambda: _Stream(self, "TCP", inbound=True), host, bound, reuse_address=True
                )
            except OSError:
                transport.close()
                if port:
                    raise
                continue
            self.udp = protocol
            self.port = bound
            break
        else:
            raise OSError("no port free on both UDP and TCP")
        if self.tls.port is not None:
            try:
                await self._listen_tls(host, self.tls.port)
            except BaseException:
                await self.stop()
                raise
        return self.port

    async def _listen_tls(self, host: str, port: int) -> None:
        if self.tls.server is None:
            raise ValueError("a TLS listener needs a certificate and key (TlsOptions.server)")
        refused = "SIP: refused a TLS connection from %s: %s already"
        self.tls_server = await listen_tls(
            host, port, counts=self.counts, context=self.tls.server,
            handshake_s=self.policy.tls_handshake_s,
            stream=lambda: _Stream(self, "TLS", inbound=True),
            refused=lambda peer, why: self.refusals.warning(self.now(), refused, peer, why),
        )  # fmt: skip
        self.tls_port = int(self.tls_server.sockets[0].getsockname()[1])

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def keep_flow(self, source: Source, seconds: float) -> None:
        """`source`'s connection is a registered phone's flow for `seconds` more (0: no
        longer): requests to the phone go back over it (RFC 5626 5.3), so idleness does
        not close it while the registration lasts."""
        connection = self.connections.get((source.transport, source.host, source.port))
        if connection is not None:
            connection.flow_until = self.now() + seconds if seconds > 0 else None
            connection.arm()  # no longer a flow: its timer may be due sooner

    def port_for(self, transport: str) -> int:
        """The port our Via sent-by and Contact give for `transport` (18.1.1, 26.2)."""
        if transport == "TLS" and self.tls_port:
            return self.tls_port
        return self.port

    async def stop(self) -> None:
        if self.udp is not None and self.udp.transport is not None:
            self.udp.transport.close()
        for connection in list(self.connections.values()):
            if connection.transport is not None:
                connection.transport.close()
        for server in (self.tcp_server, self.tls_server):
            if server is not None:
                server.close()
                await server.wait_closed()

    def send(
        self, data: bytes, transport: str, address: Address, on_failure: OnFailure | None = None
    ) -> None:
        """Send one message; over TCP or TLS on the open connection to `address` (the one
        its request came on, or a registered phone's flow), or a new one. `on_failure` is
        called if no connection can be opened (refused, or the peer's certificate fails)."""
        if transport == "UDP":
            if self.udp is not None and self.udp.transport is not None:
                self.udp.transport.sendto(data, address)
            return
        key = (transport, address[0], address[1])
        waiting = self._connecting.get(key)
        if waiting is not None:  # one connection per peer, however many messages wait
            waiting.append((data, on_failure))
            return
        connection = self.connections.get(key)
        if connection is not None and connection.is_open:
            connection.write(data, on_failure)
            return
        self._connecting[key] = [(data, on_failure)]
        asyncio.get_running_loop().create_task(self._connect(key))

    def client_context(self, host: str) -> ssl.SSLContext:
        """How a TLS peer we connect to is verified: its own CA if configured, else the
        system's; the certificate must name `host` either way (RFC 5922 7.2)."""
        context = self.tls.clients.get(host)
        if context is not None:
            return context
        if self._default_client is None:
            self._default_client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        return self._default_client

    async def _connect(self, key: ConnectionKey) -> None:
        """Open the connection `key` names and send what waits for it; if it cannot be
        opened, in `connect_s`, for whatever reason (a name that does not resolve or does
        not even encode, refused, a certificate we do not trust), every waiting sender is
        told, and the next message tries anew."""
        transport_name, host, port = key
        tls = transport_name == "TLS"
        try:
            try:
                async with asyncio.timeout(self.policy.connect_s):
                    _, protocol = await asyncio.get_running_loop().create_connection(
                        lambda: _Stream(self, transport_name, inbound=False),
                        host,
                        port,
                        ssl=self.client_context(host) if tls else None,
                        server_hostname=host if tls else None,
                        ssl_handshake_timeout=self.policy.tls_handshake_s if tls else None,
                    )
            except Exception as error:
                # the transaction's timer reports the failure to its user (RFC 3261 17.1.4)
                problem = str(error) or f"no connection within {self.policy.connect_s:g} s"
                level = logging.WARNING if isinstance(error, ValueError) else logging.INFO
                log.log(level, "SIP: cannot connect to %s:%s over %s: %r",
                        host, port, transport_name, error)  # fmt: skip
                for _, on_failure in self._connecting.pop(key, []):
                    if on_failure is not None:
                        on_failure(f"{transport_name} to {host}:{port}: {problem}")
                return
            # also known by the name it was asked for ("carrier.example", not its address)
            protocol.keys.append(key)
            self.connections[key] = protocol
            for data, on_failure in self._connecting.pop(key, []):
                protocol.write(data, on_failure)  # once one fails, so do the rest
        finally:
            self._connecting.pop(key, None)  # never left set: later messages would wait forever
