"""Query-string parameters of the Alo-Tech API (seeds 001 and 002), read and checked.

Every function of `/api/?function=...` takes its parameters from the query string (the seeds'
"Method: Get"). A parameter that is missing or malformed and has no failure body documented by
the seeds answers 400 in Helpline's own shape, naming the parameter (`details.field`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from helpline.api.compat.common import RULE, dialable
from helpline.core.errors import ClientError
from helpline.core.ivr import call_date

# seed 002 reportsCDRLogs: `startdate= 2019-12-18%2001:00:00` (UTC, as `calldate` is)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_DATE_FORMATS = (DATE_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


class BadParameter(ClientError):
    """A query parameter that is missing or malformed: 400 naming it."""

    code = "invalid_parameter"

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}", details={"field": name})


def text(
    query: Mapping[str, str], name: str, *, max_length: int = 200, required: bool = False
) -> str | None:
    """The parameter's value with surrounding blanks removed; None when absent or blank."""
    raw = query.get(name)
    value = raw.strip() if raw is not None else ""
    if not value:
        if required:
            raise BadParameter(name, "is required")
        return None
    if len(value) > max_length:
        raise BadParameter(name, f"at most {max_length} characters")
    if "\x00" in value:
        raise BadParameter(name, "may not contain NUL characters")
    return value


def required(query: Mapping[str, str], name: str, *, max_length: int = 200) -> str:
    value = text(query, name, max_length=max_length, required=True)
    assert value is not None
    return value


def phone_number(query: Mapping[str, str], name: str) -> str:
    """A number to dial: digits, `+`, `*`, `#`; spaces, dots, dashes and brackets dropped."""
    value = dialable(required(query, name, max_length=80))  # the rule all vendors share
    if value is None:
        raise BadParameter(name, RULE)
    return value


def http_url(query: Mapping[str, str], name: str) -> str | None:
    """An absolute http(s) URL, or None when absent."""
    value = text(query, name, max_length=2000)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadParameter(name, "an absolute http:// or https:// URL")
    return value


def date(query: Mapping[str, str], name: str) -> float:
    """A `YYYY-MM-DD HH:MM:SS` date in UTC, as epoch seconds."""
    value = required(query, name, max_length=40)
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=UTC).timestamp()
    raise BadParameter(name, f"a date as YYYY-MM-DD HH:MM:SS (UTC), not {value!r}")


def format_date(at: float | None) -> str | None:
    """Epoch seconds as the seeds write dates (`2020-02-24 19:07:34`, UTC); None stays None."""
    return None if at is None else call_date(at)
