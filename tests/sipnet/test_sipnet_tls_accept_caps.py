"""TLS connections count against the stream caps from the moment they are accepted, before
and during their handshake (telephony/sip/tls_accept.py): a peer that opens connections and
never finishes a handshake cannot hold sockets past `max_per_source`, and a handshake that
fails or times out gives its place back."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import uvloop
from sipnet_support import options_request, poll
from sipnet_tls import make_certificates, serving, trusting

from helpline.sip.errors import SipParseError
from helpline.sip.message import Request, Response
from helpline.telephony.sip.stream_limits import StreamPolicy
from helpline.telephony.sip.transport import Source, TlsOptions, Transports


class Received:
    def __init__(self) -> None:
        self.items: list[tuple[Request | Response | SipParseError, Source]] = []

    def __call__(self, item: Request | Response | SipParseError, source: Source) -> None:
        self.items.append((item, source))


async def _closed_by_peer(reader: asyncio.StreamReader, within_s: float) -> bool:
    """Whether the server closed the connection (a FIN, or the RST of a refusal) in time."""
    try:
        return await asyncio.wait_for(reader.read(), within_s) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def _handshakes_count(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    received = Received()
    # a handshake may take 60 s here: only the cap can free a place within this test
    policy = StreamPolicy(max_per_source=2, tls_handshake_s=60.0)
    transports = Transports(received, policy)
    await transports.start("127.0.0.1", 0, TlsOptions(port=0, server=serving(certificates)))
    port = transports.tls_port
    silent: list[asyncio.StreamWriter] = []
    try:
        for _ in range(2):  # TCP connects; no ClientHello follows
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            silent.append(writer)
        await poll(lambda: transports.counts.total == 2, "both counted mid-handshake")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await _closed_by_peer(reader, 5.0)  # the third: closed at once, not at 60 s
        writer.close()
        assert transports.counts.total == 2
        silent.pop().close()  # one gives up: its place comes back
        await poll(lambda: transports.counts.total == 1, "the place released")
        context = trusting(certificates.ca)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
        )
        writer.write(options_request(port, "TLS"))
        await writer.drain()
        await poll(lambda: bool(received.items), "the OPTIONS over TLS")
        (item, source), *_ = received.items
        assert isinstance(item, Request) and item.method == "OPTIONS"
        assert source.transport == "TLS" and transports.counts.total == 2
        writer.close()
        await poll(lambda: transports.counts.total == 1, "its place released at the end")
    finally:
        for writer in silent:
            writer.close()
        await transports.stop()


async def _handshakes_release(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    policy = StreamPolicy(max_per_source=1, tls_handshake_s=0.5)
    transports = Transports(Received(), policy)
    await transports.start("127.0.0.1", 0, TlsOptions(port=0, server=serving(certificates)))
    port = transports.tls_port
    try:
        # plain text where a ClientHello belongs: the handshake fails
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
        assert await _closed_by_peer(reader, 5.0)
        writer.close()
        await poll(lambda: transports.counts.total == 0, "the failed handshake released")
        # silence: dropped after tls_handshake_s, released
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await _closed_by_peer(reader, 5.0)
        writer.close()
        await poll(lambda: transports.counts.total == 0, "the timed-out handshake released")
        # the one place is free for a real peer
        context = trusting(certificates.ca)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
        )
        assert isinstance(writer.get_extra_info("ssl_object"), ssl.SSLObject)
        await poll(lambda: transports.counts.total == 1, "the real peer counted")
        writer.close()
    finally:
        await transports.stop()


async def test_handshakes_in_progress_count_against_the_per_source_cap(tmp_path: Path) -> None:
    await _handshakes_count(tmp_path)


async def test_a_failed_or_timed_out_handshake_gives_its_place_back(tmp_path: Path) -> None:
    await _handshakes_release(tmp_path)


def test_the_same_on_uvloop(tmp_path: Path) -> None:
    """`helpline serve` runs on uvloop, whose transports differ from asyncio's (it starts
    reading after `connection_made`, whatever the protocol asked)."""
    (tmp_path / "count").mkdir()
    (tmp_path / "release").mkdir()
    uvloop.run(_handshakes_count(tmp_path / "count"))
    uvloop.run(_handshakes_release(tmp_path / "release"))
