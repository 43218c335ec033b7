"""Accepting TLS connections so that they count against the caps from the moment they open.

asyncio's TLS server (`create_server(ssl=...)`) hands a connection to its protocol only once
the handshake is over, so a peer that opened connections and never finished a handshake held
sockets that no cap counted, for up to `tls_handshake_s` each (issue 7, point 5: abuse; the
slowloris attack, one step earlier). Here the TLS port accepts its sockets itself: each one is
counted (per source and in all, `ConnectionCounts`) and refused over the caps before any
cryptography is spent on it; the handshake then runs on it (`loop.connect_accepted_socket`,
within `tls_handshake_s`, on asyncio and uvloop alike), and the connection, still counted,
goes to the SIP stream protocol. A handshake that fails or times out releases its count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Protocol, cast

from helpline.telephony.sip.stream_limits import ConnectionCounts

log = logging.getLogger("helpline.sip")

_BACKLOG = 512


class CountedStream(Protocol):
    """The SIP stream protocol, given a connection this listener has counted already."""

    counted: bool

    def connection_made(self, transport: asyncio.BaseTransport) -> None: ...


class TlsListener:
    """The TLS port: an accept loop, and a task per connection while it shakes hands.

    It has what `Transports` uses of an `asyncio.Server`: `sockets`, `close`, `wait_closed`.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        counts: ConnectionCounts,
        context: ssl.SSLContext,
        handshake_s: float,
        stream: Callable[[], CountedStream],
        refused: Callable[[str, str], object],
    ) -> None:
        self.sockets = [sock]
        self.counts = counts
        self.context = context
        self.handshake_s = handshake_s
        self.stream = stream
        self.refused = refused  # (host, why): logged by the transports, rate-limited
        self._handshakes: set[asyncio.Task[None]] = set()
        self._accepting = asyncio.get_running_loop().create_task(self._accept())

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self.sockets[0]
        while True:
            try:
                conn, address = await loop.sock_accept(sock)
            except OSError as error:  # out of descriptors, a connection reset in the queue
                log.warning("SIP TLS: accept failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            host = str(address[0])
            why = self.counts.admit(host)
            if why is not None:
                self.refused(host, why)
                with contextlib.suppress(OSError):  # an RST, not a FIN: nothing more to say
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                conn.close()
                continue
            task = loop.create_task(self._handshake(conn, host))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, conn: socket.socket, host: str) -> None:
        stream = self.stream()
        stream.counted = True  # from now on the stream's `connection_lost` releases it
        loop = asyncio.get_running_loop()
        protocol = cast("asyncio.Protocol", stream)
        try:
            await loop.connect_accepted_socket(
                lambda: protocol, conn, ssl=self.context, ssl_handshake_timeout=self.handshake_s
            )
        except (Exception, asyncio.CancelledError) as error:
            # never made: no `connection_lost` will come; the count is ours to give back
            self.counts.release(host)
            conn.close()
            if isinstance(error, asyncio.CancelledError):
                raise
            log.debug("SIP TLS: handshake with %s failed: %r", host, error)

    def close(self) -> None:
        self._accepting.cancel()
        for task in list(self._handshakes):
            task.cancel()
        self.sockets[0].close()

    async def wait_closed(self) -> None:
        tasks = [self._accepting, *self._handshakes]
        await asyncio.gather(*tasks, return_exceptions=True)


async def listen_tls(
    host: str,
    port: int,
    *,
    counts: ConnectionCounts,
    context: ssl.SSLContext,
    handshake_s: float,
    stream: Callable[[], CountedStream],
    refused: Callable[[str, str], object],
) -> TlsListener:
    """The TLS port on `host` (port 0: any free one), accepting through a `TlsListener`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return TlsListener(
        sock,
        counts=counts,
        context=context,
        handshake_s=handshake_s,
        stream=stream,
        refused=refused,
    )
