"""/compat/ccai: the Google CCAI Platform (UJET) APIs of seed 004, on the native engine.

- `GET apps/api/v1/wait_times`: estimated wait per queue menu (`wait_times.py`);
- `POST apps/api/v1/calls` (and the sample's `manager/api/v1/calls/instantcall`): the
  Callback Call API; `GET .../calls/{id}`: that call now (`calls.py`, `call_object.py`);
- `GET manager/api/v1/menus[/{id}]`: queue menus with materialized paths, and
  `GET manager/api/v1/mobile_apps`: multiple mobile apps and their access points
  (`menus.py`; both are configuration in the center document, `helpline.config.menus`).

Authentication is the seed's: HTTP Basic with the company key and secret, which are a Helpline
tenant API key id and secret (`helpline key create`). Errors answer Helpline's shape (the seed
documents none), naming the bad parameter.
"""

from fastapi import APIRouter

from helpline.api.compat.ccai import calls, menus, wait_times

router = APIRouter(prefix="/compat/ccai", include_in_schema=False)
router.include_router(wait_times.router)
router.include_router(calls.router)
router.include_router(menus.router)

__all__ = ["router"]
