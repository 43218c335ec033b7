"""The pure parts of the CCAI API: minutes of wait, the outbound number table (seed 004)."""

from __future__ import annotations

import pytest

from helpline.api.compat.ccai.calls import outbound_number
from helpline.api.compat.ccai.wait_times import wait_minutes
from helpline.api.errors import VendorError


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(0.0, 0), (0.4, 0), (1.0, 1), (60.0, 1), (61.0, 2), (120.0, 2), (540.0000001, 9), (539.6, 9)],
)
def test_wait_minutes_round_up_whole_seconds(seconds: float, minutes: int) -> None:
    assert wait_minutes(seconds) == minutes


TABLE = ["+18885550101", "+18885550102"]
GLOBAL = "+18885550000"


@pytest.mark.parametrize(
    ("requested", "table", "used"),
    [
        ("+18885550102", TABLE, "+18885550102"),
        ("18885550102", ["18885550102"], "18885550102"),  # the "+" is optional
        ("+1 888 555 0102", TABLE, TABLE[0]),  # not well formed: the first
        ("", TABLE, TABLE[0]),
        (None, TABLE, TABLE[0]),
        (GLOBAL, TABLE, GLOBAL),
        ("+18885550102", [], GLOBAL),  # no number: the global one, whatever is given
        (None, [], GLOBAL),
    ],
)
def test_the_outbound_number_table(requested: str | None, table: list[str], used: str) -> None:
    assert outbound_number(requested, table, GLOBAL) == used


def test_no_number_at_all_leaves_the_caller_id_empty() -> None:
    assert outbound_number("+18885550102", [], None) is None


def test_a_number_the_tenant_does_not_own_is_refused() -> None:
    with pytest.raises(VendorError) as raised:
        outbound_number("+19995550123", TABLE, GLOBAL)
    assert raised.value.status == 422
    assert raised.value.body["error"]["details"]["fields"][0]["path"] == "body.outbound_number"
