"""What the transport layer does to Via, and where a response goes (RFC 3261 18.2.1,
18.2.2, RFC 3581 symmetric response routing), as pure functions of the message and the
packet's source address. The shell calls `stamp_received` on every request it receives and
`response_destination` for every response it sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address
from typing import Final

from helpline.sip.fields import Via, parse_via
from helpline.sip.message import Request, Response

DEFAULT_PORTS: Final = {"UDP": 5060, "TCP": 5060, "SCTP": 5060, "TLS": 5061, "WS": 80, "WSS": 443}


@dataclass(frozen=True)
class Destination:
    host: str
    port: int
    transport: str
    reuse_connection: bool = False  # reliable transports: answer on the request's connection


def _same_address(host: str, source: str) -> bool:
    """Whether sent-by's host is the literal IP address `source` (a name never is)."""
    if host == source:  # the common case, without parsing either address
        return True
    try:
        return ip_address(host.strip("[]")) == ip_address(source.strip("[]"))
    except ValueError:
        return False


def stamp_received(request: Request, source_host: str, source_port: int) -> Request:
    """18.2.1: add `received` when sent-by is not the packet's source address; RFC 3581 4:
    fill in an empty `rport` (and then always add `received`)."""
    via = request.top_via
    params = dict(via.params)
    rport_requested = "rport" in params and params["rport"] is None
    source = source_host.strip("[]")
    if rport_requested:
        params["rport"] = str(source_port)
        params["received"] = source
    elif not _same_address(via.host, source):
        params["received"] = source
    if params == via.params:
        return request
    stamped = Via(via.transport, via.host, via.port, params, via.protocol)
    headers = request.headers.copy()
    headers.set_first("Via", str(stamped))
    return Request(request.method, request.uri, headers, request.body)


def response_destination(response: Response) -> Destination:
    """18.2.2 and RFC 3581 5: a reliable transport answers on the request's connection (and
    otherwise at received/rport); UDP goes to maddr if present, else to received (or the
    sent-by host) at rport (or the sent-by port, or the transport's default)."""
    via: Via = parse_via(response.headers.get_all("Via")[0])
    default_port = DEFAULT_PORTS.get(via.transport, 5060)
    host = via.received or via.host
    port = via.rport or via.port or default_port
    if via.transport != "UDP":
        return Destination(host, port, via.transport, reuse_connection=True)
    maddr = via.params.get("maddr")
    if maddr:
        return Destination(maddr, via.port or default_port, via.transport)
    return Destination(host, port, via.transport)
