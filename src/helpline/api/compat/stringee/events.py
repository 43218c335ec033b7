"""The project's event URL (seed 000 Step 1; Stringee "Call events"): call events, POSTed.

Stringee POSTs a JSON call event to the project's event URL whenever a call's state changes
(`created`, `started`, `ringing`, `answered`, `ended`, ...). Here each tenant runtime that has
a Stringee project with an event URL gets an `EventForwarder` among its `event_hooks`: it sees
every live message as the engine decides (so the call's numbers are at hand), turns call
changes into Stringee's event body and queues the POST in the webhook outbox, in order with
the call's records, delivered at least once with retries. `attach` also gives the runtime
the project id that `get_list_agents_url` requests carry (seed 000 Step 5a).

What is sent (docs/compat.md): `call_status` is `started` when the call enters the IVR, a
queue, voicemail or an outside number, `ringing` when an agent's phone (or the customer of a
callout) rings, `answered` when connected, `ended` with the record; each status is sent
once per call (a call offered again after a missed offer goes back to its queue and rings
another agent without a second `started` or `ringing`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from helpline.runtime.hub import Hub
from helpline.runtime.tenant import TenantRuntime, Write
from helpline.store import Store
from helpline.webhooks.deliverer import wake_deliverers
from helpline.webhooks.publisher import JSON_HEADERS

# engine call states -> Stringee `call_status` (held and transfers add nothing Stringee says)
CALL_STATUS = {
    "ivr": "started",
    "queued": "started",
    "voicemail": "started",
    "external": "started",
    "ringing_agent": "ringing",
    "offering": "ringing",
    "dialing_customer": "ringing",
    "connected": "answered",
}


def _party(number: str) -> dict[str, Any]:
    return {"number": number, "alias": number, "is_online": False, "type": "external"}


class EventForwarder:
    """A runtime's `EventHook`: Stringee call events to the project's event URL."""

    def __init__(
        self, store: Store, runtime: TenantRuntime, project_id: int, event_url: str | None
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.project_id = project_id
        self.event_url = event_url
        self._sent: dict[str, set[str]] = {}  # call id -> the statuses sent for it

    def __call__(self, message: Mapping[str, Any]) -> Write | None:
        if not self.event_url:
            return None
        kind = message.get("type")
        data = message.get("data") or {}
        if kind == "call.state_changed":
            return self._changed(data)
        if kind == "call.ended":
            return self._ended(data)
        return None

    def _changed(self, data: Mapping[str, Any]) -> Write | None:
        call_id = str(data.get("call_id"))
        status = CALL_STATUS.get(str(data.get("state")))
        if status is None or status in self._sent.get(call_id, ()):
            return None
        call = self.runtime.engine.calls.get(call_id)
        if call is None:
            return None
        self._sent.setdefault(call_id, set()).add(status)
        body = self._body(
            status,
            call_id,
            at=float(data.get("at") or self.runtime.clock()),
            from_number=call.from_number,
            to_number=call.to_number,
            agent_id=call.agent_id or next(iter(call.offered_to), ""),
        )
        return self._post(body)

    def _ended(self, record: Mapping[str, Any]) -> Write | None:
        call_id = str(record.get("call_id"))
        self._sent.pop(call_id, None)
        created = float(record.get("created_at") or 0.0)
        ended = float(record.get("ended_at") or created)
        body = self._body(
            "ended",
            call_id,
            at=ended,
            from_number=str(record.get("from_number") or ""),
            to_number=str(record.get("to_number") or ""),
            agent_id=str(record.get("agent_id") or ""),
        )
        body.update(
            {
                "callCreatedReason": "OUTBOUND" if record.get("direction") != "inbound" else "IN",
                "endCallCause": str(record.get("end_reason") or ""),
                "endedBy": str(record.get("disconnected_by") or ""),
                "callType": "CALL",
                "duration": round(max(0.0, ended - created)),
                "answerDuration": round(float(record.get("talk_s") or 0.0)),
            }
        )
        return self._post(body)

    def _body(
        self,
        status: str,
        call_id: str,
        *,
        at: float,
        from_number: str,
        to_number: str,
        agent_id: str,
    ) -> dict[str, Any]:
        return {
            "call_status": status,
            "project_id": self.project_id,
            "request_from_user_id": agent_id,
            "account_sid": self.runtime.tenant_id,
            "timestamp_ms": round(at * 1000),
            "from": _party(from_number),
            "to": _party(to_number),
            "clientCustomData": "",
            "type": "stringee_call",
            "call_id": call_id,
        }

    def _post(self, body: dict[str, Any]) -> Write:
        url = self.event_url
        assert url is not None
        tenant_id = self.runtime.tenant_id
        store = self.store

        async def write() -> None:
            await store.outbox.enqueue(
                tenant_id,
                kind="event_url",
                url=url,
                method="POST",
                headers=JSON_HEADERS,
                body=json.dumps(body, separators=(",", ":")),
            )
            wake_deliverers(store)

        return write


def attach(store: Store, hub: Hub, tenant_id: str, project_id: int, event_url: str | None) -> None:
    """Give the tenant's running engine its project id and event URL (idempotent)."""
    runtime = hub.tenants.get(tenant_id)
    if runtime is None:
        return
    runtime.project_id = project_id
    for hook in runtime.event_hooks:
        if isinstance(hook, EventForwarder):
            hook.project_id = project_id
            hook.event_url = event_url
            return
    runtime.event_hooks.append(EventForwarder(store, runtime, project_id, event_url))


async def attach_all(store: Store, hub: Hub) -> None:
    """At start: every tenant with a Stringee project gets its project id and event URL."""
    for project in await store.stringee.list_projects():
        attach(store, hub, project.tenant_id, project.project_id, project.event_url)
