"""One error root for Helpline, split by whose fault it was.

`api/errors.py` maps these to HTTP in one place (ARCHITECTURE.md, style point 5):
`ClientError` subclasses are the caller's fault (4xx), `InternalError` is ours (500).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class HelplineError(Exception):
    """Root of every error Helpline raises on purpose."""

    code = "helpline_error"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class ClientError(HelplineError):
    """The request, event or document was wrong; the caller can fix it."""

    code = "bad_request"


class ConfigError(ClientError):
    """A center document is invalid. `path` names the bad field, e.g. `queues.q1.groups[0]`."""

    code = "invalid_config"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}", details={"path": path})
        self.path = path


class NotFound(ClientError):
    """An id that does not exist (in this tenant)."""

    code = "not_found"


class Conflict(ClientError):
    """The request is valid but clashes with the current state (e.g. hold a call that rings)."""

    code = "conflict"


class InternalError(HelplineError):
    """A bug of ours: an illegal state transition, a broken invariant."""

    code = "internal_error"


class IllegalTransition(InternalError):
    """A state machine was asked for a transition its table does not allow.

    The state is left unchanged (h11's `_state.py` does the same).
    """

    code = "illegal_transition"
