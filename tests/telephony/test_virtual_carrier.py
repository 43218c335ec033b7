"""The virtual carrier keeps ended calls inspectable, but not forever: the browser and SIP
adapters pass every call through it, so a long-running server must not grow with each one."""

from __future__ import annotations

import pytest

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.telephony import virtual
from helpline.telephony.virtual import VirtualCarrier


async def test_ended_calls_are_kept_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    posted: list[ev.Event] = []
    carrier = VirtualCarrier()
    carrier.attach(lambda _tenant, event: posted.append(event))
    kept = 5
    monkeypatch.setattr(virtual, "ENDED_KEPT", kept)
    try:
        for n in range(12):
            call_id = f"c{n}"
            carrier.place_call("t", call_id, "+1555000", "100")
            await carrier.execute("t", cmd.Hangup(call_id=call_id, reason="done"))
        carrier.place_call("t", "live", "+1555000", "100")
        # the newest ended calls are still there, ended; older ones are gone; live stays
        assert [k[1] for k in carrier.calls if k[1] != "live"] == [f"c{n}" for n in range(7, 12)]
        assert all(carrier.call("t", f"c{n}").state == "ended" for n in range(7, 12))
        assert carrier.call("t", "live").state != "ended"
        assert len(posted) == 13  # every call arrived at the engine
    finally:
        carrier.close()
