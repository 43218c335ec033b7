"""The error of a session description we cannot use. Interpreted, like every error module
(hatch_build.py): other layers read its class-level `code`, which compiled would become a
per-instance field."""

from __future__ import annotations

from helpline.core.errors import ClientError


class SdpError(ClientError):
    """A session description that cannot be used; `line` is the 1-based bad line (0: none).

    `status` is the SIP response for an offer that fails: 400 for a malformed body, 488 (Not
    Acceptable Here, RFC 3261 section 13.3.1.1) for a well-formed one we cannot accept."""

    code = "bad_sdp"

    def __init__(self, message: str, *, line: int = 0, text: str = "", status: int = 400) -> None:
        where = f"line {line} ({text!r}): " if line else ""
        super().__init__(where + message, details={"line": line, "text": text})
        self.line = line
        self.status = status
