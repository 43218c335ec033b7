"""Drop-in vendor APIs (issue 5): each seed's API under `/compat/<vendor>`, on the native engine
and store. A business moves to Helpline by changing a base URL.

- `stringee`: Stringee PCC (seed 000)
- `alotech`: Call Center Studio / Alo-Tech (seeds 001, 002)
- `callfire`: CallFire Call Center Connect (seed 003)
- `ccai`: Google CCAI Platform (seed 004)

These routes answer in the vendor's shapes and are left out of `/openapi.json` (that schema is
Helpline's own API); `docs/compat.md` maps each vendor concept onto Helpline's.
"""

from fastapi import APIRouter

from helpline.api.compat import alotech, callfire, ccai, stringee

ROUTERS: tuple[APIRouter, ...] = (stringee.router, alotech.router, callfire.router, ccai.router)

__all__ = ["ROUTERS"]
