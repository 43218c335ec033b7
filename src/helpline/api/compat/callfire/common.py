"""What every /compat/callfire method shares: its parameters, the key, the error shape.

CallFire's Call Center Connect methods (seed 003; the per-method pages of CallFire's legacy
"Hosted Call Center API") take flat named parameters, `key` first: here each method is a path
(`/compat/callfire/storeAgentResponse`) that takes them as a query string, a form or a JSON
object, by GET or POST. Errors answer CallFire's REST shape
`{"ResourceException": {"HttpStatus": 400, "Message": "..."}}`, the message naming the bad
parameter.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from helpline.api.compat.common import RULE, dialable
from helpline.api.deps import app_state_of, resolve_principal
from helpline.api.errors import Forbidden, Unauthorized, VendorError, status_for
from helpline.api.state import AppState
from helpline.core.errors import HelplineError
from helpline.runtime.campaign_registry import Campaigns
from helpline.runtime.campaigns import TenantCampaigns

P = ParamSpec("P")

MAX_CONTACT_FIELDS = 50  # per number: what an agent's screen can show, not a document store
MAX_CONTACT_KEY = 100
MAX_CONTACT_VALUE = 1000


def fault(status: int, message: str) -> VendorError:
    body = {"ResourceException": {"HttpStatus": status, "Message": message}}
    return VendorError(status, body, message=message)


def validation_format(fields: list[dict[str, Any]]) -> JSONResponse:
    message = "; ".join(f"{f['path']}: {f['message']}" for f in fields) or "invalid request"
    return JSONResponse(fault(400, message).body, status_code=400)


def vendor_errors(
    handler: Callable[P, Awaitable[Response]],
) -> Callable[P, Awaitable[Response]]:
    """Helpline's errors (`NotFound`, `Conflict`, ...) answer in CallFire's shape."""

    @wraps(handler)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except VendorError:
            raise
        except HelplineError as error:
            status = status_for(error)
            if status >= 500:
                raise
            raise fault(status, error.message) from None

    return wrapped


class Params:
    """A method's parameters by name, checked one by one; errors name the parameter."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @classmethod
    async def read(cls, request: Request) -> Params:
        values: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        if body:
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind == "application/x-www-form-urlencoded":
                try:
                    values.update(parse_qsl(body.decode(), keep_blank_values=True))
                except (UnicodeDecodeError, ValueError):
                    raise fault(400, "the form is not valid UTF-8 URL encoding") from None
            else:
                try:
                    parsed = json.loads(body)
                except (ValueError, UnicodeDecodeError):
                    raise fault(400, "the body must be a JSON object or a form") from None
                if not isinstance(parsed, dict):
                    raise fault(400, "the body must be a JSON object or a form")
                values.update(parsed)
        return cls(values)

    def text(self, name: str, *, required: bool = True, limit: int = 200) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise fault(400, f"{name} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise fault(400, f"{name} must be a string")
        text = str(value)
        if len(text) > limit:
            raise fault(400, f"{name} is longer than {limit} characters")
        if "\x00" in text:
            raise fault(400, f"{name} may not contain NUL characters")
        return text

    def required(self, name: str, *, limit: int = 200) -> str:
        value = self.text(name, limit=limit)
        assert value is not None
        return value

    def integer(self, name: str, *, default: int | None = None, low: int = 0, high: int) -> int:
        value = self.values.get(name)
        if value is None or value == "":
            if default is None:
                raise fault(400, f"{name} is required")
            return default
        text = str(value).strip() if not isinstance(value, bool | float) else ""
        # ASCII digits only: int() also takes other scripts' digits ("٣") and underscores
        plain = text[1:] if text.startswith("-") else text
        number = int(text) if plain.isascii() and plain.isdigit() and len(plain) <= 19 else None
        if number is None or not low <= number <= high:
            raise fault(400, f"{name} must be a whole number from {low} to {high}")
        return number

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise fault(400, f"{name} must be true or false")

    def only(self, *names: str) -> None:
        """Refuse parameters the method does not take (a misspelt one would be lost)."""
        unknown = sorted(set(self.values) - {"key", *names})
        if unknown:
            raise fault(400, f"unknown parameter(s): {', '.join(unknown)}")

    def aliased(self, name: str, alias: str, *, limit: int = 200) -> str | None:
        """A text parameter that also goes by another name (`alias`); both: they must agree."""
        value = self.text(name, required=False, limit=limit)
        other = self.text(alias, required=False, limit=limit)
        if value is not None and other is not None and value != other:
            raise fault(400, f"{name} and {alias} are the same parameter: give one")
        return value if value is not None else other

    def numbers(self, name: str, *, required: bool) -> list[tuple[str, dict[str, str]]]:
        """Numbers to dial: a list of numbers or of objects with `number` and contact fields
        (shown to the agent), or one string of numbers separated by commas or spaces."""
        value = self.values.get(name)
        if value is None or value in ("", []):
            if required:
                raise fault(400, f"{name} is required")
            return []
        items: list[Any]
        if isinstance(value, str):
            items = [n for n in value.replace(",", " ").split() if n]
        elif isinstance(value, list):
            items = value
        else:
            raise fault(400, f"{name} must be a list of numbers")
        if len(items) > 10_000:
            raise fault(400, f"{name}: at most 10000 numbers at a time")
        found: list[tuple[str, dict[str, str]]] = []
        for index, item in enumerate(items):
            data: dict[str, str] = {}
            number = item
            if isinstance(item, dict):
                data = _contact(f"{name}[{index}]", item)
                number = item.get("number")
            if isinstance(number, int) and not isinstance(number, bool):
                number = str(number)
            dialled = dialable(number) if isinstance(number, str) else None
            if dialled is None:
                raise fault(400, f"{name}[{index}] is not {RULE}")
            found.append((dialled, data))
        return found


def _contact(where: str, item: dict[str, Any]) -> dict[str, str]:
    """A number's contact fields: flat, few and short (they are stored with every number)."""
    fields = {k: v for k, v in item.items() if k != "number"}
    if len(fields) > MAX_CONTACT_FIELDS:
        raise fault(400, f"{where}: at most {MAX_CONTACT_FIELDS} contact fields")
    data: dict[str, str] = {}
    for key, value in fields.items():
        if len(key) > MAX_CONTACT_KEY:
            raise fault(400, f"{where}: a contact field name is longer than {MAX_CONTACT_KEY}")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise fault(400, f"{where}.{key[:40]} must be text or a number")
        text = "" if value is None else str(value)
        if len(text) > MAX_CONTACT_VALUE:
            raise fault(400, f"{where}.{key[:40]} is longer than {MAX_CONTACT_VALUE} characters")
        data[key] = text
    return data


async def tenant_of(request: Request, params: Params) -> tuple[AppState, str]:
    """The tenant of the API key: `key=<key id>:<secret>`, or HTTP Basic as natively."""
    state = app_state_of(request.app)
    key = params.text("key", required=False)
    headers: dict[str, str] = dict(request.headers)
    if key is not None:
        token = base64.b64encode(key.encode()).decode()
        headers = {"authorization": f"Basic {token}"}
    try:
        who = await resolve_principal(headers, state)
    except Unauthorized:
        raise fault(
            401, "key is missing or invalid: give key=<API key id>:<secret> or HTTP Basic"
        ) from None
    if who.is_agent:
        raise fault(403, Forbidden("this needs a tenant API key, not an agent token").message)
    return state, who.tenant_id


async def campaigns_of(state: AppState, tenant_id: str) -> TenantCampaigns:
    return await Campaigns.of(state.hub, state.store.callfire).tenant(tenant_id)
