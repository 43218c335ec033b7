"""What the vendor APIs (issue 5) share: one check of a phone number to dial.

Every vendor takes numbers from a CRM, written as its users typed them: "0507 130 30 66",
"+1 (415) 555-0100". `dialable` is the one rule the four APIs apply to a number Helpline is
asked to dial or to show as caller id: the spaces, dots, dashes and brackets dropped, what is
left is an optional leading `+` and 3 to 40 digits, `*` or `#` (the shortest real numbers are
three digits: 112, 911; DTMF `*` and `#` for extensions). CCAI additionally wants E.164 for
the end user (its seed's examples are E.164): `is_e164`.
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"[\s().-]")
_DIALABLE = re.compile(r"\+?[0-9*#]{3,40}")
_E164 = re.compile(r"\+?[1-9][0-9]{6,14}")  # E.164: up to 15 digits, the "+" optional
RULE = "a phone number: an optional +, then 3 to 40 digits, * or #"


def dialable(value: str) -> str | None:
    """The number as the carrier takes it, or None when `value` is not a phone number."""
    if len(value) > 80:
        return None
    number = _PUNCTUATION.sub("", value)
    return number if _DIALABLE.fullmatch(number) else None


def is_e164(value: str) -> bool:
    return _E164.fullmatch(value) is not None
