"""/compat/callfire: see `helpline.api.compat`."""

from fastapi import APIRouter

router = APIRouter(prefix="/compat/callfire", include_in_schema=False)

__all__ = ["router"]
