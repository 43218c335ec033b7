"""The agent lines of one tenant's campaign agents (seed 003, "How Call Center Connect Works
from the Agent Perspective"; `runtime.campaigns`).

sendAgentCallBack gives the agent an agent id (6 digits) and opens a line: the telephony
adapter calls the agent's phone, which hears its agent id until it logs in, then hold music.
The line stays up across the agent's calls (a "nailed-up" agent connection): the adapter
answers each of the campaign's calls on it, with a beep. storeAgentResponse puts it back on
hold music; lastcall asks the agent to hang up and closes it; kickAgent closes it at once.
A line that fails or that the agent hangs up logs the agent out (`dialer_messages.LineDown`).

The engine does not know about lines. The line is no presence: queues reach the agent only
through its own device, softphone or phone, as without a line. The dialer's callouts are
marked (`CalloutRequested.agent_line`): the engine places them whatever the agent's presence
and the adapter answers them, and only them, on the line at once. What the adapter reports
of a line comes back through `Telephony.listen_lines`, not the engine.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from helpline.core import commands as cmd
from helpline.core import dialer_messages as dm
from helpline.core import events as ev
from helpline.core.errors import NotFound
from helpline.runtime.tenant import TenantRuntime

# seed 003 step 10: "I get a confirmation on my software to hangup my phone"
FAREWELL = "You are logged off. Please hang up your phone. Goodbye."


def announcement(code: str) -> str:
    """Seed 003 step 2: "I hear an agent id over the phone": its digits one by one."""
    return f"Your agent ID is {' '.join(code)}. Enter it to log in."


@dataclass(slots=True)
class Line:
    call_id: str
    agent_id: str
    campaign_id: str
    code: str  # the agent id it announces
    up: bool = False  # answered
    login_timer: asyncio.TimerHandle | None = None


class CampaignLines:
    """Opens, holds and closes lines through the runtime's telephony adapter; turns what the
    adapter reports into the dialer's events."""

    # an answered line whose agent never logs in is not left on the agent id for ever
    login_window_s = 300.0

    def __init__(self, runtime: TenantRuntime) -> None:
        self.runtime = runtime
        self.by_agent: dict[str, Line] = {}  # an agent has one line at a time
        # seed 003: the agent id an agent hears after sendAgentCallBack and logs in with
        self.codes: dict[str, tuple[str, str]] = {}  # agent id -> (campaign, Helpline agent)
        self._serial = 0

    def new_code(self, campaign_id: str, agent_id: str) -> str:
        """A fresh agent id (6 digits) for the agent to log in with; an unused one is void."""
        self.forget_codes(agent_id)
        code = f"{secrets.randbelow(900_000) + 100_000}"
        while code in self.codes:
            code = f"{secrets.randbelow(900_000) + 100_000}"
        self.codes[code] = (campaign_id, agent_id)
        return code

    def forget_codes(self, agent_id: str) -> None:
        for code, (_, agent) in list(self.codes.items()):
            if agent == agent_id:
                del self.codes[code]

    def agent_of(self, campaign_id: str, code: str) -> str:
        """The Helpline agent behind a CallFire agent id of this campaign."""
        found = self.codes.get(code)
        if found is None or found[0] != campaign_id:
            raise NotFound(
                f"agentId {code} is not known in campaign {campaign_id}: use sendAgentCallBack",
                details={"field": "agentId"},
            )
        return found[1]

    def of(self, agent_id: str) -> Line | None:
        return self.by_agent.get(agent_id)

    async def open(
        self, campaign_id: str, agent_id: str, code: str, phone: str | None, rules: dm.Rules
    ) -> Line:
        """Call the agent: its `phone` number, else its own device (sandbox, softphone)."""
        await self.close(agent_id, "replaced")  # a new callback replaces an unused one
        self._serial += 1
        line = Line(f"cfl-{campaign_id}-{code}-{self._serial}", agent_id, campaign_id, code)
        self.by_agent[agent_id] = line
        await self._send(
            cmd.OpenAgentLine(
                call_id=line.call_id,
                agent_id=agent_id,
                phone_number=phone,
                caller_id=rules.caller_id,
                announcement=announcement(code),
                hold_music=None,  # the tenant's default
                ring_timeout_s=rules.answer_timeout_s,
            )
        )
        self._publish(line, "calling", phone_number=phone)
        return line

    def expect_login(self, line: Line, expired: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        line.login_timer = loop.call_later(self.login_window_s, expired)

    @staticmethod
    def logged_in(line: Line) -> None:
        """Its agent logged in: the login window is over."""
        if line.login_timer is not None:
            line.login_timer.cancel()
            line.login_timer = None

    async def hold(self, agent_id: str) -> None:
        line = self.by_agent.get(agent_id)
        if line is not None:
            await self._send(cmd.HoldAgentLine(call_id=line.call_id))

    async def close(self, agent_id: str, reason: str, *, farewell: str | None = None) -> None:
        """Hang the line up (forgotten first: what the adapter then reports is stale)."""
        line = self.by_agent.pop(agent_id, None)
        if line is not None:
            if line.login_timer is not None:
                line.login_timer.cancel()
            await self._send(
                cmd.CloseAgentLine(call_id=line.call_id, reason=reason, farewell=farewell)
            )
            self._publish(line, "closed", reason=reason)

    async def close_all(self, reason: str) -> None:
        for agent_id in list(self.by_agent):
            await self.close(agent_id, reason)

    def heard(self, event: ev.AgentLineEvent) -> tuple[Line, dm.DialerEvent | None] | None:
        """What the adapter reported, for a line we have: the line, and the dialer's event
        (sent if its agent is logged in). None: a line already forgotten (we closed it)."""
        line = self.by_agent.get(event.agent_id)
        if line is None or line.call_id != event.call_id:
            return None
        if isinstance(event, ev.AgentLineAnswered):
            line.up = True
            self._publish(line, "answered")
            return line, dm.LineUp(agent_id=line.agent_id)
        del self.by_agent[line.agent_id]
        if line.login_timer is not None:
            line.login_timer.cancel()
        reason = event.reason if isinstance(event, ev.AgentLineFailed) else "hung_up"
        self._publish(
            line, "failed" if isinstance(event, ev.AgentLineFailed) else "closed", reason=reason
        )
        return line, dm.LineDown(agent_id=line.agent_id, reason=reason)

    async def _send(self, command: cmd.AgentLineCommand) -> None:
        await self.runtime.telephony.execute(self.runtime.tenant_id, command)

    def _publish(self, line: Line, state: str, **more: object) -> None:
        """A live message (websocket) for the agent's screen: its line's progress."""
        data: dict[str, object] = {
            "agent_id": line.agent_id,
            "campaign_id": line.campaign_id,
            "callfire_agent_id": line.code,
            "line_call_id": line.call_id,
            "state": state,
            **more,
        }
        at = self.runtime.clock()
        message = {"type": "callfire.agent_line", "tenant_id": self.runtime.tenant_id, "at": at}
        self.runtime.bus.publish(self.runtime.tenant_id, {**message, "data": data})
