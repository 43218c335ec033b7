"""The campaign dialers of one tenant on the real clock (seed 003, `core.dialer`).

Each campaign's `Dialer` decides; this module carries out what it asks, one event at a time
(a lock): a `Dial` is an agent-first callout on the tenant's engine (`CalloutRequested`, seed
000 Step 4 method 2), so routing, the agent's state and the record stay the engine's; `Save*`
go to the store before the call is placed; `WakeAt` is a timer. What happens to the calls
comes from the runtime's `event_hooks` (in the engine's order, never dropped, unlike the bus,
whose slow readers lose the oldest of 1000 messages), on an unbounded queue one task reads.
Belt and braces, every `Tick` (a retry's wake-up; a sweep every `sweep_s` while a campaign has
calls or agents) reconciles a dialer with the engine (`_reconcile`), so no lost message can
leave an agent or a campaign stuck. `getConnectionForAgent` awaits a future `AgentConnected`
resolves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from helpline.core import dialer as dl
from helpline.core import dialer_messages as dm
from helpline.core import events as ev
from helpline.core.errors import ClientError, Conflict, NotFound
from helpline.runtime.tenant import TenantRuntime

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


class LoggedOut(Conflict):
    """A getConnectionForAgent was waiting when the agent left the campaign."""


class TenantCampaigns:
    """The dialers of one tenant's campaigns and the agents logged in to them."""

    sweep_s = 5.0  # how often a campaign with calls or agents is reconciled with the engine

    def __init__(self, runtime: TenantRuntime, store: CampaignStore) -> None:
        self.runtime = runtime
        self.tenant_id = runtime.tenant_id
        self.store = store
        self.dialers: dict[str, dl.Dialer] = {}
        self.agent_campaign: dict[str, str] = {}  # a Helpline agent is in one campaign at a time
        self._lock = asyncio.Lock()
        self._waiters: dict[str, list[asyncio.Future[dm.Connection]]] = {}
        # seed 003: the agent id an agent hears after sendAgentCallBack and logs in with
        self.agent_ids: dict[str, tuple[str, str]] = {}  # agent id -> (campaign, Helpline agent)
        self._responses: dict[str, dm.SaveResponse] = {}  # for calls whose record is not written
        self._wakes: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._heard: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()  # unbounded
        runtime.event_hooks.append(self._hear)
        self._reader = asyncio.create_task(self._read(), name=f"campaigns-{self.tenant_id}")
        self._sweeper = asyncio.create_task(self._sweep(), name=f"sweep-{self.tenant_id}")

    async def stop(self) -> None:
        if self._hear in self.runtime.event_hooks:
            self.runtime.event_hooks.remove(self._hear)
        for task in (self._reader, self._sweeper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for handle in self._wakes.values():
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()

    # -- campaigns -------------------------------------------------------------------------------

    def add(self, dialer: dl.Dialer) -> None:
        self.dialers[dialer.campaign_id] = dialer

    def dialer(self, campaign_id: str) -> dl.Dialer:
        found = self.dialers.get(campaign_id)
        if found is None:
            raise NotFound(f"campaign {campaign_id} not found", details={"field": "campaignId"})
        return found

    def available(self, agent_id: str) -> bool:
        """Idle, AVAILABLE and reachable in the engine (seed 000 Step 3b)."""
        agent = self.runtime.engine.agents.get(agent_id)
        return agent is not None and agent.ineligibility() is None

    async def apply(self, campaign_id: str, event: dm.DialerEvent) -> None:
        """Apply an event to a campaign's dialer and carry out its commands, in order."""
        async with self._lock:
            await self._apply(campaign_id, event)

    async def login(self, campaign_id: str, agent_id: str) -> None:
        async with self._lock:
            self._not_in_a_campaign(agent_id)
            self.runtime.require_agent(agent_id)
            event = dm.AgentLoggedIn(agent_id=agent_id, available=self.available(agent_id))
            self.dialer(campaign_id)  # NotFound before anything changes
            self.agent_campaign[agent_id] = campaign_id
            try:
                await self._apply(campaign_id, event)
            except ClientError:
                del self.agent_campaign[agent_id]
                raise

    def call_back(self, campaign_id: str, agent_id: str) -> str:
        """sendAgentCallBack: a fresh agent id (6 digits) for the agent to log in with."""
        self.dialer(campaign_id)
        self.runtime.require_agent(agent_id)
        self._not_in_a_campaign(agent_id)
        for code, (_, agent) in list(self.agent_ids.items()):
            if agent == agent_id:
                del self.agent_ids[code]  # a new callback replaces an unused one
        code = f"{secrets.randbelow(900_000) + 100_000}"
        while code in self.agent_ids:
            code = f"{secrets.randbelow(900_000) + 100_000}"
        self.agent_ids[code] = (campaign_id, agent_id)
        data = {"agent_id": agent_id, "campaign_id": campaign_id, "callfire_agent_id": code}
        kind, at = "callfire.agent_callback", self.runtime.clock()
        message = {"type": kind, "tenant_id": self.tenant_id, "at": at, "data": data}
        self.runtime.bus.publish(self.tenant_id, message)
        return code

    def _not_in_a_campaign(self, agent_id: str) -> None:
        if (current := self.agent_campaign.get(agent_id)) is not None:
            message = f"agent {agent_id} is logged in to campaign {current}"
            raise Conflict(message, details={"field": "agentId"})

    def agent_of(self, campaign_id: str, code: str) -> str:
        """The Helpline agent behind a CallFire agent id of this campaign."""
        found = self.agent_ids.get(code)
        if found is None or found[0] != campaign_id:
            raise NotFound(
                f"agentId {code} is not known in campaign {campaign_id}: use sendAgentCallBack",
                details={"field": "agentId"},
            )
        return found[1]

    async def wait_connection(
        self, campaign_id: str, agent_id: str, timeout_s: float
    ) -> dm.Connection | None:
        """The agent's connection: the current one, else the next within `timeout_s` (None)."""
        dialer = self.dialer(campaign_id)
        if agent_id not in dialer.sessions:
            raise NotFound(
                f"agent {agent_id} is not logged in to campaign {campaign_id}",
                details={"field": "agentId"},
            )
        current = dialer.connection_of(agent_id)
        if current is not None:
            return current
        future: asyncio.Future[dm.Connection] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(agent_id, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            waiting = self._waiters.get(agent_id, [])
            if future in waiting:
                waiting.remove(future)

    # -- carrying out --------------------------------------------------------------------------

    async def _apply(self, campaign_id: str, first: dm.DialerEvent) -> None:
        dialer = self.dialer(campaign_id)
        pending: list[dm.DialerEvent] = [first]
        if isinstance(first, dm.Tick):
            pending[:0] = await self._reconcile(dialer)
        while pending:
            event = pending.pop(0)
            commands = dialer.handle(event, self.runtime.clock())
            for command in commands:
                pending.extend(await self._carry_out(dialer, command))

    async def _carry_out(self, dialer: dl.Dialer, command: dm.DialerCommand) -> list[Any]:
        campaign = int(dialer.campaign_id)
        tenant = self.tenant_id
        if isinstance(command, dm.Dial):
            return await self._dial(command)
        if isinstance(command, dm.EndCall):
            self.runtime.post(
                ev.CallHungUp(call_id=command.call_id, party=ev.Party.SYSTEM, reason=command.reason)
            )
        elif isinstance(command, dm.WakeAt):
            self._wake(dialer.campaign_id, command.at)
        elif isinstance(command, dm.SaveCampaign):
            await self.store.save_campaign_status(tenant, campaign, command.status.value)
        elif isinstance(command, dm.SaveNumbers):
            await self.store.save_numbers(tenant, campaign, command.numbers)
        elif isinstance(command, dm.SaveAttempt):
            await self.store.save_attempt(tenant, campaign, command)
        elif isinstance(command, dm.SaveResponse):
            await self.store.save_response(tenant, campaign, command)
            if command.call_id in dialer.calls:  # its record comes when the call ends
                self._responses[command.call_id] = command
            else:
                await self._amend(command)
        elif isinstance(command, dm.AgentConnected):
            agent_id = command.connection.agent_id
            for future in self._waiters.pop(agent_id, []):
                if not future.done():
                    future.set_result(command.connection)
        elif isinstance(command, dm.AgentLoggedOut):
            self.agent_campaign.pop(command.agent_id, None)
            for code, (_, agent) in list(self.agent_ids.items()):
                if agent == command.agent_id:
                    del self.agent_ids[code]  # a new sendAgentCallBack gives a new agent id
            left = f"agent {command.agent_id} left the campaign ({command.reason})"
            for future in self._waiters.pop(command.agent_id, []):
                if not future.done():
                    future.set_exception(LoggedOut(left, details={"field": "agentId"}))
        return []

    async def _dial(self, command: dm.Dial) -> list[Any]:
        try:
            await self.runtime.submit(
                ev.CalloutRequested(
                    call_id=command.call_id,
                    agent_id=command.agent_id,
                    customer_number=command.number,
                    to_customer_from_number=command.caller_id,
                    answer_timeout_s=command.answer_timeout_s,
                )
            )
        except ClientError as error:  # the agent was taken or went away meanwhile
            return [
                dm.DialRefused(call_id=command.call_id, reason=error.message),
                dm.AgentAvailability(
                    agent_id=command.agent_id, available=self.available(command.agent_id)
                ),
            ]
        return []

    async def _amend(self, response: dm.SaveResponse) -> None:
        """The disposition and notes go on the call's own record too (like wrap-up's)."""
        await self.runtime.records.amend_record(
            self.tenant_id, response.call_id, None, response.disposition, response.notes
        )

    def _wake(self, campaign_id: str, at: float) -> None:
        old = self._wakes.pop(campaign_id, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, at - self.runtime.clock())
        loop = asyncio.get_running_loop()
        self._wakes[campaign_id] = loop.call_later(
            delay, lambda: self._spawn(self.apply(campaign_id, dm.Tick()))
        )

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile(self, dialer: dl.Dialer) -> list[dm.DialerEvent]:
        """What the engine says that the dialer may have missed: calls it thinks live that the
        engine has ended (the end built from the stored record; not written yet: the hook's
        `call.ended` is on its way) and agents whose availability changed."""
        found: list[dm.DialerEvent] = []
        for call_id in list(dialer.calls):
            if call_id in self.runtime.engine.calls:
                continue
            end = await self.store.call_end(self.tenant_id, call_id)
            if end is not None:
                found.append(dm.CallEnded(call_id=call_id, outcome=dm.outcome_of(*end)))
                if (response := self._responses.pop(call_id, None)) is not None:
                    await self._amend(response)  # its `call.ended` is what was lost
        for agent_id, session in dialer.sessions.items():
            available = self.available(agent_id)
            if available != session.available:
                found.append(dm.AgentAvailability(agent_id=agent_id, available=available))
        return found

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            for campaign_id, dialer in list(self.dialers.items()):
                if dialer.calls or dialer.sessions:
                    try:
                        await self.apply(campaign_id, dm.Tick())
                    except Exception:  # keep sweeping the other campaigns
                        log.exception("tenant %s: campaign %s sweep", self.tenant_id, campaign_id)

    # -- what the engine tells -----------------------------------------------------------------

    _HEARD = frozenset({"agent.state_changed", "call.state_changed", "call.ended"})

    def _hear(self, message: Mapping[str, Any]) -> None:
        """The runtime's `EventHook`: keep what the dialers need, in order, nothing dropped."""
        if message.get("type") in self._HEARD:
            self._heard.put_nowait(message)

    def _campaign_of_call(self, call_id: str) -> str | None:
        return next((c for c, dialer in self.dialers.items() if call_id in dialer.calls), None)

    async def _read(self) -> None:
        while True:
            message = await self._heard.get()
            try:
                await self._on_message(message)
            except Exception:  # keep reading: one bad message must not stop the dialers
                log.exception("tenant %s: campaign event failed: %s", self.tenant_id, message)

    async def _on_message(self, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        data = message.get("data") or {}
        if kind == "agent.state_changed":
            agent = str(data.get("agent_id"))
            if (campaign_id := self.agent_campaign.get(agent)) is not None:
                available = self.available(agent)
                await self.apply(
                    campaign_id, dm.AgentAvailability(agent_id=agent, available=available)
                )
            return
        call_id = str(data.get("call_id", ""))
        if not call_id.startswith("cf-"):
            return
        campaign_id = self._campaign_of_call(call_id)
        if kind == "call.state_changed" and campaign_id is not None:
            state = data.get("state")
            if state == "dialing_customer":
                await self.apply(campaign_id, dm.CustomerDialed(call_id=call_id))
            elif state == "connected":
                await self.apply(campaign_id, dm.CallConnected(call_id=call_id))
        elif kind == "call.ended":
            if campaign_id is not None:
                outcome = dm.outcome_of(str(data.get("result")), str(data.get("end_reason")))
                await self.apply(campaign_id, dm.CallEnded(call_id=call_id, outcome=outcome))
            response = self._responses.pop(call_id, None)
            if response is not None:
                await self._amend(response)


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
