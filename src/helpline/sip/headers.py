"""SIP header fields: an ordered, case-insensitive multi-map (RFC 3261 section 7.3).

Header names compare case-insensitively and have compact forms (7.3.3, plus the IANA
registry's later ones). A field whose grammar is a comma list (`#element` in section 25) may
appear on several lines or as several comma-separated values on one line, and both mean the
same (7.3.1); `get_all` returns the values one by one either way. Fields that are not lists
(From, Call-ID, the authentication fields, Date...) may contain commas and are never split.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Final

# RFC 3261 7.3.3 and the IANA "Header Fields" registry's compact forms.
COMPACT_NAMES: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Spellings that title-casing would get wrong, and the common fields, so that what we send
# looks like what every other stack sends (names are case-insensitive anyway).
_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in (
        *COMPACT_NAMES.values(),
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Authentication-Info",
        "Authorization",
        "Call-Info",
        "CSeq",
        "Content-Disposition",
        "Content-Language",
        "Date",
        "Error-Info",
        "Expires",
        "In-Reply-To",
        "Max-Forwards",
        "MIME-Version",
        "Min-Expires",
        "Min-SE",
        "Organization",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Path",
        "Priority",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Require",
        "RAck",
        "Reason",
        "Record-Route",
        "Reply-To",
        "Require",
        "Retry-After",
        "Route",
        "RSeq",
        "Server",
        "Service-Route",
        "SIP-ETag",
        "SIP-If-Match",
        "Subscription-State",
        "Timestamp",
        "Unsupported",
        "User-Agent",
        "Warning",
        "WWW-Authenticate",
    )
}

# Fields whose RFC 3261 section 25 (or later RFC) grammar is a comma-separated list.
LIST_FIELDS: frozenset[str] = frozenset(
    name.lower()
    for name in (
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "History-Info",
        "In-Reply-To",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Path",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Reject-Contact",
        "Request-Disposition",
        "Require",
        "Route",
        "Service-Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    )
)


def canonical_name(name: str) -> str:
    """The conventional spelling of a header name; compact forms become the long form."""
    lowered = name.lower()
    if lowered in COMPACT_NAMES:
        return COMPACT_NAMES[lowered]
    return _CANONICAL.get(lowered, name)


# One list element: quoted-strings (with quoted-pairs) and <...> are opaque, commas outside
# them separate elements. An unterminated quote or bracket runs to the end of the value.
_LIST_ELEMENT: Final = re.compile(r'(?:"(?:[^"\\]|\\.)*(?:"|$)|<[^>]*(?:>|$)|[^,"<])+', re.S)
_BAD_NAME: Final = re.compile(r"[:\s]")


def split_list(value: str) -> list[str]:
    """Split a comma list, never inside a quoted-string, a quoted-pair or <...>.

    Empty elements are dropped: RFC 3261 7.3.1 lists are `#element`, and RFC 2616's `#` rule
    (which RFC 3261 borrows) allows null elements.
    """
    if '"' not in value:
        if "," not in value:  # one element (a Via, a Contact): the common case
            value = value.strip()
            return [value] if value else []
        if "<" not in value:  # nothing to respect: at C speed
            return [part.strip() for part in value.split(",") if part.strip()]
    return [part.strip() for part in _LIST_ELEMENT.findall(value) if part.strip()]


def _check_field(name: str, value: str) -> None:
    """Refuse what would break the framing when serialized (header injection)."""
    if not name or _BAD_NAME.search(name) or "\r" in value or "\n" in value:
        raise ValueError(f"invalid header field {name!r}: {value!r}")


@lru_cache(maxsize=1024)
def _key(name: str) -> str:
    """The lookup key of a header name: long form, lower case."""
    return canonical_name(name).lower()


# (lookup key, conventional spelling) by header name as it came off the wire; a plain dict
# (the parser looks up every field line), bounded like an lru_cache would be
_NAMES: dict[str, tuple[str, str]] = {}
_MAX_NAMES: Final = 1024
# the same for names given to `add`, once `_check_field` has accepted them
_ADDED: dict[str, tuple[str, str]] = {}


def _key_and_name(name: str) -> tuple[str, str]:
    names = _NAMES.get(name)
    if names is None:
        canonical = canonical_name(name)
        names = (canonical.lower(), canonical)
        if len(_NAMES) < _MAX_NAMES:  # a peer inventing names must not grow it for ever
            _NAMES[name] = names
    return names


class Headers:
    """Header fields in wire order; lookups ignore case and compact forms.

    Lookups go through an index (key -> values in order) built on the first lookup and
    dropped on every change: a parsed message is read many times (the parser's checks, the
    transaction layer, the TU) and changed rarely, so each read is one dict lookup instead of
    a scan of every field. The index holds tuples, not lists: a tuple of strings (and then a
    dict of them) is left out of the garbage collector's scans, a list never is, and the
    messages of the calls of the last 32 s are kept for retransmissions (RFC 3261 17.2.2,
    Timer J): with lists, ten a message, they were most of the objects every full
    collection walked (bench/README.md, `bench_sip.py`).
    """

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str, str]] = []  # (key, name as sent, value)
        self._index: dict[str, tuple[str, ...]] | None = None
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def from_parsed(cls, fields: Iterable[tuple[str, str]]) -> Headers:
        """For the parser: names already checked to be tokens, values free of CR and LF."""
        headers = cls()
        known, names = _NAMES.get, _key_and_name
        headers._fields = [(*(known(name) or names(name)), value) for name, value in fields]
        return headers

    def by_key(self) -> Mapping[str, tuple[str, ...]]:
        """Every line's value by lookup key (long form, lower case: "call-id"), in order, not
        split at commas: for the parser's checks, which read every field once. Read only."""
        return self._index or self._lookup()

    def _lookup(self) -> dict[str, tuple[str, ...]]:
        index = self._index
        if index is None:
            index = {}
            for key, _, value in self._fields:
                values = index.get(key)
                index[key] = (value,) if values is None else (*values, value)
            self._index = index
        return index

    def add(self, name: str, value: str) -> None:
        """Append a field line (after any existing ones of the same name)."""
        names = _ADDED.get(name)  # every response copies five fields: names recur
        if names is None or "\r" in value or "\n" in value:
            _check_field(name, value)
            names = (_key(name), canonical_name(name))
            if len(_ADDED) < _MAX_NAMES:
                _ADDED[name] = names
        self._fields.append((*names, value))
        self._index = None

    def set(self, name: str, value: str) -> None:
        """Replace every line of `name` by one, kept where the first one was."""
        _check_field(name, value)
        key = _key(name)
        self._index = None
        for position, field in enumerate(self._fields):
            if field[0] == key:
                self._fields[position] = (key, canonical_name(name), value)
                self._fields[position + 1 :] = [
                    f for f in self._fields[position + 1 :] if f[0] != key
                ]
                return
        self.add(name, value)

    def set_first(self, name: str, value: str) -> None:
        """Replace the first value of a list field in place (the top Via, say), keeping the
        others, even those sharing its line; adds the field if it is absent."""
        key = _key(name)
        for position, (existing, spelled, line) in enumerate(self._fields):
            if existing == key:
                rest = split_list(line)[1:] if key in LIST_FIELDS else []
                _check_field(name, value)
                self._fields[position] = (key, spelled, ", ".join([value, *rest]))
                self._index = None
                return
        self.add(name, value)

    def remove(self, name: str) -> None:
        key = _key(name)
        self._fields = [field for field in self._fields if field[0] != key]
        self._index = None

    def lines(self, name: str) -> list[str]:
        """The raw values of every line of `name`, not split at commas."""
        values = (self._index or self._lookup()).get(_key(name))
        return [] if values is None else list(values)

    def count(self, name: str) -> int:
        """How many lines of `name` there are."""
        values = (self._index or self._lookup()).get(_key(name))
        return 0 if values is None else len(values)

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`; list fields are split at their top-level commas."""
        key = _key(name)
        values = (self._index or self._lookup()).get(key)
        if values is None:
            return []
        if key in LIST_FIELDS:
            return [part for value in values for part in split_list(value)]
        return list(values)

    def get(self, name: str) -> str | None:
        """The first value of `name` (the topmost Via, say), or None."""
        key = _key(name)
        values = (self._index or self._lookup()).get(key)
        if values is None:
            return None
        if key not in LIST_FIELDS:
            return values[0]
        for value in values:
            parts = split_list(value)
            if parts:
                return parts[0]
        return None

    def copy(self) -> Headers:
        copy = Headers()
        copy._fields = list(self._fields)
        return copy

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return _key(name) in (self._index or self._lookup())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter([(name, value) for _, name, value in self._fields])

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k, v) for k, _, v in self._fields] == [(k, v) for k, _, v in other._fields]

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"
