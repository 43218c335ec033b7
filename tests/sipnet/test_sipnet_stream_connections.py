"""Connections the SIP transports open themselves (RFC 3261 18.1.1, 26.3.1): messages sent
while one is being opened share it, in order; one that cannot be opened (refused, or a
certificate we do not trust) is reported to the sender at once, so the transaction fails
(17.1.4) instead of waiting out timer B."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from sipnet_support import options_request, poll
from sipnet_tls import make_certificates, serving, trusting

from helpline.sip.errors import SipParseError
from helpline.sip.framing import StreamFramer
from helpline.sip.message import Request, Response
from helpline.telephony.sip.transport import Source, TlsOptions, Transports, parse_source


def _ignore(item: Request | Response | SipParseError, source: Source) -> None:
    pass


class Listener:
    """A plain stream server counting its connections and the SIP messages it reads."""

    def __init__(self) -> None:
        self.connections = 0
        self.messages: asyncio.Queue[Request | Response | SipParseError] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        framer = StreamFramer()
        while data := await reader.read(65536):
            for item in framer.feed(data):
                if isinstance(item, Request | Response | SipParseError):
                    self.messages.put_nowait(item)
        writer.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens once it is closed


async def test_messages_sent_while_connecting_share_one_connection_in_order() -> None:
    listener = Listener()
    server = await asyncio.start_server(listener.handle, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    transports = Transports(_ignore)
    await transports.start("127.0.0.1", 0)
    try:
        requests = [options_request(port, "TCP").replace(b"CSeq: 1", f"CSeq: {n}".encode())
                    for n in range(1, 6)]  # fmt: skip
        for data in requests:
            transports.send(data, "TCP", ("127.0.0.1", port))
        got = [await asyncio.wait_for(listener.messages.get(), 5) for _ in requests]
        assert [m.cseq.number for m in got if isinstance(m, Request)] == [1, 2, 3, 4, 5]
        assert listener.connections == 1
        assert ("TCP", "127.0.0.1", port) in transports.connections
    finally:
        await transports.stop()
        server.close()


async def test_a_refused_connection_is_reported_to_every_waiting_sender() -> None:
    transports = Transports(_ignore)
    await transports.start("127.0.0.1", 0)
    failures: list[str] = []
    try:
        port = _closed_port()
        for _ in range(2):
            transports.send(options_request(port, "TCP"), "TCP", ("127.0.0.1", port),
                            failures.append)  # fmt: skip
        await poll(lambda: len(failures) == 2, "both failures")
        assert len(failures) == 2 and all(f"TCP to 127.0.0.1:{port}" in f for f in failures)
        assert not transports.connections
    finally:
        await transports.stop()


async def test_tls_peers_are_verified_against_the_given_ca_only(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    listener = Listener()
    server = await asyncio.start_server(listener.handle, "127.0.0.1", 0, ssl=serving(certificates))
    port = int(server.sockets[0].getsockname()[1])
    trusted = Transports(_ignore)
    await trusted.start(
        "127.0.0.1", 0, TlsOptions(clients={"127.0.0.1": trusting(certificates.ca)})
    )
    untrusted = Transports(_ignore)  # the system's CAs: they never signed the test CA
    await untrusted.start("127.0.0.1", 0)
    failures: list[str] = []
    try:
        untrusted.send(options_request(port, "TLS"), "TLS", ("127.0.0.1", port), failures.append)
        trusted.send(options_request(port, "TLS"), "TLS", ("127.0.0.1", port), failures.append)
        message = await asyncio.wait_for(listener.messages.get(), 10)
        assert isinstance(message, Request) and message.method == "OPTIONS"
        await poll(lambda: bool(failures), "the untrusted side's failure")
        (failure,) = failures
        assert "certificate verify failed" in failure
        assert listener.connections == 1  # only the trusting side got through
    finally:
        await trusted.stop()
        await untrusted.stop()
        server.close()


def test_sources_over_tls_survive_the_registrar_s_text_form() -> None:
    source = Source("TLS", "127.0.0.1", 5061)
    assert str(source) == "tls:127.0.0.1:5061"
    assert parse_source(str(source)) == source and source.reliable
    assert parse_source("sctp:127.0.0.1:5061") is None
