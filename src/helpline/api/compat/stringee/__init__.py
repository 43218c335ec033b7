"""/compat/stringee: see `helpline.api.compat`."""

from fastapi import APIRouter

router = APIRouter(prefix="/compat/stringee", include_in_schema=False)

__all__ = ["router"]
