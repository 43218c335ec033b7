"""/compat/stringee: the Stringee Programmable Contact Center (PCC) REST API (seed 000).

A business on Stringee PCC moves by changing `https://icc-api.stringee.com` to
`https://<helpline>/compat/stringee`: the same paths, parameters, JWT access tokens
(`X-STRINGEE-AUTH`) and `{"r": 0, ...}` answers, on the native engine and the tenant's one
center document. docs/compat.md maps each Stringee concept onto Helpline's.
"""

from fastapi import APIRouter

from helpline.api.compat.stringee import (
    agents,
    auth,
    callout,
    ivr,
    keypresses,
    numbers,
    queues,
    routing,
)
from helpline.api.compat.stringee.events import attach_all
from helpline.api.compat.stringee.replies import error_response, validation_response
from helpline.api.errors import register_error_format, register_validation_format

PREFIX = "/compat/stringee"

router = APIRouter(prefix=PREFIX, include_in_schema=False)
for _module in (auth.keys_router, numbers.router, ivr.router, queues.router, routing.router):
    router.include_router(_module)
router.include_router(agents.router)
router.include_router(callout.router)
router.include_router(keypresses.router)

register_validation_format(PREFIX + "/", validation_response)
register_error_format(PREFIX + "/", error_response)

__all__ = ["attach_all", "router"]
