"""Abuse limits per source address, sans-I/O, time as an input (issue 7 point 5).

What Kamailio's pike module and the usual scanner blocklists do, in one decision function,
`AbuseLimits.admit(source, user_agent, now)`, called for each request before anything else:

- a known scanner's User-Agent (SIPVicious' `friendly-scanner` and the like) is dropped and
  its source banned: no answer at all, since any answer confirms a live SIP server;
- each source has a token bucket (`rate_per_s` sustained, `burst` at once); one that runs dry
  is dropped and, like a pike "hot" address, banned for `rate_ban_s`;
- `auth_failed` counts failed digest answers; `max_auth_failures` of them within
  `auth_window_s` ban the source for `auth_ban_s` (password guessing).

Memory is bounded: per-source state lives in an LRU table of at most `max_sources` entries,
idle entries (whose state has decayed back to nothing) leave as new ones arrive, and bans have
their own cap. IPv6 sources count per /64, the block one subscriber usually holds. Trusted
addresses (the trunks' allow-list) pass untouched.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

# User-Agents of SIP scanners and brute-forcers, as the Kamailio/OpenSIPS sample configs and
# the community blocklists (fail2ban, iptables string rules, policy servers) list them.
# Left out on purpose: `sipsak` and `sipp` (operators' own test tools; sipp runs our tests)
# and `Cisco`/`PortSIP`/`CSipSimple`, which some lists carry but real devices send.
KNOWN_SCANNERS: tuple[str, ...] = (
    "friendly-scanner",  # SIPVicious svmap/svwar/svcrack default
    "friendly-request",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sippts",  # Pepelux's audit suite
    "VaxSIPUserAgent",
    "VaxIPUserAgent",
    "pplsip",
    "sundayddr",
    "iWar",
    "SIVuS",
    "Gulp",
    "sipv",
    "smap",
    "VoIP SIP v11.0.0",
)


def scanner_pattern(agents: tuple[str, ...]) -> re.Pattern[str]:
    """Case-insensitive, each name as a whole word (so `smap` is not `mysmapp`)."""
    names = "|".join(re.escape(agent) for agent in sorted(agents, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{names})(?![a-z])", re.IGNORECASE)


def source_key(address: str) -> str:
    """The unit a limit counts: the address itself, an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d from a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class DropReason(StrEnum):
    BANNED = "banned"  # still serving a ban
    SCANNER = "scanner"
    RATE = "rate"
    AUTH_FAILURES = "auth_failures"


@dataclass(frozen=True, slots=True)
class Admit:
    pass


@dataclass(frozen=True, slots=True)
class Drop:
    """Drop silently (RFC 3261 gives scanners nothing to read)."""

    reason: DropReason
    until: float  # when the source may be heard again


ADMIT: Final = Admit()
_MAX_HOSTS: Final = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitsPolicy:
    rate_per_s: float = 30.0
    burst: float = 100.0  # a NATed office's phones re-registering at once fit in it
    rate_ban_s: float = 30.0  # 0: only drop what is over the rate
    max_auth_failures: int = 10
    auth_window_s: float = 60.0
    auth_ban_s: float = 900.0
    scanner_ban_s: float = 3600.0
    max_sources: int = 65_536
    max_bans: int = 65_536
    trusted: tuple[str, ...] = ()  # addresses or networks ("192.0.2.0/24")
    scanners: tuple[str, ...] = KNOWN_SCANNERS

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1 or self.auth_window_s <= 0:
            raise ValueError("rate_per_s, auth_window_s must be positive and burst at least 1")
        if self.max_auth_failures < 1 or self.max_sources < 1 or self.max_bans < 1:
            raise ValueError("max_auth_failures, max_sources and max_bans must be at least 1")


class _Source:
    """A source's counters (mutable, private: the decisions are what is shared). `failures`
    holds the times of the last `max_auth_failures` failures, made on the first one."""

    __slots__ = ("failures", "seen", "tokens")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.failures: deque[float] | None = None
        self.seen = now


class AbuseLimits:
    def __init__(self, policy: LimitsPolicy) -> None:
        self.policy = policy
        self._scanner = scanner_pattern(policy.scanners) if policy.scanners else None
        self._trusted = [ipaddress.ip_network(t, strict=False) for t in policy.trusted]
        self._sources: OrderedDict[str, _Source] = OrderedDict()  # least recently seen first
        self._bans: OrderedDict[str, Drop] = OrderedDict()  # oldest ban first
        # After this long unseen, a source's bucket is full and its failures are out of the
        # window: forgetting it changes no decision.
        self._idle_s = max(policy.burst / policy.rate_per_s, policy.auth_window_s)
        # host -> (trusted, source key): every request asks both, and parsing the address
        # twice (ipaddress) cost more than the rest of the decision. Bounded: a flood of
        # sources must not grow it, so it starts afresh when full (a miss only costs a parse).
        self._hosts: dict[str, tuple[bool, str]] = {}

    def _host(self, address: str) -> tuple[bool, str]:
        known = self._hosts.get(address)
        if known is None:
            if len(self._hosts) >= _MAX_HOSTS:
                self._hosts.clear()
            known = self._hosts[address] = (self._trusted_uncached(address), source_key(address))
        return known

    @property
    def tracked_sources(self) -> int:
        return len(self._sources)

    @property
    def banned_sources(self) -> int:
        return len(self._bans)

    def is_trusted(self, address: str) -> bool:
        return self._host(address)[0]

    def _trusted_uncached(self, address: str) -> bool:
        if not self._trusted:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def admit(self, source: str, user_agent: str | None, now: float) -> Admit | Drop:
        """Whether to process a request from `source` (an IP address) at `now`."""
        trusted, key = self._host(source)
        if trusted:
            return ADMIT
        ban = self._bans.get(key)
        if ban is not None:
            if now < ban.until:
                return Drop(DropReason.BANNED, ban.until)
            del self._bans[key]
        if user_agent and self._scanner is not None and self._scanner.search(user_agent):
            return self._ban(key, DropReason.SCANNER, now + self.policy.scanner_ban_s)
        state = self._touch(key, now)
        if state.tokens < 1 - 1e-9:  # float time: exactly-at-rate traffic must pass
            if self.policy.rate_ban_s > 0:
                return self._ban(key, DropReason.RATE, now + self.policy.rate_ban_s)
            return Drop(DropReason.RATE, now + (1 - state.tokens) / self.policy.rate_per_s)
        state.tokens -= 1
        return ADMIT

    def auth_failed(self, source: str, now: float) -> Drop | None:
        """Count a failed authentication; the `Drop` (and ban) when this one was too many.

        Only answers that were wrong count (`AuthFailure.counts_as_failure`): the first,
        credential-less request of every digest exchange and a stale nonce do not.
        """
        trusted, key = self._host(source)
        if trusted:
            return None
        p = self.policy
        state = self._touch(key, now)
        if state.failures is None:
            state.failures = deque(maxlen=p.max_auth_failures)
        state.failures.append(now)
        if len(state.failures) == p.max_auth_failures and now - state.failures[0] < p.auth_window_s:
            return self._ban(key, DropReason.AUTH_FAILURES, now + p.auth_ban_s)
        return None

    def sweep(self, now: float) -> None:
        """Forget idle sources and ended bans (admit does the same as it goes)."""
        self._evict_idle(now, limit=None)
        for key in [k for k, ban in self._bans.items() if ban.until <= now]:
            del self._bans[key]

    # -- internals ---------------------------------------------------------------------------

    def _touch(self, key: str, now: float) -> _Source:
        """The source's state brought up to `now` (tokens refilled)."""
        p = self.policy
        state = self._sources.get(key)
        if state is None:
            self._evict_idle(now, limit=2)
            state = self._sources[key] = _Source(p.burst, now)
            if len(self._sources) > p.max_sources:
                self._sources.popitem(last=False)  # the least recently seen gives way
            return state
        elapsed = max(0.0, now - state.seen)  # a clock that steps back refills nothing
        state.tokens = min(p.burst, state.tokens + elapsed * p.rate_per_s)
        state.seen = max(state.seen, now)
        self._sources.move_to_end(key)
        return state

    def _evict_idle(self, now: float, *, limit: int | None) -> None:
        # Least recently seen first, so the idle ones are at the front; `limit` keeps the
        # work per request constant (each new source pays for at most two old ones).
        evicted = 0
        while self._sources and (limit is None or evicted < limit):
            key, state = next(iter(self._sources.items()))
            if now - state.seen < self._idle_s:
                return
            del self._sources[key]
            evicted += 1

    def _ban(self, key: str, reason: DropReason, until: float) -> Drop:
        drop = Drop(reason, until)
        self._bans.pop(key, None)
        self._bans[key] = drop
        while len(self._bans) > self.policy.max_bans:
            self._bans.popitem(last=False)  # the oldest ban gives way
        self._sources.pop(key, None)  # a banned source's counters start afresh after
        return drop
