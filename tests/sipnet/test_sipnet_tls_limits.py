"""TLS connections' limits and checks: a certificate from the trusted CA for another name
is refused (RFC 5922 7.2); a peer that never finishes its handshake is dropped after
`tls_handshake_s`, whichever side opened the connection, and a connection we open gives up
after `connect_s`; trunks on one host with their own CAs each get their carrier verified;
the TLS settings that used to be ignored or fail late are refused by name."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from pydantic import ValidationError
from sipnet_support import options_request, poll
from sipnet_tls import make_certificates, serving, trusting

from helpline.cli import main
from helpline.settings import Settings
from helpline.sip.errors import SipParseError
from helpline.sip.framing import StreamFramer
from helpline.sip.message import Request, Response
from helpline.telephony.sip.settings import tls_options
from helpline.telephony.sip.stream_limits import StreamPolicy
from helpline.telephony.sip.transport import Source, TlsOptions, Transports

TENANT = "acme"


def _ignore(item: Request | Response | SipParseError, source: Source) -> None:
    pass


class Listener:
    """A stream server putting each SIP message it reads in a queue."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Request | Response | SipParseError] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = StreamFramer()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for item in framer.feed(data):
                    if isinstance(item, Request | Response | SipParseError):
                        self.messages.put_nowait(item)
        writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)  # accepts, never says a word (not even a TLS ServerHello)


async def _failure_to_silent_peer(policy: StreamPolicy) -> str:
    server = await asyncio.start_server(_silent, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    transports = Transports(_ignore, policy)
    await transports.start("127.0.0.1", 0)
    failures: list[str] = []
    try:
        transports.send(options_request(port, "TLS"), "TLS", ("127.0.0.1", port), failures.append)
        await poll(lambda: bool(failures), "the sender told")
        assert not transports.connections and not transports._connecting
        return failures[0]
    finally:
        await transports.stop()
        server.close()


async def test_a_certificate_for_another_address_is_refused(tmp_path: Path) -> None:
    """The trusted CA signed it, but for 127.0.0.1/.2: at 127.0.0.3 it names someone else."""
    certificates = make_certificates(tmp_path)
    listeners = {host: Listener() for host in ("127.0.0.1", "127.0.0.3")}
    servers = {
        host: await asyncio.start_server(listener.handle, host, 0, ssl=serving(certificates))
        for host, listener in listeners.items()
    }
    ports = {host: int(server.sockets[0].getsockname()[1]) for host, server in servers.items()}
    clients = {host: trusting(certificates.ca) for host in ports}
    transports = Transports(_ignore)
    await transports.start("127.0.0.1", 0, TlsOptions(clients=clients))
    failures: list[str] = []
    try:
        for host, port in ports.items():
            transports.send(options_request(port, "TLS"), "TLS", (host, port), failures.append)
        message = await asyncio.wait_for(listeners["127.0.0.1"].messages.get(), 10)
        assert isinstance(message, Request)  # the name matches: through
        await poll(lambda: bool(failures), "the mismatch reported")
        (failure,) = failures
        assert f"TLS to 127.0.0.3:{ports['127.0.0.3']}" in failure
        assert "certificate verify failed" in failure and "mismatch" in failure
        assert listeners["127.0.0.3"].messages.empty()
    finally:
        await transports.stop()
        for server in servers.values():
            server.close()


async def test_a_peer_that_never_answers_our_handshake_is_given_up() -> None:
    failure = await _failure_to_silent_peer(StreamPolicy(tls_handshake_s=0.5, connect_s=60))
    assert "handshake" in failure


async def test_a_connection_we_open_gives_up_after_connect_s() -> None:
    failure = await _failure_to_silent_peer(StreamPolicy(tls_handshake_s=60, connect_s=0.5))
    assert "no connection within 0.5 s" in failure


async def test_our_listener_drops_a_client_that_never_handshakes(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    transports = Transports(_ignore, StreamPolicy(tls_handshake_s=0.5))
    await transports.start("127.0.0.1", 0, TlsOptions(port=0, server=serving(certificates)))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", transports.tls_port)
        # the default (10 s) would hold it well past this wait
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await transports.stop()


async def test_trunks_on_one_host_with_their_own_cas_each_verify(tmp_path: Path) -> None:
    """Two carriers' proxies on one host, each with its own CA: the context for that host
    trusts both (one trunk's CA used to replace the other's)."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = make_certificates(tmp_path / "one"), make_certificates(tmp_path / "two")
    listener = Listener()
    server = await asyncio.start_server(listener.handle, "127.0.0.1", 0, ssl=serving(two))
    port = int(server.sockets[0].getsockname()[1])
    trunks = [
        {"name": name, "tenant_id": TENANT, "addresses": ["127.0.0.1"], "transport": "tls",
         "proxy": f"127.0.0.1:{proxy_port}", "tls_ca_file": str(ca)}
        for name, proxy_port, ca in (("two", port, two.ca), ("one", 5061, one.ca))
    ]  # fmt: skip
    options = tls_options(Settings(sip_trunks=trunks))
    assert options is not None and len(options.clients["127.0.0.1"].get_ca_certs()) == 2
    transports = Transports(_ignore)
    await transports.start("127.0.0.1", 0, options)
    failures: list[str] = []
    try:
        transports.send(options_request(port, "TLS"), "TLS", ("127.0.0.1", port), failures.append)
        message = await asyncio.wait_for(listener.messages.get(), 10)
        assert isinstance(message, Request) and not failures
    finally:
        await transports.stop()
        server.close()


@pytest.mark.parametrize(("transport", "proxy"), [("udp", "192.0.2.7"), ("tls", None)])
def test_a_ca_file_that_would_be_ignored_is_refused_by_name(
    tmp_path: Path, transport: str, proxy: str | None
) -> None:
    trunk = {
        "name": "carrier",
        "tenant_id": TENANT,
        "addresses": ["192.0.2.7"],
        "transport": transport,
        "proxy": proxy,
        "tls_ca_file": str(tmp_path / "ca.pem"),
    }
    with pytest.raises(ValidationError) as caught:
        Settings(sip_trunks=[trunk])
    message = str(caught.value)
    assert "tls_ca_file" in message and "'carrier'" in message


def test_tls_on_the_sip_port_is_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    certificates = make_certificates(tmp_path)
    tls = ["--sip-tls-cert", str(certificates.cert), "--sip-tls-key", str(certificates.key)]
    assert main(["serve", "--sip-port", "5099", "--sip-tls-port", "5099", *tls]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "HELPLINE_SIP_TLS_PORT and HELPLINE_SIP_PORT are both 5099" in error
    with pytest.raises(ValidationError):
        Settings(sip_port=5061, sip_tls_port=5061, sip_tls_cert="c", sip_tls_key="k")
    assert Settings(sip_port=0, sip_tls_port=0, sip_tls_cert="c", sip_tls_key="k")  # both any
