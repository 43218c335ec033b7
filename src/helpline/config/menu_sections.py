"""The two sections `config.menus` adds to the center document (seed 004), on their own.

A model of `menus` and `mobile_apps` only, for readers that need no more of the document
(the CCAI menu tree, the stored document's normalization). Its collections take a list or a
mapping keyed by `id` / `name` through the center document's own `_keyed`, so both read a
document the same way. A module apart because `config.schema` imports `config.menus`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

from helpline.config.menus import MenuDoc, MobileAppDoc
from helpline.config.schema import _keyed


class MenuSections(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    menus: Annotated[list[MenuDoc], _keyed("id")] = []
    mobile_apps: Annotated[list[MobileAppDoc], _keyed("name")] = []

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> MenuSections:
        """The sections of a center document (absent or empty: none)."""
        return cls.model_validate(
            {key: document.get(key) or [] for key in ("menus", "mobile_apps")}
        )
