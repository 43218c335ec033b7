"""RFC 3261 section 17.2 server transactions, table-driven like the client ones (see
test_sip_transactions.py): rows written from figures 7 and 8 and Table 4, with RFC 6026's
Accepted state for the INVITE server transaction."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_sip_transactions import Machine, Step, run, server

from helpline.sip.server_transaction import INVITE_SERVER_TABLE, NON_INVITE_SERVER_TABLE
from helpline.sip.transaction_base import State

S = State

SCENARIOS: dict[str, tuple[Callable[[], Machine], list[Step]]] = {
    # -- server INVITE (17.2.1) -------------------------------------------------------
    "ist: 100 at once, retransmissions answered, G backs off to T2, ACK, I": (
        server("INVITE"),
        [
            ("start", ["send 100", "tu INVITE"], S.PROCEEDING),
            ("req", ["send 100"], S.PROCEEDING),
            ("t180", ["send 180"], S.PROCEEDING),
            ("req", ["send 180"], S.PROCEEDING),
            ("t486", ["send 486", "start G 0.5", "start H 32"], S.COMPLETED),
            ("req", ["send 486"], S.COMPLETED),
            ("G", ["send 486", "start G 1"], S.COMPLETED),
            ("G", ["send 486", "start G 2"], S.COMPLETED),
            ("G", ["send 486", "start G 4"], S.COMPLETED),
            ("G", ["send 486", "start G 4"], S.COMPLETED),
            ("ack", ["cancel G", "cancel H", "start I 5"], S.CONFIRMED),
            ("ack", [], S.CONFIRMED),
            ("req", [], S.CONFIRMED),
            ("I", ["end normal"], S.TERMINATED),
        ],
    ),
    "ist: no ACK, timer H": (
        server("INVITE"),
        [
            ("start", ["send 100", "tu INVITE"], S.PROCEEDING),
            ("t404", ["send 404", "start G 0.5", "start H 32"], S.COMPLETED),
            ("H", ["end timeout", "cancel G"], S.TERMINATED),
        ],
    ),
    "ist: 2xx, Accepted absorbs the INVITE until L (RFC 6026)": (
        server("INVITE"),
        [
            ("start", ["send 100", "tu INVITE"], S.PROCEEDING),
            ("t200", ["send 200", "start L 32"], S.ACCEPTED),
            ("req", [], S.ACCEPTED),  # a retransmitted INVITE is no new call
            ("t200", ["send 200"], S.ACCEPTED),  # the TU's 2xx retransmission
            ("ack", ["tu ACK"], S.ACCEPTED),
            ("L", ["end normal"], S.TERMINATED),
        ],
    ),
    "ist over TCP: L still runs after a 2xx": (
        server("INVITE", reliable=True),
        [
            ("start", ["send 100", "tu INVITE"], S.PROCEEDING),
            ("t200", ["send 200", "start L 32"], S.ACCEPTED),
        ],
    ),
    "ist: transport errors": (
        server("INVITE"),
        [
            ("start", ["send 100", "tu INVITE"], S.PROCEEDING),
            ("err", ["end transport_error"], S.TERMINATED),
        ],
    ),
    "ist: transport error in Completed": (
        server("INVITE"),
        [
            ("start", ["send 100", "tu INVITE"], S.PROCEEDING),
            ("t500", ["send 500", "start G 0.5", "start H 32"], S.COMPLETED),
            ("err", ["end transport_error", "cancel G", "cancel H"], S.TERMINATED),
        ],
    ),
    "ist: TU sends its own 100, nothing to resend yet": (
        server("INVITE", trying=False),
        [
            ("start", ["tu INVITE"], S.PROCEEDING),
            ("req", [], S.PROCEEDING),
        ],
    ),
    "ist over TCP: no G, I is zero": (
        server("INVITE", reliable=True),
        [
            ("start", ["send 100", "tu INVITE"], S.PROCEEDING),
            ("t486", ["send 486", "start H 32"], S.COMPLETED),
            ("ack", ["cancel H", "end normal"], S.TERMINATED),
        ],
    ),
    # -- server non-INVITE (17.2.2) ---------------------------------------------------
    "nist: absorbs in Trying, resends after, J": (
        server("OPTIONS"),
        [
            ("start", ["tu OPTIONS"], S.TRYING),
            ("req", [], S.TRYING),
            ("t100", ["send 100"], S.PROCEEDING),
            ("req", ["send 100"], S.PROCEEDING),
            ("t180", ["send 180"], S.PROCEEDING),
            ("t200", ["send 200", "start J 32"], S.COMPLETED),
            ("req", ["send 200"], S.COMPLETED),
            ("t500", [], S.COMPLETED),
            ("J", ["end normal"], S.TERMINATED),
        ],
    ),
    "nist: final from Trying": (
        server("REGISTER"),
        [
            ("start", ["tu REGISTER"], S.TRYING),
            ("t401", ["send 401", "start J 32"], S.COMPLETED),
            ("err", ["end transport_error", "cancel J"], S.TERMINATED),
        ],
    ),
    "nist: 2xx from Trying": (
        server("BYE"),
        [("start", ["tu BYE"], S.TRYING), ("t200", ["send 200", "start J 32"], S.COMPLETED)],
    ),
    "nist: failure from Proceeding": (
        server("OPTIONS"),
        [
            ("start", ["tu OPTIONS"], S.TRYING),
            ("t100", ["send 100"], S.PROCEEDING),
            ("t403", ["send 403", "start J 32"], S.COMPLETED),
        ],
    ),
    "nist: transport error in Proceeding": (
        server("OPTIONS"),
        [
            ("start", ["tu OPTIONS"], S.TRYING),
            ("t100", ["send 100"], S.PROCEEDING),
            ("err", ["end transport_error"], S.TERMINATED),
        ],
    ),
    "nist over TCP: J is zero": (
        server("OPTIONS", reliable=True),
        [("start", ["tu OPTIONS"], S.TRYING), ("t200", ["send 200", "end normal"], S.TERMINATED)],
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    run(*SCENARIOS[name])


def test_the_scenarios_take_every_transition_of_the_server_tables() -> None:
    seen: set[tuple[int, State, str]] = set()
    for factory, steps in SCENARIOS.values():
        run(factory, steps, seen)
    for table in (INVITE_SERVER_TABLE, NON_INVITE_SERVER_TABLE):
        missing = set(table) - {(state, kind) for key, state, kind in seen if key == id(table)}
        assert not missing
