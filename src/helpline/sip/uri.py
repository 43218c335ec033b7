"""SIP and SIPS URIs (RFC 3261 sections 19.1 and 25.1), with %-escaping handled.

Components are kept unescaped, so `sip:%61lice@x` and `sip:alice@x` parse to equal values
(19.1.4: an escaped character equals its unescaped form), and `str()` escapes whatever the
component's grammar does not allow literally (19.1.2: %00 stays a NUL, never a truncation).
Other schemes (tel:, http:, im:...) are valid in header fields, so `is_absolute_uri` checks
their generic syntax while `parse_uri` raises 416 for them.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import unquote_to_bytes

from helpline.core.plain import freeze_interpreted
from helpline.sip.errors import SipParseError

_ALPHANUM: Final = string.ascii_letters + string.digits
_UNRESERVED: Final = _ALPHANUM + "-_.!~*'()"
USER_CHARS: Final = frozenset(_UNRESERVED + "&=+$,;?/")
PASSWORD_CHARS: Final = frozenset(_UNRESERVED + "&=+$,")
PARAM_CHARS: Final = frozenset(_UNRESERVED + "[]/:&+$")
HEADER_CHARS: Final = frozenset(_UNRESERVED + "[]/?:+$")

_MUST_MATCH_PARAMS: Final = frozenset({"user", "ttl", "method", "maddr", "transport"})
_HOSTNAME: Final = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?"
)
_IPV6_REFERENCE: Final = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# RFC 2396 absoluteURI as RFC 3261 25.1 uses it: scheme ":" then uric characters.
_ABSOLUTE_URI: Final = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*:([A-Za-z0-9;/?:@&=+$,\-_.!~*'()]|%[0-9A-Fa-f]{2})+"
)


@lru_cache(maxsize=16)
def _component(allowed: frozenset[str]) -> re.Pattern[str]:
    """`*( allowed / escaped )` as one regular expression (escaped = "%" HEXDIG HEXDIG)."""
    chars = "".join(sorted(allowed)).replace("\\", "\\\\").replace("]", "\\]")
    chars = chars.replace("[", "\\[").replace("^", "\\^").replace("-", "\\-")
    return re.compile(f"(?:[{chars}]|%[0-9A-Fa-f]{{2}})*")


def unescape(text: str, allowed: frozenset[str], what: str) -> str:
    """Decode %HH escapes, refusing characters the component may not hold literally."""
    if not _component(allowed).fullmatch(text):
        raise SipParseError(f"bad character or %-escape in URI {what}: {text!r}")
    if "%" not in text:
        return text
    # Escapes may encode any octet; surrogateescape keeps a non-UTF-8 octet round-trippable.
    return unquote_to_bytes(text).decode("utf-8", errors="surrogateescape")


def escape(text: str, allowed: frozenset[str]) -> str:
    """%-escape every octet of `text` that `allowed` does not list (always '%' itself)."""
    parts: list[str] = []
    for char in text:
        if char in allowed:
            parts.append(char)
        else:
            parts.extend(f"%{octet:02X}" for octet in char.encode("utf-8", "surrogateescape"))
    return "".join(parts)


def is_absolute_uri(text: str) -> bool:
    """Whether `text` is a syntactically valid absoluteURI of any scheme."""
    return _ABSOLUTE_URI.fullmatch(text) is not None


def uri_scheme(text: str) -> str | None:
    """The lower-cased scheme of `text`, or None if it has none."""
    if text.startswith("sip:"):
        return "sip"
    scheme, colon, _ = text.partition(":")
    if colon and _SCHEME.fullmatch(scheme):
        return scheme.lower()
    return None


@dataclass(init=False, unsafe_hash=True)
class SipUri:
    """A parsed sip: or sips: URI; host and parameter names are lower-cased (19.1.4)."""

    scheme: Final[str]
    user: Final[str | None]
    password: Final[str | None]
    host: Final[str]
    port: Final[int | None]
    params: Final[dict[str, str | None]]
    headers: Final[dict[str, str]]

    def __init__(  # noqa: PLR0917 (the URI's parts in the order it is written)
        self,
        scheme: str,
        user: str | None,
        password: str | None,
        host: str,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = {} if params is None else params
        self.headers = {} if headers is None else headers

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def equivalent(self, other: SipUri) -> bool:
        """URI equality as RFC 3261 19.1.4 defines it (not the dataclass's field equality):
        user and password case-sensitive, host case-insensitive, an explicit port never equal
        to an absent one; user, ttl, method, maddr and transport must agree when either URI
        has them, other parameters only when both do (case-insensitively); headers all."""
        if (self.scheme, self.user, self.password, self.host, self.port) != (
            other.scheme,
            other.user,
            other.password,
            other.host,
            other.port,
        ):
            return False
        mine = {k: v.lower() if v else v for k, v in self.params.items()}
        theirs = {k: v.lower() if v else v for k, v in other.params.items()}
        for name in mine.keys() | theirs.keys():
            both = name in mine and name in theirs
            if (both or name in _MUST_MATCH_PARAMS) and mine.get(name, "") != theirs.get(name, ""):
                return False
        return self.headers == other.headers

    def with_params(self, **params: str | None) -> SipUri:
        """A copy with parameters added or replaced (None value: a flag parameter)."""
        return SipUri(
            self.scheme,
            self.user,
            self.password,
            self.host,
            self.port,
            {**self.params, **params},
            dict(self.headers),
        )

    def __str__(self) -> str:
        text = f"{self.scheme}:"
        if self.user is not None:
            text += escape(self.user, USER_CHARS)
            if self.password is not None:
                text += ":" + escape(self.password, PASSWORD_CHARS)
            text += "@"
        text += self.hostport
        for name, value in self.params.items():
            text += ";" + escape(name, PARAM_CHARS)
            if value is not None:
                text += "=" + escape(value, PARAM_CHARS)
        if self.headers:
            text += "?" + "&".join(
                f"{escape(name, HEADER_CHARS)}={escape(value, HEADER_CHARS)}"
                for name, value in self.headers.items()
            )
        return text


# Parsed from every message's request URI, From, To and Contact: a native class (built in C
# when compiled, `core/plain.py` says why), as read-only as a frozen dataclass.
freeze_interpreted(SipUri)


def parse_host(text: str) -> tuple[str, int | None]:
    """`host [":" port]` (RFC 3261 25.1 hostport); the host lower-cased."""
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[: end + 1], text[end + 1 :]
        if end < 0 or not _IPV6_REFERENCE.fullmatch(host):
            raise SipParseError(f"bad IPv6 reference: {text!r}")
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if not _HOSTNAME.fullmatch(host):
            raise SipParseError(f"bad host: {text!r}")
    if not rest:
        return host.lower(), None
    port_text = rest[1:]
    if not rest.startswith(":") or not port_text.isascii() or not port_text.isdigit():
        raise SipParseError(f"bad port: {text!r}")
    port = int(port_text) if len(port_text) <= 6 else 65536  # never int() a huge string
    if port > 65535:
        raise SipParseError(f"port out of range: {text!r}")
    return host.lower(), port


def parse_uri(text: str) -> SipUri:
    """Parse a sip:/sips: URI; another scheme raises SipParseError with status 416."""
    scheme = uri_scheme(text)
    if scheme is None:
        raise SipParseError(f"not a URI: {text!r}")
    if scheme not in ("sip", "sips"):
        raise SipParseError(f"unsupported URI scheme {scheme!r}", 416)
    rest = text[len(scheme) + 1 :]
    user = password = None
    if "@" in rest:
        userinfo, _, rest = rest.partition("@")
        raw_user, colon, raw_password = userinfo.partition(":")
        if not raw_user:
            raise SipParseError(f"empty user in URI: {text!r}")
        user = unescape(raw_user, USER_CHARS, "user")
        if colon:
            password = unescape(raw_password, PASSWORD_CHARS, "password")
    rest, question, header_text = rest.partition("?")
    hostport, *param_texts = rest.split(";")
    host, port = parse_host(hostport)
    params: dict[str, str | None] = {}
    for param in param_texts:
        raw_name, equals, raw_value = param.partition("=")
        if not raw_name or (equals and not raw_value):
            raise SipParseError(f"empty URI parameter in {text!r}")
        name = unescape(raw_name, PARAM_CHARS, "parameter").lower()
        params[name] = unescape(raw_value, PARAM_CHARS, "parameter") if equals else None
    headers: dict[str, str] = {}
    if question:
        for header in header_text.split("&"):
            raw_name, equals, raw_value = header.partition("=")
            if not raw_name or not equals:
                raise SipParseError(f"bad URI header {header!r} in {text!r}")
            name = unescape(raw_name, HEADER_CHARS, "header name")
            headers[name] = unescape(raw_value, HEADER_CHARS, "header value")
    return SipUri(scheme, user, password, host, port, params, headers)
