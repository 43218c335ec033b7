"""The ports: what the runtime needs from the outside world, as Protocols.

Every port has a real in-process implementation (ARCHITECTURE.md, style point 6): the virtual
carrier for `Telephony`, the SQL store for `RecordSink` and `Outbox`, `helpline.bus.LocalBus`
for `Bus`. The runtime depends only on these Protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from helpline.core import commands as cmd
from helpline.core.events import AgentLineEvent, Event
from helpline.core.records import CallRecord

# the engine commands a telephony adapter carries out
TelephonyCommand = (
    cmd.PlayPrompt
    | cmd.PlayQueueAudio
    | cmd.SetHold
    | cmd.OfferCall
    | cmd.CancelOffer
    | cmd.Bridge
    | cmd.DialCustomer
    | cmd.DialExternal
    | cmd.StartVoicemail
    | cmd.Hangup
    | cmd.AgentLineCommand  # sent by the campaign runtime, not the engine (seed 003)
)
TELEPHONY_COMMANDS: tuple[type, ...] = (
    cmd.PlayPrompt,
    cmd.PlayQueueAudio,
    cmd.SetHold,
    cmd.OfferCall,
    cmd.CancelOffer,
    cmd.Bridge,
    cmd.DialCustomer,
    cmd.DialExternal,
    cmd.StartVoicemail,
    cmd.Hangup,
)

# how adapters report what happened: (tenant id, event) into that tenant's runtime
PostEvent = Callable[[str, Event], None]
# how adapters report agent lines (seed 003): (tenant id, event) to the campaign runtime
PostLineEvent = Callable[[str, AgentLineEvent], None]


class Telephony(Protocol):
    """Carries out call commands; reports outcomes back through the `PostEvent` it was given."""

    def attach(self, post: PostEvent) -> None: ...

    def listen_lines(self, listener: PostLineEvent) -> None:
        """Where agent line events go (adapters in front pass it to those behind)."""
        ...

    async def execute(self, tenant_id: str, command: TelephonyCommand) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveCallRow:
    """What a restart needs of a call still in progress (`store_calls`): when it started and
    the latest snapshot of it (`runtime.dispatch.live_data`)."""

    call_id: str
    started_at: float
    data: Mapping[str, Any]


class RecordSink(Protocol):
    """Durable call state: live calls (for restart safety) and the one record per call."""

    async def store_calls(
        self, tenant_id: str, live: Sequence[LiveCallRow], records: Sequence[CallRecord]
    ) -> None:
        """In one transaction: each live row inserted or replaced, unless its call is among
        `records`; each record inserted unless there (idempotent on the call id); the live
        rows of the recorded calls deleted. The runtime's group commit (under load, one
        transaction for many calls: `runtime/call_writes.py`)."""
        ...

    async def amend_record(
        self,
        tenant_id: str,
        call_id: str,
        wrap_up_s: float | None,
        disposition: str | None,
        notes: str | None,
    ) -> None: ...


class Outbox(Protocol):
    """Durable outgoing HTTP: webhooks, per-call `hangup_url` posts, IVR notifications.

    `message_id` names what is queued; with `retry=True` as well, a message of that name that
    is there already is not queued again (the write is retried because its first try failed,
    yet that try's commit may have gone through with its acknowledgement lost).
    """

    def may_publish(self, tenant_id: str, event_type: str) -> bool:
        """False only when it is known, without waiting, that `publish_event` would queue
        nothing (no subscription takes the event): the runtime then skips its write."""
        ...

    async def publish_event(
        self,
        tenant_id: str,
        event_type: str,
        data: Mapping[str, Any],
        *,
        message_id: str | None = None,
        retry: bool = False,
    ) -> None:
        """A webhook event for every subscription of the tenant whose filter takes it."""
        ...

    async def send(
        self,
        tenant_id: str,
        *,
        kind: str,
        url: str,
        method: str,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        message_id: str | None = None,
        retry: bool = False,
    ) -> None:
        """One HTTP request to a URL the tenant gave (seed 002 notifications, hangup_url)."""
        ...


class Bus(Protocol):
    """Live events for websockets, per tenant (in-process now; Redis or NATS across nodes)."""

    def publish(self, tenant_id: str, message: Mapping[str, Any]) -> None: ...
