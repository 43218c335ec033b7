"""The center document of each tenant (`GET`/`PUT /v1/config`), with optimistic versions.

The whole document is one JSON value; every write raises `version` by one. A writer that read
version N passes `expected_version=N` and gets `Conflict` if someone wrote in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from helpline.core.errors import Conflict
from helpline.store.base import Clock, SessionScope, rowcount
from helpline.store.models import CenterConfig
from helpline.store.tenants import require_tenant


def _conflict(tenant_id: str, expected: int | None, actual: int) -> Conflict:
    return Conflict(
        f"the center document of {tenant_id!r} is at version {actual}, not {expected}",
        details={"expected_version": expected, "version": actual},
    )


class CenterConfigRepository:
    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    async def get_config(self, tenant_id: str) -> CenterConfig | None:
        async with self._scope.begin() as s:
            return await s.get(CenterConfig, tenant_id, populate_existing=True)

    async def put_config(
        self,
        tenant_id: str,
        document: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> CenterConfig:
        """Replace the document; the stored row (with its new version) comes back.

        `expected_version` None replaces whatever is there; otherwise it must be the current
        version (0 when there is no document yet), or `Conflict`.
        """
        now = self._clock()
        doc = dict(document)
        current_stmt = (
            select(CenterConfig)
            .where(CenterConfig.tenant_id == tenant_id)
            .execution_options(populate_existing=True)
        )
        async with self._scope.begin() as s:
            await require_tenant(s, tenant_id)
            current = (await s.scalars(current_stmt)).one_or_none()
            version = 0 if current is None else current.version
            if expected_version is not None and expected_version != version:
                raise _conflict(tenant_id, expected_version, version)
            if current is None:
                result = await s.execute(
                    self._scope.insert(CenterConfig)
                    .values(tenant_id=tenant_id, version=1, document=doc, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["tenant_id"])
                )
            else:
                result = await s.execute(
                    update(CenterConfig)
                    .where(CenterConfig.tenant_id == tenant_id, CenterConfig.version == version)
                    .values(version=version + 1, document=doc, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            if not rowcount(result):
                # another writer got in between our read and our write
                raise Conflict(
                    f"the center document of {tenant_id!r} changed meanwhile",
                    details={"expected_version": version},
                )
            stored = (await s.scalars(current_stmt)).one()
        return stored
