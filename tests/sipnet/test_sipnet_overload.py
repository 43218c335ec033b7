"""Far behind, the server refuses new calls with 503 and Retry-After, and takes them again
once it has caught up (telephony/sip/overload.py). The lateness is real: the test blocks the
server's event loop, as a burst of work past its capacity would."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from sipnet_support import TRUNK_HOST, RawPeer, offer_sdp, raw_request, sip_server

from helpline.cli import main
from helpline.settings import Settings
from helpline.sip.message import Response
from helpline.telephony.sip.overload import LoadGauge, OverloadPolicy, shed_until
from helpline.telephony.sip.settings import sip_config

FAST = OverloadPolicy(max_lag_s=0.1, period_s=0.01, hold_s=0.6, window_s=0.01)


def test_new_calls_are_shed_only_past_the_lag_and_for_the_hold() -> None:
    assert shed_until(FAST, 0.05, now=10.0, until=0.0) == 0.0  # late, within the limit
    assert shed_until(FAST, 0.15, now=10.0, until=0.0) == pytest.approx(10.6)
    assert shed_until(FAST, 0.15, now=10.0, until=11.0) == 11.0  # a longer hold stands
    never = OverloadPolicy(max_lag_s=0)
    assert shed_until(never, 30.0, now=10.0, until=0.0) == 0.0
    assert OverloadPolicy(hold_s=0.2).retry_after_s == 1  # whole seconds, at least one
    assert OverloadPolicy(hold_s=4.4).retry_after_s == 4


async def test_one_pause_is_averaged_away_a_lasting_one_is_not() -> None:
    """A garbage collection or a big commit stalls the loop once: no calls are refused for
    it. Lateness that lasts (the loop blocked tick after tick) passes the average."""
    policy = OverloadPolicy(max_lag_s=0.1, period_s=0.01, hold_s=0.6, window_s=0.1)
    gauge = LoadGauge(policy)
    gauge.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # one pause of 0.3 s: a tenth of it reaches the average
        await asyncio.sleep(0.03)
        assert gauge.max_late_s >= 0.25 and not gauge.shedding()
        for _ in range(20):  # behind for good: each tick late by 0.15 s
            time.sleep(0.15)
            await asyncio.sleep(0)
        assert gauge.shedding() and gauge.average_s > policy.max_lag_s
    finally:
        gauge.stop()


async def test_the_gauge_sees_a_blocked_loop_and_recovers() -> None:
    gauge = LoadGauge(FAST)
    gauge.start()
    try:
        await asyncio.sleep(0.05)
        assert not gauge.shedding()
        time.sleep(0.3)  # the loop can run nothing meanwhile: its next tick is 0.3 s late
        await asyncio.sleep(0.02)
        assert gauge.shedding() and gauge.max_late_s >= 0.25
        await asyncio.sleep(FAST.hold_s + 0.1)
        assert not gauge.shedding()
    finally:
        gauge.stop()


def _invite(caller: RawPeer, call_id: str) -> bytes:
    return raw_request(
        caller,
        "INVITE",
        "sip:100@127.0.0.1",
        call_id=call_id,
        body=offer_sdp(TRUNK_HOST),
        extra="Content-Type: application/sdp\r\n",
    )


async def _final_or_ringing(caller: RawPeer, call_id: str) -> Response:
    """The first ringing or final answer to the INVITE of `call_id` (the 503 to an earlier
    INVITE is resent until its ACK, which this caller never sends: skipped)."""
    while True:
        _, message = await caller.next(timeout=5.0)
        if isinstance(message, Response) and message.status >= 180 and message.call_id == call_id:
            return message


async def test_a_server_far_behind_answers_new_calls_503_then_takes_them_again(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path) as server:
        sip = server.sip
        sip.load.stop()
        sip.load = LoadGauge(FAST)
        sip.load.start()
        caller = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            await asyncio.sleep(0.05)
            time.sleep(0.3)  # a burst of work the loop could not get through in time
            await asyncio.sleep(0.03)  # the late tick runs
            refused = uuid.uuid4().hex
            caller.send(_invite(caller, refused))
            busy = await _final_or_ringing(caller, refused)
            assert busy.status == 503 and busy.headers.get("Retry-After") == "1"
            assert sip.load.refused == 1 and not sip.b2bua.calls  # no call was started
            await asyncio.sleep(FAST.hold_s + 0.1)  # caught up
            later = uuid.uuid4().hex
            caller.send(_invite(caller, later))
            taken = await _final_or_ringing(caller, later)
            assert taken.status in (180, 200)
            assert len(sip.b2bua.calls) == 1
        finally:
            caller.close()


def test_the_overload_lag_defaults_to_200_ms_and_reaches_the_sip_config() -> None:
    assert sip_config(Settings()).overload.max_lag_s == 0.2
    assert sip_config(Settings(sip_overload_lag_ms=0)).overload.max_lag_s == 0  # never shed


def test_serve_refuses_a_bad_overload_lag_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--sip-port", "0", "--sip-overload-lag", "-5"]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "HELPLINE_SIP_OVERLOAD_LAG_MS (--sip-overload-lag)" in error
