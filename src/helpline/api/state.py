"""What the API's handlers share: settings, store, runtime hub, carrier, bus."""

from __future__ import annotations

from dataclasses import dataclass

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
