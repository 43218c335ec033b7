"""Whatever order events come in, a transaction keeps its bookkeeping straight: the timers its
commands leave running are the ones it thinks are running, it says Terminated exactly once
and only when it reaches Terminated, and after that it is silent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sip_transactions import event, make_request

from helpline.sip.client_transaction import ClientTransaction
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import (
    CancelTimer,
    RequestReceived,
    ResponseReceived,
    StartTimer,
    State,
    Terminated,
    Timer,
    TimerFired,
)

TIMERS = [timer.value for timer in Timer]
CLIENT_CODES = ["r100", "r180", "r200", "r486", "err", *TIMERS]
SERVER_CODES = ["t100", "t180", "t200", "t486", "req", "ack", "err", *TIMERS]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["INVITE", "OPTIONS"]),
    st.booleans(),
    st.booleans(),
    st.lists(st.integers(0, 100), max_size=25),
)
def test_bookkeeping_holds_for_any_event_order(
    method: str, is_client: bool, reliable: bool, picks: list[int]
) -> None:
    vocabulary = CLIENT_CODES if is_client else SERVER_CODES
    codes = [vocabulary[pick % len(vocabulary)] for pick in picks]
    request = make_request(method)
    machine = (
        ClientTransaction(request, reliable=reliable)
        if is_client
        else ServerTransaction(request, reliable=reliable)
    )
    running: set[Timer] = set()
    ended = 0
    for code in ["start", *codes]:
        happened = event(code, machine)
        if isinstance(happened, TimerFired):
            running.discard(happened.timer)  # the shell's handle has fired either way
        commands = machine.handle(happened)
        if ended:
            assert commands == []
        for command in commands:
            if isinstance(command, StartTimer):
                assert command.timer not in running and command.delay > 0
                running.add(command.timer)
            elif isinstance(command, CancelTimer):
                assert command.timer in running
                running.discard(command.timer)
            elif isinstance(command, Terminated):
                ended += 1
        assert running == machine.running_timers
        assert (machine.state is State.TERMINATED) == (ended == 1)
    assert ended <= 1


def test_events_of_the_other_role_are_refused() -> None:
    request = make_request("INVITE")
    client = ClientTransaction(request, reliable=False)
    server = ServerTransaction(request, reliable=False)
    with pytest.raises(TypeError, match="ClientTransaction cannot handle RequestReceived"):
        client.handle(RequestReceived(request))
    response = event("r180", client)
    assert isinstance(response, ResponseReceived)
    with pytest.raises(TypeError, match="ServerTransaction cannot handle ResponseReceived"):
        server.handle(response)
