"""The dialer's invariants hold after every step of any sequence of events (hypothesis).

Any mix of numbers added, agents logging in and out, the engine's view of them changing,
start and stop, calls connecting and ending with any outcome, responses, kicks, refused dials
and the clock moving on. After each step: never two live calls for one agent or one number;
no dial unless the campaign runs; a finished number is never dialled again; nobody dials more
than `max_attempts` customer dials; a finished campaign has every number done and no call.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from helpline.core import dialer as dl
from helpline.core import dialer_messages as dm
from helpline.core.errors import ClientError

AGENTS = ("a1", "a2")
RULES = dm.Rules(max_attempts=2, retry_delay_s={dm.Outcome.BUSY: 5.0, dm.Outcome.NO_ANSWER: 9.0})
outcomes = st.sampled_from(list(dm.Outcome))


class DialerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dialer = dl.Dialer("1", RULES)
        self.now = 0.0
        self.done: set[int] = set()  # numbers seen done
        self.dials = 0

    def _do(self, event: dm.DialerEvent) -> None:
        status = self.dialer.status
        try:
            commands = self.dialer.handle(event, self.now)
        except ClientError:
            return
        for command in commands:
            if isinstance(command, dm.Dial):
                self.dials += 1
                assert command.number_id not in self.done, "a finished number dialled again"
                # a dial happens only in a running campaign (it may finish in the same step)
                assert dm.CampaignStatus.RUNNING in (status, self.dialer.status) or isinstance(
                    event, dm.StartRequested | dm.NumbersAdded
                )
                assert self.dialer.status is not dm.CampaignStatus.STOPPED
                # seed 003: only an agent whose line is answered is dialled for
                assert self.dialer.sessions[command.agent_id].line_up
            elif isinstance(command, dm.HoldLine):  # hold music before a dial, never during
                assert self.dialer.sessions[command.agent_id].line_up
                dialled = {c.agent_id for c in commands if isinstance(c, dm.Dial)}
                before = commands[: commands.index(command)]
                assert not any(isinstance(c, dm.Dial) and c.agent_id in dialled for c in before)
        self.done |= {
            n.number_id for n in self.dialer.numbers.values() if n.state is dm.NumberState.DONE
        }

    @initialize(count=st.integers(0, 4), start=st.booleans())
    def campaign(self, count: int, start: bool) -> None:
        self.add_numbers(count)
        if start:
            self.start()

    def _live(self) -> list[str]:
        return sorted(self.dialer.calls)

    @rule(count=st.integers(1, 3))
    def add_numbers(self, count: int) -> None:
        if count:
            self._do(dm.NumbersAdded(numbers=tuple((f"+1{i}", {}) for i in range(count))))

    @rule()
    def start(self) -> None:
        self._do(dm.StartRequested())

    @rule()
    def stop(self) -> None:
        self._do(dm.StopRequested())

    @rule(agent=st.sampled_from(AGENTS), available=st.booleans(), line_up=st.booleans())
    def log_in(self, agent: str, available: bool, line_up: bool) -> None:
        self._do(dm.AgentLoggedIn(agent_id=agent, available=available, line_up=line_up))

    @rule(agent=st.sampled_from(AGENTS))
    def line_up(self, agent: str) -> None:
        self._do(dm.LineUp(agent_id=agent))

    @rule(agent=st.sampled_from(AGENTS), reason=st.sampled_from(["hung_up", "busy"]))
    def line_down(self, agent: str, reason: str) -> None:
        self._do(dm.LineDown(agent_id=agent, reason=reason))

    @rule(agent=st.sampled_from(AGENTS), available=st.booleans())
    def availability(self, agent: str, available: bool) -> None:
        self._do(dm.AgentAvailability(agent_id=agent, available=available))

    @rule(pick=st.integers(0, 5))
    def customer_dialled(self, pick: int) -> None:
        live = self._live()
        if live:
            self._do(dm.CustomerDialed(call_id=live[pick % len(live)]))

    @rule(pick=st.integers(0, 5))
    def connect(self, pick: int) -> None:
        live = self._live()
        if live:
            self._do(dm.CallConnected(call_id=live[pick % len(live)]))

    @rule(pick=st.integers(0, 5), outcome=outcomes)
    def end(self, pick: int, outcome: dm.Outcome) -> None:
        live = self._live()
        if live:
            call_id = live[pick % len(live)]
            number_id, _ = self.dialer.calls[call_id]
            if self.dialer.numbers[number_id].outcome is dm.Outcome.ANSWERED:
                outcome = dm.Outcome.ANSWERED  # a connected call ends as answered
            self._do(dm.CallEnded(call_id=call_id, outcome=outcome))

    @rule(pick=st.integers(0, 5))
    def refuse(self, pick: int) -> None:
        live = [
            c
            for c in self._live()
            if self.dialer.numbers[self.dialer.calls[c][0]].state is dm.NumberState.DIALING
        ]
        if live:
            self._do(dm.DialRefused(call_id=live[pick % len(live)], reason="taken"))

    @rule(agent=st.sampled_from(AGENTS), last=st.booleans())
    def respond(self, agent: str, last: bool) -> None:
        connection = self.dialer.connection_of(agent)
        call_id = connection.call_id if connection is not None else "cf-1-1-1"
        self._do(dm.ResponseStored(agent_id=agent, call_id=call_id, last_call=last))

    @rule(agent=st.sampled_from(AGENTS))
    def kick(self, agent: str) -> None:
        self._do(dm.AgentKicked(agent_id=agent))

    @rule(seconds=st.sampled_from([0.0, 1.0, 5.0, 10.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds
        self._do(dm.Tick())

    @invariant()
    def one_call_per_agent_and_per_number(self) -> None:
        agents = [agent for _, agent in self.dialer.calls.values()]
        numbers = [number for number, _ in self.dialer.calls.values()]
        assert len(agents) == len(set(agents))
        assert len(numbers) == len(set(numbers))
        for number in self.dialer.numbers.values():
            if number.state is dm.NumberState.DIALING:
                assert self.dialer.calls.get(number.call_id or "", (None,))[0] == number.number_id

    @invariant()
    def attempts_within_the_rules(self) -> None:
        for number in self.dialer.numbers.values():
            assert number.attempts <= RULES.max_attempts
            if number.state is dm.NumberState.PENDING and number.attempts:
                assert number.outcome in (dm.Outcome.BUSY, dm.Outcome.NO_ANSWER, None) or (
                    number.outcome is dm.Outcome.NOT_DIALED
                )

    @invariant()
    def phases_are_of_live_calls(self) -> None:
        assert self.dialer.customer_dialled <= set(self.dialer.calls)
        assert self.dialer.ending <= set(self.dialer.calls)

    @invariant()
    def finished_means_everything_done(self) -> None:
        if self.dialer.status is dm.CampaignStatus.FINISHED:
            assert not self.dialer.calls
            assert all(n.state is dm.NumberState.DONE for n in self.dialer.numbers.values())

    @invariant()
    def a_session_on_a_call_is_that_calls_agent(self) -> None:
        for session in self.dialer.sessions.values():
            if session.mode is dm.AgentMode.DIALING:
                assert self.dialer.calls[session.call_id or ""][1] == session.agent_id


DialerMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("HELPLINE_STATEFUL_EXAMPLES", "200")),
    stateful_step_count=40,
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    suppress_health_check=[HealthCheck.too_slow],
)
TestDialerInvariants = DialerMachine.TestCase
