"""Where SIP messages come from and go to: a transport and an address (RFC 3261 18), in
the form the registrar keeps as text, and the URI parameter that names the transport."""

from __future__ import annotations

from dataclasses import dataclass

Address = tuple[str, int]
ConnectionKey = tuple[str, str, int]  # (transport, host, port)
TRANSPORTS = ("UDP", "TCP", "TLS")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from: the transport ("UDP"/"TCP"/"TLS") and the peer's address."""

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
    if transport.upper() not in TRANSPORTS or not host or not port.isdigit():
        return None
    return Source(transport.upper(), host, int(port))


def transport_param(transport: str) -> str:
    """The URI parameter that makes a peer reach us over `transport` (RFC 3261 19.1.1;
    UDP is the default and needs none). RFC 5630 deprecates `transport=tls`
    (a `sips:` URI is its replacement) but carriers and phones still ask for it and
    understand it, so it is kept for interoperability."""
    return "" if transport == "UDP" else f";transport={transport.lower()}"
