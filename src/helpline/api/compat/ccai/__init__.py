"""/compat/ccai: see `helpline.api.compat`."""

from fastapi import APIRouter

router = APIRouter(prefix="/compat/ccai", include_in_schema=False)

__all__ = ["router"]
