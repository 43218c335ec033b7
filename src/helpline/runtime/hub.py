"""All tenants' runtimes in one process: start, restore after a restart, route events.

On start every tenant's center document is loaded and its engine started; calls that were
live when the process died (their records were never written) are closed with reason
`system_restart` (issue 4, point 11). The telephony adapter posts events through `post`,
which finds the tenant's runtime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from helpline.bus import LocalBus
from helpline.config import parse_center
from helpline.core.errors import NotFound
from helpline.core.events import Event
from helpline.core.model import Center
from helpline.ports import Outbox, RecordSink, Telephony
from helpline.runtime.tenant import TenantRuntime

log = logging.getLogger("helpline.runtime")

EMPTY_CENTER: dict[str, Any] = {}


class Hub:
    def __init__(
        self,
        *,
        telephony: Telephony,
        records: RecordSink,
        outbox: Outbox,
        bus: LocalBus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.telephony = telephony
        self.records = records
        self.outbox = outbox
        self.bus = bus
        self.clock = clock
        self.http = httpx.AsyncClient()
        self.tenants: dict[str, TenantRuntime] = {}
        # services built on the runtimes (the CallFire campaign dialers): stopped first
        self.extensions: dict[str, Any] = {}
        self.on_stop: list[Callable[[], Awaitable[None]]] = []
        telephony.attach(self.post)

    def post(self, tenant_id: str, event: Event) -> None:
        runtime = self.tenants.get(tenant_id)
        if runtime is None:
            log.warning("event for unknown tenant %s dropped: %s", tenant_id, event)
            return
        runtime.post(event)

    def runtime(self, tenant_id: str) -> TenantRuntime:
        runtime = self.tenants.get(tenant_id)
        if runtime is None:
            raise NotFound(f"tenant {tenant_id} not found", details={"field": "tenant_id"})
        return runtime

    def start_tenant(self, tenant_id: str, document: dict[str, Any] | None) -> TenantRuntime:
        center = parse_center(document or EMPTY_CENTER)
        return self._start(tenant_id, center)

    def _start(self, tenant_id: str, center: Center) -> TenantRuntime:
        runtime = TenantRuntime(
            tenant_id,
            center,
            telephony=self.telephony,
            records=self.records,
            outbox=self.outbox,
            bus=self.bus,
            http=self.http,
            clock=self.clock,
        )
        self.tenants[tenant_id] = runtime
        runtime.start()
        return runtime

    async def stop(self) -> None:
        for hook in self.on_stop:
            await hook()
        # together: each tenant may wait up to its `stop_drain_s` for the database, and a
        # shutdown must not take that long once per tenant; one that fails is logged and the
        # others still stop
        runtimes = list(self.tenants.values())
        results = await asyncio.gather(*(r.stop() for r in runtimes), return_exceptions=True)
        for runtime, result in zip(runtimes, results, strict=True):
            if isinstance(result, BaseException):
                log.error("tenant %s did not stop cleanly", runtime.tenant_id, exc_info=result)
        self.tenants.clear()
        await self.http.aclose()
