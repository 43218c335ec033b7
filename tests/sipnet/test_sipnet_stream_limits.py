"""How long a TCP connection may hold one of our sockets, and how many may (stream_limits.py):
a message begun must be whole in time; an idle connection is closed unless CRLF keep-alives
(RFC 5626 4.4.1) or a registration (its flow, RFC 5626 5.3) keep it; connections per source
and in all are capped; a peer that reads nothing is cut off; a connection that cannot be
opened, for any reason, fails its senders instead of wedging the peer's queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from sipnet_support import options_request, poll

from helpline.sip.errors import SipParseError
from helpline.sip.limits import AbuseLimits, LimitsPolicy
from helpline.sip.message import Request, Response, make_response
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import TerminationReason
from helpline.sip.transaction_layer import Transaction
from helpline.telephony.sip.stack import SipStack
from helpline.telephony.sip.stream_limits import ConnectionCounts, StreamPolicy, close_at
from helpline.telephony.sip.transport import Source, Transports


class Inbox:
    """The receiver: what arrived, from where."""

    def __init__(self) -> None:
        self.items: asyncio.Queue[tuple[Request | Response | SipParseError, Source]]
        self.items = asyncio.Queue()

    def __call__(self, item: Request | Response | SipParseError, source: Source) -> None:
        self.items.put_nowait((item, source))

    async def from_port(self, port: int) -> Request | Response | SipParseError:
        while True:
            item, source = await asyncio.wait_for(self.items.get(), 10)
            if source.port == port:
                return item


class Client:
    """A raw TCP connection to the server: what it reads, and whether the server closed it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.received = bytearray()
        self.closed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int, local_host: str = "127.0.0.1") -> Client:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(local_host, 0)
        )
        return cls(reader, writer)

    @property
    def port(self) -> int:
        return int(self.writer.get_extra_info("sockname")[1])

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await self.reader.read(65536):
                self.received += data
        self.closed.set()

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def close(self) -> None:
        self.writer.close()
        self._task.cancel()


@contextlib.asynccontextmanager
async def listening(policy: StreamPolicy) -> AsyncIterator[tuple[Transports, Inbox]]:
    inbox = Inbox()
    transports = Transports(inbox, policy)
    await transports.start("127.0.0.1", 0)
    try:
        yield transports, inbox
    finally:
        await transports.stop()


async def test_a_message_not_whole_in_time_closes_the_connection_a_whole_one_does_not() -> None:
    async with listening(StreamPolicy(partial_message_s=0.5, idle_s=60)) as (transports, inbox):
        dribbler = await Client.open(transports.port)  # slowloris: never finishes a message
        dribbler.send(options_request(transports.port, "TCP")[:40])
        silent = await Client.open(transports.port)  # connects, says nothing at all
        talker = await Client.open(transports.port)
        talker.send(options_request(transports.port, "TCP"))
        assert isinstance(await inbox.from_port(talker.port), Request)
        await dribbler.wait_closed()
        await silent.wait_closed()
        assert not talker.closed.is_set()  # its message was whole: only idleness counts now
        talker.send(options_request(transports.port, "TCP"))
        assert isinstance(await inbox.from_port(talker.port), Request)  # still served
        talker.close()


class Registrar:
    """A user agent answering REGISTER with a binding for `expires` (0: removed) and
    anything else with 200."""

    def __init__(self, stack: SipStack) -> None:
        self.stack = stack

    def on_request(self, transaction: ServerTransaction | None, request: Request) -> None:
        if transaction is None:
            return
        response = make_response(request, 200, to_tag="reg")
        expires = request.headers.get("Expires") or "0"
        if request.method == "REGISTER" and expires != "0":
            response.headers.add("Contact", f"<sip:phone@127.0.0.1:5999>;expires={expires}")
        response.headers.add("Content-Length", "0")
        self.stack.respond(transaction, response)

    def on_response(self, transaction: Transaction | None, response: Response) -> None:
        pass

    def on_failure(self, transaction: Transaction, reason: TerminationReason) -> None:
        pass


def register(port: int, client: Client, expires: int, cseq: int, call_id: str) -> bytes:
    return (
        options_request(port, "TCP", ("127.0.0.1", client.port))
        .replace(b"OPTIONS sip:", b"REGISTER sip:")
        .replace(b"CSeq: 1 OPTIONS", f"CSeq: {cseq} REGISTER\r\nExpires: {expires}".encode())
        .replace(b"Call-ID: ", f"Call-ID: {call_id}\r\nX-Old-Call-ID: ".encode())
    )


async def test_idle_connections_close_unless_kept_alive_or_registered() -> None:
    policy = StreamPolicy(partial_message_s=5, idle_s=1.5)
    stack = SipStack(AbuseLimits(LimitsPolicy(trusted=("127.0.0.0/8",))), stream_policy=policy)
    stack.user_agent = Registrar(stack)
    port = await stack.transports.start("127.0.0.1", 0)
    try:
        idle, pinger, phone = [await Client.open(port) for _ in range(3)]
        for client in (idle, pinger):
            client.send(options_request(port, "TCP", ("127.0.0.1", client.port)))
        call_id = uuid.uuid4().hex
        phone.send(register(port, phone, 60, 1, call_id))
        await poll(lambda: b"SIP/2.0 200" in phone.received, "the REGISTER's 200")

        async def ping() -> None:  # RFC 5626 4.4.1 keep-alives, well within idle_s
            while True:
                pinger.send(b"\r\n\r\n")
                await asyncio.sleep(0.2)

        pings = asyncio.get_running_loop().create_task(ping())
        await idle.wait_closed()
        assert not pinger.closed.is_set() and not phone.closed.is_set()
        assert pinger.received.endswith(b"\r\n")  # pongs came back
        pings.cancel()
        await pinger.wait_closed()  # no keep-alives: idle like any other
        assert not phone.closed.is_set()  # registered for 60 s: its flow stays
        phone.send(register(port, phone, 0, 2, call_id))  # unregistered: no flow any more
        await phone.wait_closed()
    finally:
        await stack.close()


async def test_connections_per_source_and_in_all_are_capped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = StreamPolicy(max_per_source=3, max_connections=5)
    caplog.set_level(logging.WARNING, "helpline.sip")
    async with listening(policy) as (transports, inbox):
        port = transports.port
        first = [await Client.open(port, "127.0.0.1") for _ in range(3)]
        await poll(lambda: transports.counts.total == 3, "3 connections counted")
        over_source = await Client.open(port, "127.0.0.1")
        await over_source.wait_closed()  # a 4th from one source: closed at once
        second = [await Client.open(port, "127.0.0.2") for _ in range(2)]
        await poll(lambda: transports.counts.total == 5, "5 connections counted")
        over_all = await Client.open(port, "127.0.0.3")
        await over_all.wait_closed()  # a 6th in all, from a new source: closed too
        refusals = [r for r in caplog.records if "refused a TCP connection" in r.message]
        assert len(refusals) == 1  # the second within 10 s is held back, not logged
        for client in [*first, *second]:
            assert not client.closed.is_set()
        first[0].close()
        await poll(lambda: transports.counts.total == 4, "a closed one released")
        again = await Client.open(port, "127.0.0.3")  # room again: accepted and served
        again.send(options_request(port, "TCP"))
        assert isinstance(await inbox.from_port(again.port), Request)
        for client in [*first[1:], *second, again]:
            client.close()


async def test_a_peer_that_reads_nothing_is_cut_off_and_the_sender_told() -> None:
    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small kernel buffer
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(never_read, sock=listener)
    port = int(listener.getsockname()[1])
    failures: list[str] = []
    async with listening(StreamPolicy(max_write_buffer=256 << 10)) as (transports, _):
        try:
            chunk = b"x" * (16 << 10)
            sent = 0
            while not failures and sent < 64 << 20:  # far more than any kernel buffers
                transports.send(chunk, "TCP", ("127.0.0.1", port), failures.append)
                sent += len(chunk)
                await asyncio.sleep(0)
            assert failures, f"{sent} octets went to a peer that reads nothing"
            assert "the peer is not reading" in failures[0]
            await poll(lambda: not transports.connections, "the connection dropped")
        finally:
            server.close()


async def test_a_connect_that_fails_in_any_way_fails_every_sender_and_does_not_wedge() -> None:
    bad_host = "a" * 64 + ".example"  # IDNA refuses a 64-octet label: UnicodeError
    failures: list[str] = []
    async with listening(StreamPolicy()) as (transports, _):
        for _ in range(2):  # the second waits for the first's connection
            transports.send(b"OPTIONS", "TCP", (bad_host, 5060), failures.append)
        await poll(lambda: len(failures) == 2, "both senders told")
        assert all(f"TCP to {bad_host}:5060" in failure for failure in failures)
        transports.send(b"OPTIONS", "TCP", (bad_host, 5060), failures.append)
        await poll(lambda: len(failures) == 3, "a later message tried anew, not queued")
        assert not transports.connections


def test_the_deadline_is_the_earlier_of_partial_and_idle_and_a_flow_defers_idleness() -> None:
    policy = StreamPolicy(partial_message_s=30, idle_s=300)
    assert close_at(policy, last_received=100, partial_since=None, flow_until=None) == 400
    assert close_at(policy, last_received=100, partial_since=90, flow_until=None) == 120
    assert close_at(policy, last_received=100, partial_since=None, flow_until=3700) == 3700
    assert close_at(policy, last_received=100, partial_since=90, flow_until=3700) == 120


def test_an_ipv6_source_is_counted_per_64() -> None:
    counts = ConnectionCounts(StreamPolicy(max_per_source=2, max_connections=10))
    assert counts.admit("2001:db8::1") is None and counts.admit("2001:db8::2") is None
    refused = counts.admit("2001:db8::ffff:3")  # the same /64: one subscriber's block
    assert refused is not None and "2001:db8::/64" in refused
    assert counts.admit("2001:db8:0:1::1") is None  # the next /64 is someone else
    counts.release("2001:db8::1")
    assert counts.admit("2001:db8::9") is None and counts.total == 3
