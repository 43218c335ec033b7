"""What the TLS tests share: a test CA and a certificate for 127.0.0.1/127.0.0.2 made with
`cryptography` (already installed with aiortc), and SIP peers over asyncio's TLS streams that
speak through the project's own sans-I/O framer and parser (this machine's sipp is built
without TLS: `sipp -h` lists no `l1` transport)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from helpline.sip.errors import SipParseError
from helpline.sip.framing import KeepAlive, StreamFramer
from helpline.sip.message import Request, Response


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the test CA's certificate (what peers trust)
    cert: Path  # a certificate for 127.0.0.1, 127.0.0.2 and localhost, signed by the CA
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> Certificates:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Helpline test CA"))
        .issuer_name(_name("Helpline test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("127.0.0.2")),
        x509.DNSName("localhost"),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    found = Certificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    found.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    found.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return found


def trusting(ca: Path) -> ssl.SSLContext:
    """A client context that verifies the server against the test CA only."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))


def serving(certificates: Certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.cert, certificates.key)
    return context


class StreamPeer:
    """A SIP peer on one TLS (or TCP) connection: what arrives is cut by `StreamFramer` and
    queued with when it came; `send` writes bytes or a message."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.inbox: asyncio.Queue[tuple[float, Request | Response]] = asyncio.Queue()
        self.framer = StreamFramer()
        self.closed = asyncio.Event()
        self.unreadable: list[SipParseError] = []  # what the framer or parser refused
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(
        cls, local_host: str, port: int, context: ssl.SSLContext | None
    ) -> StreamPeer:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            port,
            ssl=context,
            server_hostname="127.0.0.1" if context is not None else None,
            local_addr=(local_host, 0),
        )
        return cls(reader, writer)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.writer.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                for item in self.framer.feed(data):
                    if isinstance(item, Request | Response):
                        self.inbox.put_nowait((time.monotonic(), item))
                    elif not isinstance(item, KeepAlive):
                        self.unreadable.append(item)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self.closed.set()

    def send(self, message: bytes | Request | Response) -> None:
        self.writer.write(message if isinstance(message, bytes) else message.serialize())

    async def expect(self, what: str | int, timeout: float = 10.0) -> Request | Response:
        """The next request `what` (a method) or response `what` (a status), skipping others."""
        while True:
            _, message = await asyncio.wait_for(self.inbox.get(), timeout)
            if isinstance(message, Request) and message.method == what:
                return message
            if isinstance(message, Response) and message.status == what:
                return message

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        self._task.cancel()


def tls_request(
    peer: StreamPeer,
    method: str,
    uri: str,
    *,
    call_id: str,
    cseq: int = 1,
    from_user: str = "caller",
    to: str | None = None,
    from_tag: str | None = None,
    extra: str = "",
    body: str = "",
) -> bytes:
    """A request as a TLS phone or trunk sends it: Via SIP/2.0/TLS, a transport=tls Contact."""
    host, port = peer.address
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS {host}:{port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{from_user}@{host}>;tag={from_tag or 'f' + call_id[:6]}\r\n"
        f"To: {to or f'<{uri}>'}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:{from_user}@{host}:{port};transport=tls>\r\n"
        f"{extra}"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    ).encode()
