"""/compat/alotech: Call Center Studio (Alo-Tech), seeds 001 and 002; see `helpline.api.compat`.

- `endpoint`: `GET /api/?function=login|click2call|reportsCDRLogs|softphone`
- `softphone`: the Generic Softphone SSO address, `GET /generic/sso/?tenant=...&session=...`
- `auth`, `click2call`, `cdr`, `params`: what the functions do
IVR call notifications (seed 002) are the engine's `notify` action (`core.ivr`), and the
hangup_url body is `runtime.hangup.hangup_fields`.
"""

from fastapi import APIRouter

from helpline.api.compat.alotech import endpoint, softphone

router = APIRouter(prefix="/compat/alotech", include_in_schema=False)
router.include_router(endpoint.router)
router.include_router(softphone.router)

__all__ = ["router"]
