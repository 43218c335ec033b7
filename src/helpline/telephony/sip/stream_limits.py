"""How long a TCP or TLS connection may hold a socket, and how many may be open.

A stream connection costs a file descriptor for as long as the peer keeps it, so a peer that
opens many and sends nothing (or one byte at a time: slowloris) could take them all. The
limits, with the usual SIP servers' values for scale (Kamailio's `tcp_connection_lifetime`
is 120 s):

- a message begun must be whole within `partial_message_s` (and an accepted connection's
  first message is due as soon as it opens);
- a connection that receives nothing for `idle_s` is closed, unless it is a registered
  phone's flow (RFC 5626 5.3: requests to the phone go back over it, so it lives as long as
  the registration does); CRLF keep-alive pings (RFC 5626 4.4.1) count as traffic;
- at most `max_per_source` accepted connections per source address (an IPv6 /64) and
  `max_connections` in all: one over is closed as soon as it is accepted;
- at most `max_write_buffer` octets waiting to be sent to a peer that does not read.

The decisions here take the time as an input; `transport.py` does the I/O.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from helpline.sip.limits import source_key


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamPolicy:
    partial_message_s: float = 30.0
    idle_s: float = 300.0
    max_per_source: int = 32
    max_connections: int = 10_000
    max_write_buffer: int = 1 << 20
    tls_handshake_s: float = 10.0  # a peer that never finishes its handshake holds a socket
    connect_s: float = 10.0  # a connection we open (TCP, and TLS with its handshake)

    def __post_init__(self) -> None:
        for name in ("partial_message_s", "idle_s", "tls_handshake_s", "connect_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("max_per_source", "max_connections", "max_write_buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


def close_at(
    policy: StreamPolicy,
    *,
    last_received: float,
    partial_since: float | None,
    flow_until: float | None,
) -> float:
    """When a connection is to be closed unless something arrives before: `partial_since`
    is when the message not yet whole began, `flow_until` when its registration ends."""
    idle = last_received + policy.idle_s
    if flow_until is not None:
        idle = max(idle, flow_until)
    if partial_since is None:
        return idle
    return min(idle, partial_since + policy.partial_message_s)


class ConnectionCounts:
    """The accepted connections open, per source and in all."""

    def __init__(self, policy: StreamPolicy) -> None:
        self.policy = policy
        self.total = 0
        self._per_source: Counter[str] = Counter()

    def admit(self, host: str) -> str | None:
        """Count a new connection from `host`; or why it is refused (then not counted)."""
        if self.total >= self.policy.max_connections:
            return f"{self.total} connections open in all"
        key = source_key(host)
        if self._per_source[key] >= self.policy.max_per_source:
            return f"{self._per_source[key]} connections open from {key}"
        self._per_source[key] += 1
        self.total += 1
        return None

    def release(self, host: str) -> None:
        key = source_key(host)
        self._per_source[key] -= 1
        if self._per_source[key] <= 0:
            del self._per_source[key]
        self.total -= 1

    def from_source(self, host: str) -> int:
        return self._per_source.get(source_key(host), 0)


class RateLimitedLog:
    """One warning per `every_s` at most, with how many were held back since the last:
    a flood of refused connections must not become a flood of log lines."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.logger = logger
        self.every_s = every_s
        self._last: float | None = None
        self._held = 0

    def warning(self, now: float, message: str, *args: object) -> bool:
        """True when logged."""
        if self._last is not None and now - self._last < self.every_s:
            self._held += 1
            return False
        held, self._held, self._last = self._held, 0, now
        suffix = f" ({held} more like it not logged)" if held else ""
        self.logger.warning(message + suffix, *args)
        return True
