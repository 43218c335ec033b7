"""The campaign dialers of one tenant on the real clock (seed 003, `core.dialer`).

Each campaign's `Dialer` decides; this module carries out what it asks, one event at a time
(a lock): a `Dial` is an agent-first callout on the tenant's engine (`CalloutRequested`, seed
000 Step 4 method 2), so routing, the agent's state and the record stay the engine's; the
agent's leg is its agent line (`runtime.campaign_lines`), which answers it at once; `Save*`
go to the store before the call is placed; `WakeAt` is a timer. What happens to the calls
comes from the runtime's `event_hooks` (in the engine's order, never dropped, unlike the bus,
whose slow readers lose the oldest of 1000 messages), and what happens to the lines from the
adapter, on one unbounded queue one task reads. Belt and braces, every `Tick` (a retry's
wake-up; a sweep every `sweep_s` while a campaign has calls or agents) reconciles a dialer
with the engine (`_reconcile`), so no lost message can leave an agent or a campaign stuck.
`getConnectionForAgent` awaits a future `AgentConnected` resolves. Every tenant's: see
`runtime.campaign_registry`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from helpline.core import dialer as dl
from helpline.core import dialer_messages as dm
from helpline.core import events as ev
from helpline.core.errors import ClientError, Conflict, NotFound
from helpline.core.model import AVAILABLE
from helpline.core.states import AgentActivity
from helpline.runtime.campaign_lines import FAREWELL, CampaignLines
from helpline.runtime.tenant import TenantRuntime

if TYPE_CHECKING:
    from helpline.runtime.campaign_registry import CampaignStore

log = logging.getLogger("helpline.runtime.campaigns")


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
        self._responses: dict[str, dm.SaveResponse] = {}  # for calls whose record is not written
        self._wakes: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._heard: asyncio.Queue[Mapping[str, Any] | ev.AgentLineEvent] = asyncio.Queue()
        self.lines = CampaignLines(runtime)
        runtime.event_hooks.append(self._hear)
        self._reader = asyncio.create_task(self._read(), name=f"campaigns-{self.tenant_id}")
        self._sweeper = asyncio.create_task(self._sweep(), name=f"sweep-{self.tenant_id}")

    def hear_line(self, event: ev.AgentLineEvent) -> None:
        self._heard.put_nowait(event)  # read in turn with the engine's messages

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
        for agent_id in list(self._waiters):  # nobody waits for ever
            self._left(agent_id, "system_stop")
        try:  # no agent's phone is left on hold music by a server that stopped
            await self.lines.close_all("system_stop")
        except Exception:  # the adapter may be stopping too: the stop goes on
            log.exception("tenant %s: closing agent lines", self.tenant_id)

    # -- campaigns -------------------------------------------------------------------------------

    def add(self, dialer: dl.Dialer) -> None:
        self.dialers[dialer.campaign_id] = dialer

    def dialer(self, campaign_id: str) -> dl.Dialer:
        found = self.dialers.get(campaign_id)
        if found is None:
            raise NotFound(f"campaign {campaign_id} not found", details={"field": "campaignId"})
        return found

    def available(self, agent_id: str) -> bool:
        """Idle and AVAILABLE in the engine (seed 000 Step 3b). Not its reach: the dialer's
        callouts reach the agent on its agent line (`CalloutRequested.agent_line`)."""
        if (agent := self.runtime.engine.agents.get(agent_id)) is None or agent.removed:
            return False
        return agent.activity is AgentActivity.IDLE and agent.manual_status == AVAILABLE

    async def apply(self, campaign_id: str, event: dm.DialerEvent) -> None:
        """Apply an event to a campaign's dialer and carry out its commands, in order."""
        async with self._lock:
            await self._apply(campaign_id, event)

    async def login(self, campaign_id: str, code: str) -> None:
        """loginAgent with the agent id its line announced. Resolved under the lock, so a
        line report handled meanwhile (a failed phone voids the id) is seen, not raced."""
        async with self._lock:
            self.dialer(campaign_id)  # NotFound before anything changes
            agent_id = self.agent_of(campaign_id, code)
            self._not_in_a_campaign(agent_id)
            self.runtime.require_agent(agent_id)
            line = self.lines.of(agent_id)
            if line is None:  # its phone is how it talks to customers (seed 003)
                raise NotFound(
                    f"agentId {code}: its phone line ended: use sendAgentCallBack",
                    details={"field": "agentId"},
                )
            event = dm.AgentLoggedIn(
                agent_id=agent_id, available=self.available(agent_id), line_up=line.up
            )
            self.agent_campaign[agent_id] = campaign_id
            try:
                await self._apply(campaign_id, event)
            except ClientError:
                del self.agent_campaign[agent_id]
                raise
            self.lines.logged_in(line)

    async def call_back(self, campaign_id: str, agent_id: str, phone: str | None) -> str:
        """sendAgentCallBack: a fresh agent id (6 digits) for the agent to log in with, and
        its agent line: a call to `phone`, else to the agent's own device, that says it."""
        async with self._lock:
            dialer = self.dialer(campaign_id)
            self.runtime.require_agent(agent_id)
            self._not_in_a_campaign(agent_id)
            code = self.lines.new_code(campaign_id, agent_id)
            await self.lines.open(campaign_id, agent_id, code, phone, dialer.rules)
        return code

    async def kick(self, campaign_id: str, code: str) -> None:
        """kickAgent: "forcibly hangup an agent", logged in or still hearing its agent id."""
        async with self._lock:
            agent_id = self.agent_of(campaign_id, code)
            if agent_id in self.dialer(campaign_id).sessions:
                await self._apply(campaign_id, dm.AgentKicked(agent_id=agent_id))
            else:
                await self._close_unlogged(agent_id, "kicked")

    async def _login_expired(self, agent_id: str) -> None:
        async with self._lock:
            await self._close_unlogged(agent_id, "login_timeout")

    async def _close_unlogged(self, agent_id: str, reason: str) -> None:
        """Close the line of an agent not logged in (if it still is not): its id is void."""
        if agent_id not in self.agent_campaign:
            self.lines.forget_codes(agent_id)
            await self.lines.close(agent_id, reason)

    def _not_in_a_campaign(self, agent_id: str) -> None:
        if (current := self.agent_campaign.get(agent_id)) is not None:
            message = f"agent {agent_id} is logged in to campaign {current}"
            raise Conflict(message, details={"field": "agentId"})

    def agent_of(self, campaign_id: str, code: str) -> str:
        return self.lines.agent_of(campaign_id, code)

    def waiting(self, agent_id: str) -> int:
        """How many getConnectionForAgent wait for the agent's next connection."""
        return len(self._waiters.get(agent_id, []))

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
        elif isinstance(command, dm.HoldLine):
            await self.lines.hold(command.agent_id)
        elif isinstance(command, dm.AgentLoggedOut):
            self.agent_campaign.pop(command.agent_id, None)
            self.lines.forget_codes(command.agent_id)  # a new sendAgentCallBack gives a new one
            # seed 003 step 10 (lastcall): asked to hang up; kicked: hung up at once
            farewell = FAREWELL if command.reason == "last_call" else None
            await self.lines.close(command.agent_id, command.reason, farewell=farewell)
            self._left(command.agent_id, command.reason)
        return []

    def _left(self, agent_id: str, reason: str) -> None:
        """Whoever waits for the agent's next connection learns it left the campaign."""
        left = f"agent {agent_id} left the campaign ({reason})"
        for future in self._waiters.pop(agent_id, []):
            if not future.done():
                future.set_exception(LoggedOut(left, details={"field": "agentId"}))

    async def _dial(self, command: dm.Dial) -> list[Any]:
        try:
            await self.runtime.submit(
                ev.CalloutRequested(
                    call_id=command.call_id,
                    agent_id=command.agent_id,
                    customer_number=command.number,
                    to_customer_from_number=command.caller_id,
                    answer_timeout_s=command.answer_timeout_s,
                    agent_line=True,  # answered on its line, the only call that is
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

    async def _on_line(self, event: ev.AgentLineEvent) -> None:
        """Under the lock: a login or a kick sees the line before or after, never halfway."""
        async with self._lock:
            await self._line_heard(event)

    async def _line_heard(self, event: ev.AgentLineEvent) -> None:
        heard = self.lines.heard(event)
        if heard is None:
            return  # a line we closed ourselves
        line, dialer_event = heard
        campaign_id = self.agent_campaign.get(line.agent_id)
        if campaign_id is not None and dialer_event is not None:
            await self._apply(campaign_id, dialer_event)
        elif isinstance(dialer_event, dm.LineDown):
            self.lines.forget_codes(line.agent_id)  # never logged in: its agent id is void
        else:  # answered, not logged in yet: it has `login_window_s` to do it
            agent = line.agent_id
            self.lines.expect_login(line, lambda: self._spawn(self._login_expired(agent)))

    async def _read(self) -> None:
        while True:
            message = await self._heard.get()
            try:
                if isinstance(message, Mapping):
                    await self._on_message(message)
                else:
                    await self._on_line(message)
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
