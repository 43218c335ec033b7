"""/compat/alotech: see `helpline.api.compat`."""

from fastapi import APIRouter

router = APIRouter(prefix="/compat/alotech", include_in_schema=False)

__all__ = ["router"]
