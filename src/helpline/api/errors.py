"""Errors to HTTP, in one place (ARCHITECTURE.md, style point 5).

Every error answers `{"error": {"code", "message", "details"}}`: validation 422 with the path
of each bad field, unknown ids 404, conflicts 409, bad credentials 401, forbidden 403.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


_STATUS: tuple[tuple[type[HelplineError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (ConfigError, 422),
    (Unauthorized, 401),
    (Forbidden, 403),
    (ClientError, 400),
)


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


def install(app: FastAPI) -> None:
    @app.exception_handler(HelplineError)
    async def helpline_error(request: Request, error: HelplineError) -> JSONResponse:
        status = status_for(error)
        if status >= 500:
            log.error("internal error on %s %s: %s", request.method, request.url.path, error)
        headers = {"WWW-Authenticate": 'Basic realm="helpline"'} if status == 401 else None
        return JSONResponse(
            error_body(error.code, error.message, error.details),
            status_code=status,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            {"path": _field_path(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
            for e in error.errors()
        ]
        message = "; ".join(f"{f['path']}: {f['message']}" for f in fields) or "invalid request"
        return JSONResponse(
            error_body("validation_error", message, {"fields": fields}), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            error.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred; it has been logged"),
            status_code=500,
        )
