"""Stringee's answer shapes: `{"r": 0, "project": 246, "message": ..., ...}`.

Every PCC REST answer carries a result code `r` (0 is success) and a message; a create adds
the new id (`agentID`, `queueID`, ...), a list adds `data` with the totals and one page of
items (`{"totalCount": "1", "totalPages": 1, "currentPage": 1, "limit": 50, "groupRoutings":
[...]}`; the total is a string, as Stringee sends it). Stringee documents no table of
failure codes, so Helpline's are its own (docs/compat.md lists them), always with a message
that names the bad parameter, and an HTTP status that says the same (Stringee answers most
failures with 200; a client that reads `r` sees no difference).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi.responses import JSONResponse

from helpline.api.errors import VendorError

R_OK = 0
R_INVALID = 1  # a missing or wrong parameter (HTTP 400)
R_CONFLICT = 2  # exists already, or still in use (HTTP 409)
R_NOT_FOUND = 3  # no such id in this project (HTTP 404)
R_UNAUTHORIZED = 4  # no token, a bad or expired token, an unknown key (HTTP 401)
R_FORBIDDEN = 5  # a token that may not do this (an agent's token on the REST API) (HTTP 403)
R_ERROR = 6  # anything else

_R_BY_STATUS = {
    400: R_INVALID,
    422: R_INVALID,
    409: R_CONFLICT,
    404: R_NOT_FOUND,
    405: R_INVALID,
    401: R_UNAUTHORIZED,
    403: R_FORBIDDEN,
}

DEFAULT_LIMIT = 50  # Stringee's lists answer 50 a page unless asked otherwise
MAX_LIMIT = 100


def seconds(value: Any) -> Any:
    """A duration as Stringee writes it: whole seconds as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def success(project_id: int, message: str, **fields: Any) -> dict[str, Any]:
    return {"r": R_OK, "project": project_id, "message": message, **fields}


def failure(status: int, message: str, r: int | None = None) -> VendorError:
    """An error to raise: answered as `{"r": ..., "message": ...}` with `status`."""
    code = r if r is not None else _R_BY_STATUS.get(status, R_ERROR)
    return VendorError(status, {"r": code, "message": message}, message=message)


def invalid(field: str, problem: str) -> VendorError:
    return failure(400, f"{field}: {problem}")


def not_found(what: str, field: str, value: str) -> VendorError:
    return failure(404, f"{field}: {what} {value!r} not found")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """Any Helpline error under /compat/stringee, in Stringee's shape (`register_error_format`)."""
    return JSONResponse({"r": _R_BY_STATUS.get(status, R_ERROR), "message": message}, status)


def validation_response(fields: list[dict[str, Any]]) -> JSONResponse:
    """A request FastAPI could not validate: each bad field by its Stringee name."""
    parts = []
    for field in fields:
        path = str(field["path"]).removeprefix("body.").removeprefix("query.")
        parts.append(f"{path}: {field['message']}")
    return JSONResponse({"r": R_INVALID, "message": "; ".join(parts) or "invalid request"}, 400)


def paged(
    project_id: int,
    message: str,
    *,
    items: list[dict[str, Any]],
    items_key: str,
    total_key: str,
    page: int,
    limit: int,
) -> dict[str, Any]:
    """One page of a list, in Stringee's `data` shape."""
    total = len(items)
    start = (page - 1) * limit
    return success(
        project_id,
        message,
        data={
            total_key: str(total),
            "totalPages": max(1, math.ceil(total / limit)),
            "currentPage": page,
            "limit": limit,
            items_key: items[start : start + limit],
        },
    )
