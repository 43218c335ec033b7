"""Every tenant's campaign dialers in this process (seed 003; `runtime.campaigns`).

A tenant's campaigns are loaded on first use, so a restart resumes them where the store left
them. The one `Campaigns` of a hub also listens to the telephony adapter's agent lines
(`Telephony.listen_lines`) and hands each report to its tenant's campaigns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from helpline.core import dialer as dl
from helpline.core import dialer_messages as dm
from helpline.core import events as ev
from helpline.runtime.campaigns import TenantCampaigns

if TYPE_CHECKING:
    from helpline.runtime.hub import Hub

log = logging.getLogger("helpline.runtime.campaigns")


class CampaignStore(Protocol):
    """Where the dialers' state goes (`store.compat.callfire.CallfireRepository`)."""

    async def save_campaign_status(self, tenant_id: str, campaign_id: int, status: str) -> None: ...

    async def save_numbers(
        self, tenant_id: str, campaign_id: int, numbers: Sequence[dm.DialNumber]
    ) -> None: ...

    async def save_attempt(
        self, tenant_id: str, campaign_id: int, attempt: dm.SaveAttempt
    ) -> None: ...

    async def save_response(
        self, tenant_id: str, campaign_id: int, response: dm.SaveResponse
    ) -> None: ...

    async def call_end(self, tenant_id: str, call_id: str) -> tuple[str, str] | None: ...


class CampaignLoader(CampaignStore, Protocol):
    async def load_dialers(self, tenant_id: str, now: float) -> list[dl.Dialer]: ...


class Campaigns:
    """Every tenant's campaigns in this process; a tenant's are loaded on first use, so a
    restart resumes them where the store left them."""

    def __init__(self, hub: Hub, store: CampaignLoader) -> None:
        self.hub = hub
        self.store = store
        self.tenants: dict[str, TenantCampaigns] = {}
        self._loading = asyncio.Lock()
        hub.on_stop.append(self.stop)
        hub.telephony.listen_lines(self._line_event)

    def _line_event(self, tenant_id: str, event: ev.AgentLineEvent) -> None:
        found = self.tenants.get(tenant_id)
        if found is None:  # lines are opened by loaded tenants only: a stale report
            log.info("tenant %s: agent line event with no campaigns: %s", tenant_id, event)
            return
        found.hear_line(event)

    @classmethod
    def of(cls, hub: Hub, store: CampaignLoader) -> Campaigns:
        """The hub's one `Campaigns` (kept in `hub.extensions`)."""
        found = hub.extensions.get("callfire")
        if not isinstance(found, Campaigns):
            found = hub.extensions["callfire"] = cls(hub, store)
        return found

    async def tenant(self, tenant_id: str) -> TenantCampaigns:
        found = self.tenants.get(tenant_id)
        if found is not None:
            return found
        async with self._loading:
            found = self.tenants.get(tenant_id)
            if found is None:
                runtime = self.hub.runtime(tenant_id)
                found = TenantCampaigns(runtime, self.store)
                for dialer in await self.store.load_dialers(tenant_id, runtime.clock()):
                    found.add(dialer)
                self.tenants[tenant_id] = found
        return found

    async def stop(self) -> None:
        for campaigns in self.tenants.values():
            await campaigns.stop()
        self.tenants.clear()
