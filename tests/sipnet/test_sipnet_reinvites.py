"""Re-INVITEs within a call's dialogs on the wire (issue 7; RFC 3261 13.3.1.4, 14):

- our 2xx to a caller's re-INVITE is resent at T1, then 2*T1, until the ACK, and no more
  after it (sipp with -nr counts the copies; its message trace times them);
- a re-INVITE whose 2xx is never ACKed ends the call: our BYE after 64*T1 (sipp as the
  caller; the agent's phone in Python, the call's other leg getting its BYE too);
- glare: the phone's re-INVITE crossing our hold re-INVITE gets 491, and ours, refused 491
  by the phone, comes again 2.1-4 s later (we own the Call-ID), still asking for hold;
  unless the engine resumed meanwhile: then no re-INVITE at all.

64*T1 is 32 s with the RFC's T1; the no-ACK tests give the B2BUA's ACK wait a T1 of 0.1 s
(`AwaitedAcks.timers`, as configurable as the RFC has it) so they take seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sipnet_phone import RtpPhone, phone_sdp
from sipnet_rtp import RtpCaller
from sipnet_support import (
    SCENARIOS,
    TENANT,
    TRUNK_HOST,
    free_port,
    poll,
    reply,
    run_sipp,
    sip_server,
    sipp_register,
)

from helpline.core import events as ev
from helpline.sip.message import Request, Response
from helpline.sip.transaction_base import TimerConfig

FAST = TimerConfig(t1=0.1)  # 64*T1 = 6.4 s
_STAMP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)$")


def sipp_trace(cwd: Path) -> list[tuple[float, str, str, str]]:
    """sipp's -trace_msg log in `cwd`: (time, "sent"/"received", start line, CSeq) each."""
    (log,) = cwd.glob("*_messages.log")
    found: list[tuple[float, str, str, str]] = []
    lines = log.read_text(errors="replace").splitlines()
    for index, line in enumerate(lines):
        stamp = _STAMP.match(line)
        if stamp is None:
            continue
        when = datetime.strptime(re.sub(r"\s+", " ", stamp[1]), "%Y-%m-%d %H:%M:%S.%f")
        way = "sent" if "sent" in lines[index + 1] else "received"
        start = lines[index + 3].strip()
        cseq = next(
            (x.split(":", 1)[1].strip() for x in lines[index + 3 :] if x.startswith("CSeq:")),
            "",
        )
        found.append((when.timestamp(), way, start, cseq))
    return found


async def _record(server: Any) -> Any:
    async def written() -> bool:
        return await server.store.records.count_records(TENANT) >= 1

    await poll(written, "the call record", timeout=15)
    (record,) = (await server.store.records.list_records(TENANT)).items
    return record


async def test_our_2xx_to_a_reinvite_is_resent_doubling_until_the_ack(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        (tmp_path / "caller").mkdir()
        status, log = await run_sipp(
            SCENARIOS / "caller_reinvite_late_ack.xml", server.port,
            "-s", "100", "-m", "1", "-nr", "-trace_msg", "-timeout", "20s",
            local_host=TRUNK_HOST, cwd=tmp_path / "caller",
        )  # fmt: skip
        # three 200s to the re-INVITE before its ACK, none in the 2.5 s after it
        assert status == 0, log
        trace = sipp_trace(tmp_path / "caller")
        copies = [
            t
            for t, way, start, cseq in trace
            if way == "received" and start.startswith("SIP/2.0 200") and cseq == "2 INVITE"
        ]
        assert len(copies) == 3
        first, second = copies[1] - copies[0], copies[2] - copies[1]
        assert first >= 0.45  # T1 = 0.5 s (timers never fire early)
        assert second >= 0.95  # then 2*T1
        assert len(server.sip.b2bua.acks) == 0  # its ACK matched the re-INVITE's dialog and CSeq
        record = await _record(server)
        assert record.disconnected_by == "customer"


async def test_a_reinvite_s_2xx_never_acked_ends_the_call_with_our_bye(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        server.sip.b2bua.acks.timers = FAST
        (tmp_path / "caller").mkdir()
        status, log = await run_sipp(
            SCENARIOS / "caller_reinvite_no_ack.xml", server.port,
            "-s", "100", "-m", "1", "-trace_msg", "-timeout", "30s",
            local_host=TRUNK_HOST, cwd=tmp_path / "caller", timeout=40,
        )  # fmt: skip
        assert status == 0, log  # our BYE came, and got its 200
        trace = sipp_trace(tmp_path / "caller")
        ok = next(t for t, way, start, cseq in trace if way == "received" and cseq == "2 INVITE"
                  and start.startswith("SIP/2.0 200"))  # fmt: skip
        bye = next(t for t, way, start, _ in trace if way == "received" and start.startswith("BYE"))
        assert bye - ok >= 64 * FAST.t1 - 0.05
        record = await _record(server)
        assert (record.disconnected_by, record.end_reason) == ("system", "no_ack")


async def _bridged_to(server: Any, agent: str) -> Any:
    def bridged() -> bool:
        calls = list(server.sip.b2bua.calls.values())
        return bool(calls) and calls[0].bridged == agent

    await poll(bridged, f"the call bridged to {agent}", timeout=15)
    (call,) = server.sip.b2bua.calls.values()
    return call


async def test_the_phone_s_reinvite_never_acked_ends_the_call(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        server.sip.b2bua.acks.timers = FAST
        alice = await RtpPhone.register(server.port, "alice")
        await server.settle()
        caller = await RtpCaller.open(server.port, "100")
        try:
            await caller.call()
            await alice.answer()
            await _bridged_to(server, "alice")
            alice.sip.send(alice._in_dialog("INVITE", body=phone_sdp(alice.rtp_port, "sendonly")))
            ok = await alice.sip.expect(200)
            again = await alice.sip.expect(200)  # T1 later: no ACK yet
            assert again.serialize() == ok.serialize()
            bye = await alice.sip.expect("BYE", timeout=10)  # never ACKed: the session is over
            assert isinstance(bye, Request) and bye.call_id == alice.invite_call_id
            alice.sip.send(reply(bye, 200, tag=alice.to_tag))
            await caller.expect_bye(timeout=5)  # the call ends, the caller's leg too
            record = await _record(server)
            assert (record.disconnected_by, record.end_reason) == ("system", "no_ack")
        finally:
            caller.close()
            alice.close()


async def test_crossing_reinvites_get_491_and_ours_is_retried(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        phone_port = free_port()
        (tmp_path / "phone").mkdir()
        phone = asyncio.create_task(
            run_sipp(
                SCENARIOS / "agent_glare.xml", server.port,
                "-m", "1", "-timeout", "30s", "-trace_msg",
                local_port=phone_port, cwd=tmp_path / "phone", timeout=40,
            )
        )  # fmt: skip
        status, log = await sipp_register(server, tmp_path, "alice", contact_port=phone_port)
        assert status == 0, log
        await server.settle()
        caller = await RtpCaller.open(server.port, "100")
        try:
            await caller.call()
            call = await _bridged_to(server, "alice")
            runtime = server.app.state.helpline.hub.runtime(TENANT)
            await runtime.submit(ev.HoldRequested(call_id=call.call_id))
            leg = call.agents["alice"]
            await poll(lambda: leg.on_hold, "the phone held by our retried re-INVITE", 15)
            await caller.hang_up()
            status, log = await asyncio.wait_for(phone, 15)
            # the phone's re-INVITE got 491 (nothing else would do), ours came again sendonly
            assert status == 0, log
        finally:
            caller.close()
        trace = sipp_trace(tmp_path / "phone")
        refused = next(t for t, way, start, cseq in trace
                       if way == "sent" and start.startswith("SIP/2.0 491"))  # fmt: skip
        retried = next(
            t
            for t, way, start, cseq in trace
            if way == "received" and start.startswith("INVITE") and cseq == "3 INVITE"
        )
        assert retried - refused >= 2.1 - 0.01  # we own the Call-ID: 2.1-4 s (14.1)


@contextlib.asynccontextmanager
async def _engine_holds(server: Any) -> AsyncIterator[tuple[RtpPhone, RtpCaller, Any, Request]]:
    """A trunk caller bridged to alice's phone, then the engine's hold: yields the phone,
    the caller, the call and our hold re-INVITE as the phone got it (not yet answered)."""
    alice = await RtpPhone.register(server.port, "alice")
    await server.settle()
    caller = await RtpCaller.open(server.port, "100")
    try:
        await caller.call()
        await alice.answer()
        call = await _bridged_to(server, "alice")
        runtime = server.app.state.helpline.hub.runtime(TENANT)
        await runtime.submit(ev.HoldRequested(call_id=call.call_id))
        hold = await alice.sip.expect("INVITE")
        assert isinstance(hold, Request)
        yield alice, caller, call, hold
    finally:
        caller.close()
        alice.close()


async def test_a_491_d_hold_is_not_retried_once_the_engine_resumed(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server, _engine_holds(server) as held:
        alice, caller, call, hold = held
        alice.sip.send(reply(hold, 491, tag=alice.to_tag))
        ack = await alice.sip.expect("ACK")
        assert isinstance(ack, Request) and ack.cseq.number == hold.cseq.number
        runtime = server.app.state.helpline.hub.runtime(TENANT)
        await runtime.submit(ev.ResumeRequested(call_id=call.call_id))
        since = time.monotonic()
        while time.monotonic() - since < 4.5:  # past the latest retry (4 s)
            try:
                _, message = await alice.sip.next(timeout=4.5)
            except TimeoutError:
                break
            assert not isinstance(message, Request) or message.method != "INVITE", (
                "a re-INVITE for a hold no longer wanted"
            )
        assert alice.sip.methods.count("INVITE") == 2  # the call's and the one hold
        assert not call.agents["alice"].on_hold
        await caller.hang_up()
        await alice.expect_bye()


async def test_a_second_reinvite_supersedes_the_first_s_lost_ack(tmp_path: Path) -> None:
    """The peer could not have sent a new re-INVITE before its earlier INVITE transaction
    ended (14.1): our first 2xx reached it, so only that ACK was lost; the call goes on."""
    async with sip_server(tmp_path) as server:
        server.sip.b2bua.acks.timers = FAST
        alice = await RtpPhone.register(server.port, "alice")
        await server.settle()
        caller = await RtpCaller.open(server.port, "100")
        try:
            await caller.call()
            await alice.answer()
            call = await _bridged_to(server, "alice")
            alice.sip.send(alice._in_dialog("INVITE", body=phone_sdp(alice.rtp_port)))
            await alice.sip.expect(200)  # its ACK "lost"
            ok = await alice.reinvite("sendrecv")  # a later one, ACKed
            assert isinstance(ok, Response) and ok.cseq.number == 3  # the first was 2
            await asyncio.sleep(64 * FAST.t1 + 1)
            assert "BYE" not in alice.sip.methods
            assert not call.ended and len(server.sip.b2bua.acks) == 0
            await caller.hang_up()
            await alice.expect_bye()
        finally:
            caller.close()
            alice.close()


@pytest.mark.parametrize("status", [481, 408])
async def test_a_481_or_408_to_our_reinvite_ends_the_dialog_and_the_call(
    tmp_path: Path, status: int
) -> None:
    """RFC 3261 12.2.1.2: the phone answers our hold re-INVITE 481 (it lost the dialog: no
    BYE to it) or 408 (our BYE ends it); either way the call ends, the caller gets its BYE,
    and the record says the system ended it because the agent was lost."""
    async with sip_server(tmp_path) as server, _engine_holds(server) as held:
        alice, caller, _call, hold = held
        alice.sip.send(reply(hold, status, tag=alice.to_tag))
        await caller.expect_bye(timeout=10)
        if status == 408:
            await alice.expect_bye()
        else:
            with pytest.raises(TimeoutError):
                await alice.sip.expect("BYE", timeout=1.0)
        record = await _record(server)
        assert (record.disconnected_by, record.end_reason) == ("system", "agent_lost")
        assert record.agent_id == "alice"
