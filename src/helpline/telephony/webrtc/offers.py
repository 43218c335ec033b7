"""What an offer from a page may hold before aiortc sees it (review S3).

The web caller is anonymous (a click-to-call widget on any site), so its SDP is hostile input:
aiortc parses it and aioice pairs and checks every candidate it lists. Limits:

- at most `MAX_SDP_BYTES` of SDP (a real browser's audio offer is 2-6 KB);
- at most `MAX_CANDIDATES` `a=candidate` lines per media section (RFC 8839 section 5.1: a
  browser lists a few host, server-reflexive and relay candidates; thousands would make the
  server send connectivity checks to thousands of addresses of the caller's choosing);
- candidates on private, loopback or link-local addresses are dropped unless allowed (the
  server would otherwise probe its own network for the caller: a request forgery). A
  deployment whose callers share the server's network, and the tests on one machine, allow
  them with the setting `web_allow_private_candidates`.
"""

from __future__ import annotations

import ipaddress

MAX_SDP_BYTES = 32 * 1024
MAX_CANDIDATES = 8


class BadOffer(ValueError):
    """The offer breaks a limit; the message says which, fit to show the page."""


def _is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a hostname (an mDNS `.local` name): aioice resolves it, not an IP here
    # private, loopback, link-local, shared (CGNAT), reserved: anything not on the internet
    return not ip.is_global or ip.is_multicast


def check_offer(sdp: str, *, allow_private: bool) -> str:
    """The offer with the candidates it may keep; BadOffer when it breaks a limit.

    RFC 8839 section 5.1: `a=candidate:<foundation> <component> <transport> <priority>
    <address> <port> typ <type> ...`, the address being the fifth field.
    """
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise BadOffer(f"sdp: at most {MAX_SDP_BYTES // 1024} KB")
    kept: list[str] = []
    candidates = 0
    for line in sdp.splitlines():
        if line.startswith("m="):
            candidates = 0  # a new media section (RFC 8866 section 5.14)
        elif line.startswith("a=candidate:"):
            candidates += 1
            if candidates > MAX_CANDIDATES:
                raise BadOffer(f"sdp: at most {MAX_CANDIDATES} candidates per media section")
            fields = line.split()
            if len(fields) < 8:
                raise BadOffer("sdp: a candidate line is malformed")
            if not allow_private and _is_private(fields[4]):
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"
