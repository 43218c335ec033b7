"""SIP digest authentication, sans-I/O (RFC 3261 section 22.4, RFC 7616, RFC 8760).

`DigestAuthenticator` issues challenges (SHA-256 and MD5, qop=auth) and verifies Authorization
values against stored HA1 hashes, never passwords (RFC 7616 section 5.2); `answer_challenge`
is the client side, for trunks. Nonces are stateless (issue time, entropy, HMAC under a server
secret), so the only state is the nonce-count replay window. Time, entropy and the secret are
inputs: nothing here reads a clock or draws randomness.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from helpline.core.errors import ClientError


class DigestAlgorithm(StrEnum):
    """The two algorithms offered (RFC 8760), each in its own challenge."""

    SHA256 = "SHA-256"
    MD5 = "MD5"

    @property
    def hex_length(self) -> int:
        return 64 if self is DigestAlgorithm.SHA256 else 32


def _h(algorithm: DigestAlgorithm, text: str) -> str:
    return hashlib.new(algorithm.value.replace("-", ""), text.encode("utf-8")).hexdigest()


def compute_ha1(algorithm: DigestAlgorithm, username: str, realm: str, password: str) -> str:
    """H(username:realm:password): what an account stores per realm and algorithm."""
    return _h(algorithm, f"{username}:{realm}:{password}")


def stored_ha1s(username: str, realm: str, password: str) -> dict[DigestAlgorithm, str]:
    """All an account keeps of its password: one HA1 per algorithm (RFC 7616 section 5.2)."""
    return {a: compute_ha1(a, username, realm, password) for a in DigestAlgorithm}


def compute_response(  # noqa: PLR0917 - the RFC's own order of the digest's inputs
    algorithm: DigestAlgorithm, ha1: str, nonce: str, nc: str, cnonce: str, method: str, uri: str
) -> str:
    """The qop=auth request-digest (RFC 7616 section 3.4.1, RFC 3261 section 22.4)."""
    ha2 = _h(algorithm, f"{method}:{uri}")
    return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")


# -- header grammar (RFC 3261 section 25.1, RFC 7235 section 2.1) ---------------------------


class DigestParseError(ClientError):
    """An Authorization or WWW-Authenticate value that does not parse; names the field."""

    code = "bad_digest"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}", details={"field": field_name})
        self.field = field_name


_TOKEN_CHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN = re.compile(_TOKEN_CHARS)
_PARAM = re.compile(  # name = token / quoted-string, then a comma or the end (RFC 7235 2.1)
    rf'[ \t,]*(?P<name>{_TOKEN_CHARS})[ \t]*=[ \t]*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"'
    rf"|(?P<token>{_TOKEN_CHARS}))[ \t]*(?:,|$)",
    re.DOTALL,
)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_SEPARATORS = re.compile(r"[ \t,]*")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """Split `Scheme p1=v1, p2="v 2"` into the scheme and lower-cased params.

    Params may come in any order, values as tokens or quoted strings with backslash escapes;
    unknown params are kept; a repeated param is an error (RFC 7616 section 3.4: each at most
    once), as is anything that is not `name=value` (an unterminated quoted string, say).
    """
    text = value.strip()
    match = _TOKEN.match(text)
    if match is None:
        raise DigestParseError("scheme", "missing authentication scheme")
    scheme, i, params = match.group(0), match.end(), {}
    while not _SEPARATORS.fullmatch(text, i):
        param = _PARAM.match(text, i)
        if param is None:
            bad = _TOKEN.match(text, _SEPARATORS.match(text, i).end())  # type: ignore[union-attr]
            where = bad.group(0).lower() if bad else "params"
            raise DigestParseError(where, f"not name=value or quoted string at offset {i}")
        name, i = param["name"].lower(), param.end()
        if name in params:
            raise DigestParseError(name, "given more than once")
        quoted = param["quoted"]
        params[name] = param["token"] if quoted is None else _UNESCAPE.sub(r"\1", quoted)
    return scheme, params


def _digest_params(value: str) -> dict[str, str]:
    scheme = _TOKEN.match(value.strip())
    if scheme is None or scheme.group(0).lower() != "digest":
        raise DigestParseError("scheme", "expected the Digest scheme")
    return parse_auth_params(value)[1]


def _algorithm(params: dict[str, str]) -> DigestAlgorithm:
    raw = params.get("algorithm", "MD5")  # absent means MD5 (RFC 7616 section 3.3)
    for algorithm in DigestAlgorithm:
        if raw.upper() == algorithm.value:
            return algorithm
    raise DigestParseError("algorithm", f"unsupported algorithm {raw!r}")


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """A parsed `Authorization`/`Proxy-Authorization` value (qop=auth only)."""

    username: str
    realm: str
    nonce: str
    uri: str
    cnonce: str
    response: str
    algorithm: DigestAlgorithm
    nc: str
    extra: dict[str, str] = field(default_factory=dict)  # params we do not use (opaque...)


_NC = re.compile(r"[0-9a-fA-F]{8}")
_QUOTED = ("username", "realm", "nonce", "uri", "cnonce")
_KNOWN = {*_QUOTED, "response", "algorithm", "nc", "qop"}


def parse_credentials(value: str) -> DigestCredentials:
    """Parse an Authorization value; `DigestParseError` names the missing or bad field."""
    params = _digest_params(value)
    for name in ("username", "realm", "nonce", "uri", "response", "qop", "cnonce", "nc"):
        if not params.get(name):
            raise DigestParseError(name, "missing")
    if params["qop"].lower() != "auth":  # we offer qop="auth" only, so only it can answer
        raise DigestParseError("qop", f"unsupported qop {params['qop']!r}")
    if not _NC.fullmatch(params["nc"]):
        raise DigestParseError("nc", "must be 8 hex digits")
    algorithm = _algorithm(params)
    response = params["response"].lower()
    if len(response) != algorithm.hex_length or not all(c in "0123456789abcdef" for c in response):
        raise DigestParseError("response", f"must be {algorithm.hex_length} hex digits")
    extra = {k: v for k, v in params.items() if k not in _KNOWN}
    username, realm, nonce, uri, cnonce = (params[k] for k in _QUOTED)
    nc = params["nc"].lower()
    return DigestCredentials(username, realm, nonce, uri, cnonce, response, algorithm, nc, extra)


# -- stateless nonces ------------------------------------------------------------------------

NONCE_ENTROPY_BYTES = 12
_MAC_BYTES = 16
_CLOCK_SKEW_S = 5.0  # a nonce "from the future" beyond this was not made here


def make_nonce(*, secret: bytes, realm: str, now: float, entropy: bytes) -> str:
    """Issue time (ms) + entropy + HMAC-SHA256 of both and the realm, base64url."""
    if len(entropy) != NONCE_ENTROPY_BYTES:
        raise ValueError(f"entropy must be {NONCE_ENTROPY_BYTES} bytes")
    body = int(now * 1000).to_bytes(8, "big", signed=True) + entropy
    mac = hmac.new(secret, body + realm.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac[:_MAC_BYTES]).decode("ascii").rstrip("=")


def nonce_issued_at(nonce: str, *, secret: bytes, realm: str) -> float | None:
    """The issue time of a nonce we made, or None for anything forged, truncated or foreign."""
    size = 8 + NONCE_ENTROPY_BYTES + _MAC_BYTES
    if len(nonce) != (size * 4 + 2) // 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    except ValueError:
        return None
    body, mac = raw[: size - _MAC_BYTES], raw[size - _MAC_BYTES :]
    expected = hmac.new(secret, body + realm.encode("utf-8"), hashlib.sha256).digest()
    if len(raw) != size or not hmac.compare_digest(mac, expected[:_MAC_BYTES]):
        return None
    return int.from_bytes(body[:8], "big", signed=True) / 1000


class _NonceCounts:
    """Replay window per nonce and user (RFC 7616 section 3.4: nc must not repeat). As IPsec's
    anti-replay window: the highest nc and a bitmask of the `window` below it, so reordered
    requests pass once each. Only right answers get an entry (no filling it without a
    password); capped anyway, least recently used out, expired entries out from the front."""

    def __init__(self, *, window: int, capacity: int) -> None:
        self._window, self._capacity = window, capacity
        self._seen: OrderedDict[str, tuple[float, int, int]] = OrderedDict()  # issued, top, mask

    def known(self, key: str) -> bool:
        return key in self._seen

    def accept(self, key: str, nc: int, issued_at: float, expired_before: float) -> bool:
        """Record `nc`; False when it was seen already or fell out of the window."""
        while self._seen and next(iter(self._seen.values()))[0] < expired_before:
            self._seen.popitem(last=False)
        _, top, mask = self._seen.get(key, (issued_at, 0, 0))
        if nc > top:
            shift = nc - top
            mask = ((mask << shift) | 1) & ((1 << self._window) - 1) if shift < self._window else 1
            top = nc
        elif top - nc >= self._window or mask >> (top - nc) & 1:
            return False
        else:
            mask |= 1 << (top - nc)
        self._seen[key] = (issued_at, top, mask)
        self._seen.move_to_end(key)
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True


# -- server side ------------------------------------------------------------------------------


class AuthFailure(Enum):
    """Why a request was not authenticated: for logs and the abuse limits, never the wire.
    Unknown user and wrong password are one value on purpose (issue 7 point 2)."""

    MISSING = "missing"  # no credentials: the normal first leg of the exchange
    MALFORMED = "malformed"
    WRONG_REALM = "wrong_realm"
    URI_MISMATCH = "uri_mismatch"
    BAD_NONCE = "bad_nonce"  # not one of ours (forged, truncated, from the future)
    FAILED = "failed"  # unknown user or wrong password
    STALE = "stale"  # right answer, expired nonce (or one whose count we no longer hold)
    REPLAY = "replay"  # right answer, nonce count already used

    @property
    def counts_as_failure(self) -> bool:  # for the abuse limits' failed-authentication count
        return self not in (AuthFailure.MISSING, AuthFailure.STALE)

    @property
    def stale(self) -> bool:
        """`stale=true` in the new challenge: the client may retry without asking its user."""
        return self in (AuthFailure.STALE, AuthFailure.REPLAY)


@dataclass(frozen=True, slots=True)
class Authenticated:
    username: str
    algorithm: DigestAlgorithm


@dataclass(frozen=True, slots=True)
class Unauthenticated:
    """Answer 401 (407 for a proxy) with fresh challenges, the same whatever the reason."""

    reason: AuthFailure  # `reason.stale`: send the new challenges with stale=true


AuthOutcome = Authenticated | Unauthenticated
# (username, realm, algorithm) -> stored HA1 hex, or None for no such account.
HA1Lookup = Callable[[str, str, DigestAlgorithm], str | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestPolicy:
    realm: str
    secret: bytes
    nonce_ttl_s: float = 300.0  # Kamailio's auth nonce_expire default
    # sipp 3.6 answers the first challenge and fails on SHA-256, so MD5 leads; Debian's baresip
    # 1.0 fails on any SHA-256 challenge and needs (MD5,) (tests/sip/test_sip_registrar_peers).
    algorithms: tuple[DigestAlgorithm, ...] = (DigestAlgorithm.MD5, DigestAlgorithm.SHA256)
    nc_window: int = 64
    max_tracked_nonces: int = 100_000

    def __post_init__(self) -> None:
        if len(self.secret) < 16 or not self.algorithms or self.nonce_ttl_s <= 0:
            raise ValueError("need a secret of 16 bytes or more, algorithms, nonce_ttl_s > 0")


def challenge_value(realm: str, nonce: str, algorithm: DigestAlgorithm, *, stale: bool) -> str:
    """One `WWW-Authenticate`/`Proxy-Authenticate` value (RFC 7616 section 3.3)."""
    value = f"Digest realm={_quoted(realm)}, nonce={_quoted(nonce)}, algorithm={algorithm}"
    return value + ', qop="auth"' + (", stale=true" if stale else "")


class DigestAuthenticator:
    """Challenges and verifies; holds only the nonce-count window."""

    def __init__(self, policy: DigestPolicy) -> None:
        self.policy = policy
        self._counts = _NonceCounts(window=policy.nc_window, capacity=policy.max_tracked_nonces)

    @property
    def tracked_nonces(self) -> int:
        return len(self._counts._seen)

    def challenges(self, *, now: float, entropy: bytes, stale: bool = False) -> tuple[str, ...]:
        """One challenge per algorithm, in the policy's order, sharing one nonce."""
        p = self.policy
        nonce = make_nonce(secret=p.secret, realm=p.realm, now=now, entropy=entropy)
        return tuple(challenge_value(p.realm, nonce, a, stale=stale) for a in p.algorithms)

    def verify(
        self, values: Sequence[str], *, method: str, uri: str | None, now: float, lookup: HA1Lookup
    ) -> AuthOutcome:
        """Verify a request's Authorization (or Proxy-Authorization) values.

        SIP sends one value per realm (RFC 3261 section 22.4): one for another realm is passed
        over; one that does not parse makes the request MALFORMED. `uri` is the Request-URI as
        sent, which the digest-uri must equal (RFC 7616 section 3.4.6); None skips that check.
        """
        ours: DigestCredentials | None = None
        for value in values:
            try:
                credentials = parse_credentials(value)
            except DigestParseError:
                return Unauthenticated(AuthFailure.MALFORMED)
            if credentials.realm == self.policy.realm:
                ours = credentials
        if ours is None:
            return Unauthenticated(AuthFailure.WRONG_REALM if values else AuthFailure.MISSING)
        return self._verify(ours, method, uri, now, lookup)

    def _verify(
        self, c: DigestCredentials, method: str, uri: str | None, now: float, lookup: HA1Lookup
    ) -> AuthOutcome:
        p = self.policy
        if c.algorithm not in p.algorithms:
            return Unauthenticated(AuthFailure.MALFORMED)
        if uri is not None and c.uri != uri:
            return Unauthenticated(AuthFailure.URI_MISMATCH)  # RFC 7616 section 3.4.6
        issued_at = nonce_issued_at(c.nonce, secret=p.secret, realm=p.realm)
        if issued_at is None or issued_at > now + _CLOCK_SKEW_S:
            return Unauthenticated(AuthFailure.BAD_NONCE)
        # One path for a missing account and a wrong password: a stand-in HA1 derived from
        # the secret goes through the same hashing and the same constant-time compare.
        stored = lookup(c.username, p.realm, c.algorithm)
        ha1 = stored if stored is not None else self._stand_in_ha1(c.username, c.algorithm)
        expected = compute_response(c.algorithm, ha1, c.nonce, c.nc, c.cnonce, method, c.uri)
        matches = hmac.compare_digest(expected.encode("ascii"), c.response.encode("ascii"))
        if not matches or stored is None:
            return Unauthenticated(AuthFailure.FAILED)
        # Only a right answer learns whether the nonce expired (RFC 7616 section 3.3, stale).
        nc, key = int(c.nc, 16), f"{c.username}\x00{c.nonce}"
        if now - issued_at > p.nonce_ttl_s:
            return Unauthenticated(AuthFailure.STALE)
        if nc != 1 and not self._counts.known(key):
            # A count we never saw start (a restart, or evicted): ask for a fresh nonce.
            return Unauthenticated(AuthFailure.STALE)
        if not self._counts.accept(key, nc, issued_at, now - p.nonce_ttl_s):
            return Unauthenticated(AuthFailure.REPLAY)
        return Authenticated(c.username, c.algorithm)

    def _stand_in_ha1(self, username: str, algorithm: DigestAlgorithm) -> str:
        key = f"stand-in:{self.policy.realm}:{username}".encode()
        digest = hmac.new(self.policy.secret, key, hashlib.sha256).hexdigest()
        return digest[: algorithm.hex_length]


# -- client side (trunks authenticating to a carrier) ----------------------------------------


def answer_challenge(
    challenge: str, *, username: str, password: str, method: str, uri: str, cnonce: str, nc: int
) -> str:
    """The Authorization value answering a WWW-Authenticate/Proxy-Authenticate value;
    `DigestParseError` for one we cannot answer (not Digest, MD5/SHA-256 and qop=auth)."""
    params = _digest_params(challenge)
    for name in ("realm", "nonce"):
        if name not in params:
            raise DigestParseError(name, "missing")
    if "auth" not in [q.strip().lower() for q in params.get("qop", "").split(",")]:
        raise DigestParseError("qop", "the challenge does not offer qop=auth")
    algorithm, realm, nonce, count = (
        _algorithm(params),
        params["realm"],
        params["nonce"],
        f"{nc:08x}",
    )
    ha1 = compute_ha1(algorithm, username, realm, password)
    response = compute_response(algorithm, ha1, nonce, count, cnonce, method, uri)
    quoted = {"username": username, "realm": realm, "nonce": nonce, "uri": uri}
    quoted |= {"response": response, "cnonce": cnonce}
    if "opaque" in params:  # returned unchanged (RFC 7616 section 3.4)
        quoted["opaque"] = params["opaque"]
    fields = [f"{k}={_quoted(v)}" for k, v in quoted.items()]
    return "Digest " + ", ".join([*fields, f"algorithm={algorithm}", "qop=auth", f"nc={count}"])
