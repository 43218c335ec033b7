"""Plain-data forms of engine facts: for websockets, webhooks, the API and the store."""

from __future__ import annotations

from typing import Any

from helpline.core import commands as cmd
from helpline.core.plain import plain
from helpline.core.records import CallRecord


def record_dict(record: CallRecord) -> dict[str, Any]:
    data: dict[str, Any] = plain(record)
    return data


def state_message(
    tenant_id: str, change: cmd.CallStateChanged | cmd.AgentStateChanged
) -> dict[str, Any]:
    """The message live views receive: `{"type", "tenant_id", "at", "data"}`."""
    kind = (
        "call.state_changed" if isinstance(change, cmd.CallStateChanged) else "agent.state_changed"
    )
    data = plain(change)
    return {"type": kind, "tenant_id": tenant_id, "at": data.pop("at"), "data": data}


def offer_message(tenant_id: str, offer: cmd.OfferCall, at: float) -> dict[str, Any]:
    """An agent's phone rings: what a softphone shows (seed 002 `IncomingCall`)."""
    data = plain(offer)
    data["offered_to"] = [offer.agent_id]
    return {"type": "call.offered", "tenant_id": tenant_id, "at": at, "data": data}
