"""The registrar for agents' SIP phones, sans-I/O (RFC 3261 section 10.3), time as an input.

An account's user name is `projectId_userId` (seed 000 Step 3d): tenant and agent. A REGISTER
runs the steps of section 10.3 in order and changes the account's bindings whole or not at
all. An agent comes online with its first binding and goes offline when the last one goes
(routing type 1, seed 000 Step 3a): `PhonePresenceChanged`, which the runtime turns into the
engine's `AgentPresenceChanged`. `register_request`/`handle_register` work on `Request`s.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from helpline.sip.auth import DigestAuthenticator, HA1Lookup, Unauthenticated
from helpline.sip.errors import SipParseError
from helpline.sip.fields import parse_name_addr
from helpline.sip.message import Request, Response, make_response
from helpline.sip.uri import parse_uri, uri_scheme

MAX_EXPIRES_VALUE: Final = 2**32 - 1  # RFC 3261 section 20.19


@dataclass(frozen=True, slots=True, kw_only=True)
class SipAccount:
    """Who a phone account belongs to; `username` is `{tenant_id}_{agent_id}`."""

    tenant_id: str
    agent_id: str

    @property
    def username(self) -> str:
        return account_username(self.tenant_id, self.agent_id)


def account_username(tenant_id: str, agent_id: str) -> str:
    """`projectId_userId` (seed 000 Step 3d). Ids may hold '_' themselves, so the name is
    never split: accounts are looked up by the whole name (see `AccountLookup`)."""
    return f"{tenant_id}_{agent_id}"


AccountLookup = Callable[[str], SipAccount | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactSpec:
    """One Contact value of a REGISTER: the URI and its raw `expires` and `q` params."""

    uri: str
    expires: str | None = None
    q: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterRequest:
    """The parts of a REGISTER the registrar reads, already authenticated as `username`."""

    username: str  # whom digest authentication proved the sender to be
    request_host: str  # the Request-URI's host: the domain (step 1)
    aor_user: str | None  # the To URI's user and host: the address-of-record (step 5)
    aor_host: str
    call_id: str
    cseq: int
    contacts: tuple[ContactSpec, ...] = ()
    wildcard: bool = False  # `Contact: *` (step 6)
    expires: str | None = None  # the Expires header, raw
    require: tuple[str, ...] = ()
    source: str = ""  # where it came from ("udp:203.0.113.5:5060"): send there behind NAT
    user_agent: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    username: str
    contact: str
    q: float | None
    expires_at: float
    call_id: str
    cseq: int
    registered_at: float
    source: str
    user_agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PhonePresenceChanged:
    """An agent's SIP phone presence: online with at least one live binding."""

    tenant_id: str
    agent_id: str
    online: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterReply:
    """What to answer (status, reason, extra header fields) and what changed."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    events: tuple[PhonePresenceChanged, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrarPolicy:
    domains: frozenset[str] = frozenset()  # empty: any domain (a single-domain deployment)
    min_expires: int = 60  # below this (but not 0): 423 Interval Too Brief
    max_expires: int = 3600  # above this: shortened (step 7 "MAY shorten")
    default_expires: int = 3600  # none asked for (step 7), or malformed (section 20.10)
    max_contacts: int = 10  # per account; the oldest binding makes room (a rebooted phone)
    supported: frozenset[str] = frozenset()  # option tags we implement (step 2)

    def __post_init__(self) -> None:
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")
        if self.max_contacts < 1:
            raise ValueError("max_contacts must be at least 1")
        for name in ("domains", "supported"):  # compared case-insensitively
            object.__setattr__(self, name, frozenset(v.lower() for v in getattr(self, name)))


_Q: Final = re.compile(r"(0(\.\d{0,3})?|1(\.0{0,3})?)")  # qvalue, RFC 3261 section 25.1


def _contact_key(uri: str) -> str:
    """The identity of a contact URI for step 7's comparison (section 19.1.4, simplified:
    scheme, user, password, host and port exactly, the host case-insensitively, and the
    parameters that must match when present)."""
    try:
        u = parse_uri(uri)
    except SipParseError:
        return uri
    params = ";".join(f"{k}={u.params.get(k)}" for k in ("transport", "user", "maddr", "ttl"))
    return f"{u.scheme}:{u.user}:{u.password}@{u.host}:{u.port};{params}"


def _expires(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        return default  # malformed: treated as the default (RFC 3261 section 20.10)
    return min(int(raw[:12]), MAX_EXPIRES_VALUE)


def _reply(status: int, reason: str, *headers: tuple[str, str]) -> RegisterReply:
    return RegisterReply(status=status, reason=reason, headers=headers)


class Registrar:
    """The bindings table of every account, keyed by user name then contact identity."""

    def __init__(self, policy: RegistrarPolicy, accounts: AccountLookup) -> None:
        self.policy = policy
        self._accounts = accounts
        self._table: dict[str, dict[str, Binding]] = {}
        self._online: dict[str, SipAccount] = {}  # accounts last announced online
        self._count = 0  # bindings in the table
        self._expiry: list[tuple[float, str, str]] = []  # (expires_at, username, key), lazy

    # -- REGISTER (RFC 3261 section 10.3) -----------------------------------------------------

    def register(self, request: RegisterRequest, now: float) -> RegisterReply:
        p, r = self.policy, request
        # Step 1: a domain we hold bindings for (we are no proxy to forward it on).
        if p.domains and r.request_host.lower() not in p.domains:
            return _reply(404, "Not Found")
        # Step 2: every extension the request requires must be ours (420 + Unsupported).
        unsupported = [tag for tag in r.require if tag.lower() not in p.supported]
        if unsupported:
            return _reply(420, "Bad Extension", ("Unsupported", ", ".join(unsupported)))
        # Step 3 ran before us (digest authentication). Step 4: an account registers only its
        # own address-of-record, checked before step 5 so nobody learns which others exist.
        if r.aor_user != r.username:
            return _reply(403, "Forbidden")
        # Step 5: the address-of-record must be a valid account in our domain.
        account = self._accounts(r.username)
        if account is None or (p.domains and r.aor_host.lower() not in p.domains):
            return _reply(404, "Not Found")
        self._expire(r.username, now)
        before = self._table.get(r.username, {})
        current = dict(before)
        # Step 6: `*` only alone and only with Expires: 0.
        if r.wildcard:
            if r.contacts or _expires(r.expires, -1) != 0:
                return _reply(400, "Bad Request")
            for key, binding in list(current.items()):
                if binding.call_id == r.call_id and r.cseq <= binding.cseq:
                    return _reply(400, "Bad Request")  # out of order: abort (step 6)
                del current[key]
            return self._commit(account, current, now)
        # Step 7: each contact's interval, then the Call-ID/CSeq check, all or nothing.
        for spec in r.contacts:
            if spec.q is not None and not _Q.fullmatch(spec.q):
                return _reply(400, "Bad Request")
            interval = _expires(spec.expires, _expires(r.expires, p.default_expires))
            if 0 < interval < p.min_expires:
                return _reply(423, "Interval Too Brief", ("Min-Expires", str(p.min_expires)))
            key = _contact_key(spec.uri)
            existing = before.get(key)  # the stored binding, not one this request just made
            if existing is not None and existing.call_id == r.call_id and r.cseq <= existing.cseq:
                return _reply(400, "Bad Request")  # an older or repeated CSeq: abort
            if interval == 0:
                current.pop(key, None)
                continue
            current[key] = Binding(
                username=r.username,
                contact=spec.uri,
                q=None if spec.q is None else float(spec.q),
                expires_at=now + min(interval, p.max_expires),
                call_id=r.call_id,
                cseq=r.cseq,
                registered_at=now,
                source=r.source,
                user_agent=r.user_agent,
            )
        while len(current) > p.max_contacts:  # the longest-registered gives way
            del current[min(current, key=lambda k: current[k].registered_at)]
        return self._commit(account, current, now)

    def _commit(
        self, account: SipAccount, bindings: dict[str, Binding], now: float
    ) -> RegisterReply:
        username = account.username
        stored = self._table.pop(username, {})
        self._count += len(bindings) - len(stored)
        if bindings:
            self._table[username] = bindings
        for key, binding in bindings.items():
            if stored.get(key) is not binding:  # new or renewed: its own expiry entry
                heapq.heappush(self._expiry, (binding.expires_at, username, key))
        self._compact()
        # Step 8: 200 OK listing every current binding with its remaining time.
        ordered = self._sorted(bindings.values())
        contacts = tuple(("Contact", self._contact_value(b, now)) for b in ordered)
        events = self._announce(account, online=bool(bindings))
        return RegisterReply(status=200, reason="OK", headers=contacts, events=events)

    # -- time ------------------------------------------------------------------------------

    def sweep(self, now: float) -> tuple[PhonePresenceChanged, ...]:
        """Remove every binding expired by `now`; offline events for accounts left empty."""
        events: list[PhonePresenceChanged] = []
        while self._expiry and self._expiry[0][0] <= now:
            _, username, _ = heapq.heappop(self._expiry)
            self._expire(username, now)
            account = self._online.get(username)
            if account is not None and username not in self._table:
                events.extend(self._announce(account, online=False))
        return tuple(events)

    def next_expiry(self) -> float | None:
        """When `sweep` next has work: the earliest expiry (may be a stale entry: harmless)."""
        return self._expiry[0][0] if self._expiry else None

    def _expire(self, username: str, now: float) -> None:
        """Drop the account's expired bindings (and the account's row once empty)."""
        bindings = self._table.get(username, {})
        for key in [k for k, b in bindings.items() if b.expires_at <= now]:
            del bindings[key]
            self._count -= 1
        if not bindings:
            self._table.pop(username, None)

    def _announce(self, account: SipAccount, *, online: bool) -> tuple[PhonePresenceChanged, ...]:
        """An event when `online` differs from what was last announced for the account, so
        the runtime hears each change once, whichever path (REGISTER, sweep) saw it."""
        if online == (account.username in self._online):
            return ()
        if online:
            self._online[account.username] = account
        else:
            del self._online[account.username]
        return (
            PhonePresenceChanged(
                tenant_id=account.tenant_id, agent_id=account.agent_id, online=online
            ),
        )

    def _compact(self) -> None:
        # Each refresh leaves the old heap entry behind; rebuild before they pile up.
        if len(self._expiry) > 4 * self._count + 64:
            self._expiry = [
                (b.expires_at, u, k) for u, bs in self._table.items() for k, b in bs.items()
            ]
            heapq.heapify(self._expiry)

    # -- queries and administration -----------------------------------------------------------

    def bindings(self, username: str, now: float) -> tuple[Binding, ...]:
        """Live bindings, most preferred first (highest q, then the newest)."""
        live = [b for b in self._table.get(username, {}).values() if b.expires_at > now]
        return tuple(self._sorted(live))

    def is_online(self, username: str, now: float) -> bool:
        return bool(self.bindings(username, now))

    def remove_account(self, username: str) -> tuple[PhonePresenceChanged, ...]:
        """Forget an account's bindings (account deleted or password changed)."""
        self._count -= len(self._table.pop(username, {}))
        account = self._online.get(username)
        return () if account is None else self._announce(account, online=False)

    @property
    def binding_count(self) -> int:
        return self._count

    @staticmethod
    def _sorted(bindings: Iterable[Binding]) -> list[Binding]:
        def rank(b: Binding) -> tuple[float, float, str]:  # an absent q ranks as 1.0
            return (-(1.0 if b.q is None else b.q), -b.registered_at, b.contact)

        return sorted(bindings, key=rank)

    @staticmethod
    def _contact_value(binding: Binding, now: float) -> str:
        remaining = max(1, round(binding.expires_at - now))
        q = "" if binding.q is None else f";q={binding.q:g}"
        return f"<{binding.contact}>;expires={remaining}{q}"


# -- over parsed messages ------------------------------------------------------------------------


def register_request(request: Request, *, username: str, source: str) -> RegisterRequest:
    """The registrar's view of a REGISTER; `SipParseError` (answer 400) for a bad To or
    Contact. `username` is the authenticated user name, `source` the transport address."""
    to = request.to.sip_uri
    contacts: list[ContactSpec] = []
    wildcard = False
    for value in request.headers.get_all("Contact"):
        if value.strip() == "*":
            wildcard = True
            continue
        contact = parse_name_addr(value, "Contact")
        if uri_scheme(contact.uri) not in ("sip", "sips"):
            raise SipParseError(f"a phone registers a sip: or sips: contact, not {contact.uri!r}")
        contacts.append(
            ContactSpec(
                uri=contact.uri, expires=contact.params.get("expires"), q=contact.params.get("q")
            )
        )
    # before, not inside, the call below: tests/test_mypyc_borrowing.py says why
    tokens = [t.strip() for v in request.headers.get_all("Require") for t in v.split(",")]
    require = tuple(t for t in tokens if t)
    return RegisterRequest(
        username=username,
        request_host=parse_uri(request.uri).host,
        aor_user=to.user,
        aor_host=to.host,
        call_id=request.call_id,
        cseq=request.cseq.number,
        contacts=tuple(contacts),
        wildcard=wildcard,
        expires=request.headers.get("Expires"),
        require=require,
        source=source,
        user_agent=request.headers.get("User-Agent") or "",
    )


def reply_response(request: Request, reply: RegisterReply, *, to_tag: str) -> Response:
    """The SIP response for a registrar reply (RFC 3261 section 8.2.6.2: To gets a tag)."""
    response = make_response(request, reply.status, reply.reason, to_tag=to_tag)
    for name, value in reply.headers:
        response.headers.add(name, value)
    return response


def handle_register(
    request: Request,
    *,
    registrar: Registrar,
    authenticator: DigestAuthenticator,
    lookup: HA1Lookup,
    source: str,
    now: float,
    entropy: bytes,
    to_tag: str,
) -> tuple[Response, RegisterReply | Unauthenticated]:
    """Authenticate (RFC 3261 section 10.3 step 3), then register; the response to send and
    the outcome (feed an `Unauthenticated` to the abuse limits, the events to the runtime)."""
    values = request.headers.lines("Authorization")
    outcome = authenticator.verify(
        values, method=request.method, uri=request.uri, now=now, lookup=lookup
    )
    if isinstance(outcome, Unauthenticated):
        response = make_response(request, 401, "Unauthorized", to_tag=to_tag)
        for challenge in authenticator.challenges(
            now=now, entropy=entropy, stale=outcome.reason.stale
        ):
            response.headers.add("WWW-Authenticate", challenge)
        return response, outcome
    try:
        parsed = register_request(request, username=outcome.username, source=source)
    except SipParseError:
        reply = _reply(400, "Bad Request")
    else:
        reply = registrar.register(parsed, now)
    return reply_response(request, reply, to_tag=to_tag), reply
