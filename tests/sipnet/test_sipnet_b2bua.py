"""The B2BUA's legs with exact control (bare UDP peers as the trunk and the phone): real
timers retransmit an unanswered INVITE, the engine's answer timeout CANCELs it, a caller's
CANCEL gets 487, a refused source gets 403, an unknown number 404, and our 2xx to the
caller is retransmitted until its ACK (RFC 3261 13.3.1.4)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from sipnet_support import (
    CENTER,
    PHONE_HOST,
    TENANT,
    TRUNK_HOST,
    RawPeer,
    offer_sdp,
    poll,
    raw_register,
    raw_request,
    reply,
    sip_server,
)

from helpline.sip.message import Request, Response
from helpline.sip.transaction_base import TimerConfig

FAST = TimerConfig(t1=0.1)  # 64*T1 = 6.4 s

QUICK = {
    **CENTER,
    "queues": [{"id": "support", "groups": ["team"], "wait_agent_answer_timeout": "3s"}],
}


def _ack_for(peer: RawPeer, ok: Response, uri: str, call_id: str) -> bytes:
    to = ok.headers.get("To") or ""
    return raw_request(peer, "ACK", uri, call_id=call_id).replace(
        f"To: <{uri}>".encode(), f"To: {to}".encode()
    )


async def _records(server, count: int = 1):  # type: ignore[no-untyped-def]
    async def written() -> bool:
        return await server.store.records.count_records(TENANT) >= count

    await poll(written, "the call record")
    return (await server.store.records.list_records(TENANT)).items


async def test_unanswered_invite_is_retransmitted_then_cancelled_at_the_answer_timeout(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path, QUICK) as server:
        phone = await RawPeer.open(PHONE_HOST, server.port)
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            assert (await raw_register(phone, "alice")).status == 200
            uri, call_id = f"sip:100@127.0.0.1:{server.port}", uuid.uuid4().hex
            trunk.send(
                raw_request(
                    trunk,
                    "INVITE",
                    uri,
                    call_id=call_id,
                    body=offer_sdp(TRUNK_HOST),
                    extra="Content-Type: application/sdp\r\n",
                )
            )
            ok = await trunk.expect(200)  # the queue answers the caller
            assert isinstance(ok, Response) and b"m=audio" in ok.body
            trunk.send(_ack_for(trunk, ok, uri, call_id))
            # the phone stays silent: timer A resends the INVITE at T1, then 2*T1 (17.1.1.2)
            first_at, invite = await phone.next()
            second_at, again = await phone.next()
            third_at, third = await phone.next()
            assert isinstance(invite, Request) and invite.method == "INVITE"
            assert again.serialize() == invite.serialize() == third.serialize()
            first_gap, second_gap = second_at - first_at, third_at - second_at
            assert 0.4 < first_gap < 1.2  # T1 = 0.5 s, give or take a busy machine
            assert 0.9 < second_gap < 2.2  # doubled
            phone.send(reply(invite, 180))  # it rings now; nobody picks up
            cancel = await phone.expect("CANCEL", timeout=5)  # the 3 s answer timeout
            assert isinstance(cancel, Request)
            assert cancel.top_via.branch == invite.top_via.branch  # 9.1
            phone.send(reply(cancel, 200))
            phone.send(reply(invite, 487))
            ack = await phone.expect("ACK")  # the client transaction ACKs the 487 (17.1.1.3)
            assert isinstance(ack, Request)
            trunk.send(
                raw_request(trunk, "BYE", uri, call_id=call_id, cseq=2).replace(
                    f"To: <{uri}>".encode(), f"To: {ok.headers.get('To')}".encode()
                )
            )
            assert (await trunk.expect(200)).cseq.method == "BYE"
            (record,) = await _records(server)
            assert record.result == "abandoned_in_queue"
            assert record.agent_id is None
        finally:
            phone.close()
            trunk.close()


async def test_a_caller_who_cancels_at_once_gets_487_and_a_record(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            uri, call_id = f"sip:100@127.0.0.1:{server.port}", uuid.uuid4().hex
            branch = "z9hG4bK" + uuid.uuid4().hex[:12]
            trunk.send(raw_request(trunk, "INVITE", uri, call_id=call_id, branch=branch))
            trunk.send(raw_request(trunk, "CANCEL", uri, call_id=call_id, branch=branch))
            statuses = []
            while 487 not in statuses:
                _, message = await trunk.next()
                assert isinstance(message, Response)
                if message.status >= 200:
                    statuses.append(message.status)
            assert sorted(statuses) == [200, 487]  # the CANCEL's 200 and the INVITE's 487
            (record,) = await _records(server)
            assert record.disconnected_by == "customer"
        finally:
            trunk.close()


async def test_invite_from_outside_the_trunks_gets_403(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        stranger = await RawPeer.open(PHONE_HOST, server.port)
        try:
            uri = f"sip:100@127.0.0.1:{server.port}"
            stranger.send(raw_request(stranger, "INVITE", uri, call_id=uuid.uuid4().hex))
            assert isinstance(await stranger.expect(403), Response)
            assert not server.sip.b2bua.calls
        finally:
            stranger.close()


async def test_a_number_not_in_the_center_gets_404(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            uri = f"sip:999@127.0.0.1:{server.port}"
            trunk.send(raw_request(trunk, "INVITE", uri, call_id=uuid.uuid4().hex))
            assert isinstance(await trunk.expect(404), Response)
        finally:
            trunk.close()


async def test_our_2xx_is_retransmitted_until_the_ack(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            uri, call_id = f"sip:100@127.0.0.1:{server.port}", uuid.uuid4().hex
            trunk.send(
                raw_request(
                    trunk,
                    "INVITE",
                    uri,
                    call_id=call_id,
                    body=offer_sdp(TRUNK_HOST),
                    extra="Content-Type: application/sdp\r\n",
                )
            )
            ok = await trunk.expect(200)
            again = await trunk.expect(200, timeout=2)  # T1 later, no ACK yet
            assert again.serialize() == ok.serialize()
            trunk.send(_ack_for(trunk, ok, uri, call_id))
            await asyncio.sleep(0.1)
            while not trunk.inbox.empty():  # one may have crossed the ACK on the way
                trunk.inbox.get_nowait()
            await asyncio.sleep(1.5)  # past the next retransmission (2*T1)
            assert trunk.inbox.empty()
        finally:
            trunk.close()


def _invite(trunk: RawPeer, uri: str, call_id: str, *, cseq: int = 1, to: str = "") -> bytes:
    invite = raw_request(
        trunk,
        "INVITE",
        uri,
        call_id=call_id,
        cseq=cseq,
        body=offer_sdp(TRUNK_HOST),
        extra="Content-Type: application/sdp\r\n",
    )
    return invite.replace(f"To: <{uri}>".encode(), f"To: {to}".encode()) if to else invite


async def _unacked_call(server: Any, trunk: RawPeer) -> tuple[str, str, Response]:
    """A call from the trunk answered by us, our 2xx resent at FAST's T1 and never ACKed."""
    server.sip.b2bua.acks.timers = FAST
    uri, call_id = f"sip:100@127.0.0.1:{server.port}", uuid.uuid4().hex
    trunk.send(_invite(trunk, uri, call_id))
    ok = await trunk.expect(200)
    assert isinstance(ok, Response)
    return uri, call_id, ok


async def test_no_ack_for_our_2xx_in_64_t1_ends_the_call_with_our_bye(tmp_path: Path) -> None:
    """13.3.1.4: our 2xx to the caller goes out at T1, doubling to T2, and with no ACK in
    64*T1 the dialog is ended with a BYE; the record says the system ended it (no_ack)."""
    async with sip_server(tmp_path) as server:
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            _, _, ok = await _unacked_call(server, trunk)
            (call,) = server.sip.b2bua.calls.values()
            resent = 0
            while True:
                _, message = await trunk.next(timeout=64 * FAST.t1 + 2)
                if isinstance(message, Response) and message.cseq.number == 1:
                    assert message.serialize() == ok.serialize()  # the same 2xx, unchanged
                    resent += 1
                elif isinstance(message, Request) and message.method == "BYE":
                    break
            # T1 doubling to T2 (4 s) within 6.4 s: after 0.1, 0.3, 0.7, 1.5, 3.1 s
            assert 4 <= resent <= 6
            trunk.send(reply(message, 200))
            (record,) = await _records(server)
            assert (record.call_id, record.end_reason) == (call.call_id, "no_ack")
            assert not server.sip.b2bua.calls and len(server.sip.b2bua.acks) == 0
        finally:
            trunk.close()


async def test_a_reinvite_from_the_caller_stands_for_its_lost_ack(tmp_path: Path) -> None:
    """The caller could only send a re-INVITE once our 2xx had reached it (14.1): its ACK was
    lost, not our answer. We stop resending that 2xx and the call goes on past 64*T1."""
    async with sip_server(tmp_path) as server:
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            uri, call_id, ok = await _unacked_call(server, trunk)
            to = ok.headers.get("To") or ""
            trunk.send(_invite(trunk, uri, call_id, cseq=2, to=to))
            while True:
                refreshed = await trunk.expect(200)
                assert isinstance(refreshed, Response)
                if refreshed.cseq.number == 2:
                    break
            ack = _ack_for(trunk, refreshed, uri, call_id).replace(b"CSeq: 1 ", b"CSeq: 2 ")
            trunk.send(ack)
            await asyncio.sleep(0.3)
            while not trunk.inbox.empty():  # an initial 2xx may have crossed the re-INVITE
                trunk.inbox.get_nowait()
            await asyncio.sleep(64 * FAST.t1 + 0.5)
            assert trunk.inbox.empty()  # no more 2xx, and no BYE: the call is alive
            (call,) = server.sip.b2bua.calls.values()
            assert call.caller.acked and not call.ended
            trunk.send(
                raw_request(trunk, "BYE", uri, call_id=call_id, cseq=3).replace(
                    f"To: <{uri}>".encode(), f"To: {to}".encode()
                )
            )
            assert isinstance(await trunk.expect(200), Response)
            (record,) = await _records(server)
            assert record.end_reason != "no_ack"
        finally:
            trunk.close()


async def test_a_late_offer_s_answer_in_the_ack_is_taken_after_a_reinvite(
    tmp_path: Path,
) -> None:
    """The caller's INVITE had no SDP: our 2xx carries the offer and its answer can only come
    in the ACK (13.2.1). A re-INVITE before that ACK must not stop the 2xx being resent (the
    caller resends its ACK for each), nor make us drop the answer when the ACK comes."""
    async with sip_server(tmp_path) as server:
        server.sip.b2bua.acks.timers = FAST
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            uri, call_id = f"sip:100@127.0.0.1:{server.port}", uuid.uuid4().hex
            trunk.send(raw_request(trunk, "INVITE", uri, call_id=call_id))  # no offer
            ok = await trunk.expect(200)
            assert isinstance(ok, Response) and b"m=audio" in ok.body  # our offer
            (call,) = server.sip.b2bua.calls.values()
            to = ok.headers.get("To") or ""
            trunk.send(_invite(trunk, uri, call_id, cseq=2, to=to))
            while True:  # our 2xx to the INVITE is still resent after the re-INVITE
                _, message = await trunk.next(timeout=3)
                if isinstance(message, Response) and message.cseq.number == 1:
                    break
            assert call.session is None and not call.caller.acked
            ack = raw_request(
                trunk,
                "ACK",
                uri,
                call_id=call_id,
                body=offer_sdp(TRUNK_HOST),
                extra="Content-Type: application/sdp\r\n",
            )
            trunk.send(ack.replace(f"To: <{uri}>".encode(), f"To: {to}".encode()))
            await poll(lambda: call.session is not None, "the ACK's answer")
            assert call.caller.acked and call.media is not None
            assert call.media.caller is not None  # our endpoint sends to the answer's address
        finally:
            trunk.close()


async def test_a_reinvite_is_answered_in_its_dialog_not_taken_for_a_new_call(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path) as server:
        trunk = await RawPeer.open(TRUNK_HOST, server.port)
        try:
            uri, call_id = f"sip:100@127.0.0.1:{server.port}", uuid.uuid4().hex
            trunk.send(
                raw_request(
                    trunk,
                    "INVITE",
                    uri,
                    call_id=call_id,
                    body=offer_sdp(TRUNK_HOST),
                    extra="Content-Type: application/sdp\r\n",
                )
            )
            ok = await trunk.expect(200)
            trunk.send(_ack_for(trunk, ok, uri, call_id))
            to = f"To: {ok.headers.get('To')}".encode()
            reinvite = raw_request(
                trunk,
                "INVITE",
                uri,
                call_id=call_id,
                cseq=2,
                body=offer_sdp(TRUNK_HOST),
                extra="Content-Type: application/sdp\r\n",
            )
            trunk.send(reinvite.replace(f"To: <{uri}>".encode(), to))
            refreshed = await trunk.expect(200)
            assert refreshed.cseq.number == 2 and refreshed.body == ok.body
            assert len(server.sip.b2bua.calls) == 1  # still the one call
            stranger = raw_request(
                trunk, "INVITE", uri, call_id="no-such-dialog", body=offer_sdp(TRUNK_HOST)
            )
            trunk.send(stranger.replace(f"To: <{uri}>".encode(), f"To: <{uri}>;tag=x".encode()))
            assert isinstance(await trunk.expect(481), Response)
        finally:
            trunk.close()
