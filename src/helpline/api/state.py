"""What the API's handlers share: settings, store, runtime hub, carrier, bus."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from helpline.bus import LocalBus
from helpline.runtime.hub import Hub
from helpline.settings import Settings
from helpline.store import Store
from helpline.telephony.virtual import VirtualCarrier


@dataclass
class AppState:
    settings: Settings
    store: Store
    hub: Hub
    carrier: VirtualCarrier
    bus: LocalBus
    jwt_secret: str
    # one lock per tenant around read-modify-write of its center document
    config_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def config_lock(self, tenant_id: str) -> asyncio.Lock:
        return self.config_locks.setdefault(tenant_id, asyncio.Lock())
