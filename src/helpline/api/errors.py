"""Errors to HTTP, in one place (ARCHITECTURE.md, style point 5).

Every error answers `{"error": {"code", "message", "details"}}`: validation 422 with the path
of each bad field, unknown ids 404, conflicts 409, bad credentials 401, forbidden 403.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from helpline.core.errors import (
    ClientError,
    ConfigError,
    Conflict,
    HelplineError,
    NotFound,
)

log = logging.getLogger("helpline.api")


class Unauthorized(ClientError):
    code = "unauthorized"


class Forbidden(ClientError):
    code = "forbidden"


class VendorError(ClientError):
    """An error a compatibility API (`helpline.api.compat`) answers in its vendor's own shape:
    `body` is sent as is with `status` (e.g. Alo-Tech's `{"login": false, ...}` with 200)."""

    code = "vendor_error"

    def __init__(
        self, status: int, body: Any, *, message: str = "", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message or f"vendor error {status}")
        self.status = status
        self.body = body
        self.headers = headers


# A compatibility API answers a request that fails validation in its vendor's shape: its
# package registers a formatter for its path prefix (`register_validation_format`).
ValidationFormat = Callable[[list[dict[str, Any]]], "JSONResponse"]
_VALIDATION_FORMATS: dict[str, ValidationFormat] = {}


def register_validation_format(prefix: str, format_errors: ValidationFormat) -> None:
    """`format_errors` gets `[{"path", "message"}, ...]` for requests under `prefix`."""
    _VALIDATION_FORMATS[prefix] = format_errors


# ... and may answer every other error under its prefix in its vendor's shape too: the
# formatter gets the HTTP status, Helpline's error code and the message
ErrorFormat = Callable[[int, str, str], "JSONResponse"]
_ERROR_FORMATS: dict[str, ErrorFormat] = {}


def register_error_format(prefix: str, format_error: ErrorFormat) -> None:
    _ERROR_FORMATS[prefix] = format_error


def _error_format(request: Request) -> ErrorFormat | None:
    for prefix, format_error in _ERROR_FORMATS.items():
        if request.url.path.startswith(prefix):
            return format_error
    return None


_STATUS: tuple[tuple[type[HelplineError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (ConfigError, 422),
    (Unauthorized, 401),
    (Forbidden, 403),
    (ClientError, 400),
)


class ErrorDetail(BaseModel):
    code: str = Field(description="not_found, conflict, validation_error, unauthorized, ...")
    message: str
    details: dict[str, Any] = Field(
        description="validation errors: `fields`, the `path` and `message` of each bad field"
    )


class ErrorBody(BaseModel):
    """Every error answers this shape (issue 4, point 10)."""

    error: ErrorDetail


# documented on every route of the API, so `/openapi.json` describes the errors it answers
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "bad request, e.g. a cursor this API did not give"),
        (401, "missing or invalid credentials"),
        (403, "an agent token where a tenant API key is needed"),
        (404, "no such id in this tenant"),
        (409, "conflicts with the current state"),
        (422, "validation error: `details.fields` names the path of each bad field"),
    )
}


def status_for(error: HelplineError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _allowed_methods(request: Request) -> list[str]:
    """Every method `/openapi.json` lists for the request's path (RFC 9110: a 405's `Allow`).

    The router answers 405 with the methods of the one route it tried; a path often has more.
    As in OpenAPI, a path without parameters (`/v1/calls/callout`) wins over a template
    (`/v1/calls/{call_id}`).
    """
    paths = request.app.openapi().get("paths", {})
    matching = [t for t in paths if compile_path(t)[0].match(request.url.path)]
    literal = [t for t in matching if "{" not in t]
    methods = {m.upper() for t in literal or matching for m in paths[t] if m in _METHODS}
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(HelplineError)
    async def helpline_error(request: Request, error: HelplineError) -> JSONResponse:
        if isinstance(error, VendorError):
            return JSONResponse(error.body, status_code=error.status, headers=error.headers)
        status = status_for(error)
        if status >= 500:
            log.error("internal error on %s %s: %s", request.method, request.url.path, error)
        vendor = _error_format(request)
        if vendor is not None:
            return vendor(status, error.code, error.message)
        headers = {"WWW-Authenticate": 'Basic realm="helpline"'} if status == 401 else None
        details = error.details
        if isinstance(error, ConfigError):  # a bad center document: 422 like any validation
            single = {"path": error.path, "message": error.message.removeprefix(f"{error.path}: ")}
            details = {**details, "fields": details.get("errors") or [single]}
        return JSONResponse(
            error_body(error.code, error.message, details),
            status_code=status,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            {"path": _field_path(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
            for e in error.errors()
        ]
        for prefix, format_errors in _VALIDATION_FORMATS.items():
            if request.url.path.startswith(prefix):
                return format_errors(fields)
        message = "; ".join(f"{f['path']}: {f['message']}" for f in fields) or "invalid request"
        return JSONResponse(
            error_body("validation_error", message, {"fields": fields}), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            error.status_code, "http_error"
        )
        vendor = _error_format(request)
        if vendor is not None:
            return vendor(error.status_code, code, str(error.detail))
        headers = getattr(error, "headers", None)
        if error.status_code == 405:  # every method of the path, not just one route's
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return JSONResponse(
            error_body(code, str(error.detail)),
            status_code=error.status_code,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        vendor = _error_format(request)
        if vendor is not None:
            return vendor(500, "internal_error", "an unexpected error occurred; it has been logged")
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred; it has been logged"),
            status_code=500,
        )
