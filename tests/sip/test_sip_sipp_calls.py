"""Whole calls with a real SIP peer, `sipp` (Debian sip-tester 3.6), over UDP on loopback:
its built-in `uac` scenario calls a minimal UAS made of our parser, serializer, transaction
layer (with real timers on the event loop) and Via rules; its `uas` scenario answers a call
our UAC places and ends with a BYE built from our Dialog. sipp exits 0 only if every message
it expected came and parsed."""

from __future__ import annotations

import asyncio
import shutil
import socket
from typing import cast

import pytest

from helpline.sip.dialog import Dialog
from helpline.sip.headers import Headers
from helpline.sip.message import Request, Response, SipParseError, make_response, parse_message
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import (
    CancelTimer,
    Command,
    DeliverToTU,
    SendMessage,
    StartTimer,
    Terminated,
    Timer,
)
from helpline.sip.transaction_layer import Transaction, TransactionLayer
from helpline.sip.via_rules import response_destination, stamp_received

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return cast("int", probe.getsockname()[1])


class Endpoint(asyncio.DatagramProtocol):
    """The smallest shell: datagrams in, commands executed, timers on the event loop."""

    def __init__(self) -> None:
        self.layer = TransactionLayer()
        self.transport: asyncio.DatagramTransport | None = None
        self.timers: dict[tuple[int, Timer], asyncio.TimerHandle] = {}
        self.to_tu: list[Request | Response] = []
        self.ended: list[Terminated] = []
        self.errors: list[SipParseError] = []
        self.peer: tuple[str, int] = ("127.0.0.1", 0)
        self.done = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.DatagramTransport", transport)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return cast("int", self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = parse_message(data)
        except SipParseError as error:
            self.errors.append(error)
            return
        if isinstance(message, Request):
            message = stamp_received(message, addr[0], addr[1])
            transaction, commands = self.layer.receive_request(message, reliable=False)
        else:
            transaction, commands = self.layer.receive_response(message)
        self.execute(transaction, commands)

    def execute(self, transaction: Transaction | None, commands: list[Command]) -> None:
        loop = asyncio.get_running_loop()
        for command in commands:
            if isinstance(command, SendMessage):
                self.send(command.message)
            elif isinstance(command, StartTimer) and transaction is not None:
                key = (id(transaction), command.timer)
                fire = (self.fire, transaction, command.timer)
                self.timers[key] = loop.call_later(command.delay, *fire)
            elif isinstance(command, CancelTimer) and transaction is not None:
                self.timers.pop((id(transaction), command.timer)).cancel()
            elif isinstance(command, DeliverToTU):
                self.to_tu.append(command.message)
                self.on_message(transaction, command.message)
            elif isinstance(command, Terminated):
                self.ended.append(command)

    def fire(self, transaction: Transaction, timer: Timer) -> None:
        self.timers.pop((id(transaction), timer), None)
        self.execute(transaction, self.layer.timer_fired(transaction, timer))

    def send(self, message: Request | Response) -> None:
        assert self.transport is not None
        if isinstance(message, Response):
            destination = response_destination(message)
            self.transport.sendto(bytes(message), (destination.host, destination.port))
        else:
            self.transport.sendto(bytes(message), self.peer)

    def on_message(self, transaction: Transaction | None, message: Request | Response) -> None:
        raise NotImplementedError

    def close(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        if self.transport is not None:
            self.transport.close()


class Callee(Endpoint):
    """Answers every INVITE with 180 then 200 and SDP, and a BYE with 200."""

    def on_message(self, transaction: Transaction | None, message: Request | Response) -> None:
        if not isinstance(message, Request) or transaction is None:
            return
        assert isinstance(transaction, ServerTransaction)
        if message.method == "INVITE":
            ringing = make_response(message, 180, to_tag="callee1")
            self.execute(transaction, self.layer.send_response(transaction, ringing))
            ok = make_response(message, 200, to_tag="callee1")
            ok.headers.add("Contact", f"<sip:callee@127.0.0.1:{self.port}>")
            ok.headers.add("Content-Type", "application/sdp")
            ok = Response(ok.status, ok.reason, ok.headers, SDP)
            self.execute(transaction, self.layer.send_response(transaction, ok))
        elif message.method == "BYE":
            bye_ok = make_response(message, 200)
            self.execute(transaction, self.layer.send_response(transaction, bye_ok))
            self.done.set()


async def run_sipp(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "sipp",
        *args,
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-nostdin",
        "-timeout",
        "20s",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    return cast("int", process.returncode), output.decode(errors="replace")


async def test_sipp_uac_calls_our_uas() -> None:
    loop = asyncio.get_running_loop()
    _, callee = await loop.create_datagram_endpoint(Callee, local_addr=("127.0.0.1", 0))
    try:
        target = f"127.0.0.1:{callee.port}"
        code, output = await run_sipp("-sn", "uac", target, "-p", str(free_udp_port()))
        assert code == 0, output[-2000:]
        methods = [m.method for m in callee.to_tu if isinstance(m, Request)]
        assert methods == ["INVITE", "ACK", "BYE"] and callee.errors == []
        invite = callee.to_tu[0]
        assert isinstance(invite, Request) and invite.body.startswith(b"v=0")
        assert (invite.top_via.branch or "").startswith("z9hG4bK")
        assert invite.top_via.received is None or invite.top_via.received == "127.0.0.1"
    finally:
        callee.close()


class Caller(Endpoint):
    """Places one INVITE; on the 200 sends the ACK (end to end, 13.2.2.4) and then a BYE."""

    dialog: Dialog | None = None

    def call(self, target_port: int) -> None:
        self.peer = ("127.0.0.1", target_port)
        headers = Headers(
            [
                ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bKcall1;rport"),
                ("Max-Forwards", "70"),
                ("From", "<sip:caller@127.0.0.1>;tag=caller1"),
                ("To", f"<sip:service@127.0.0.1:{target_port}>"),
                ("Call-ID", "sipp-uas-1@127.0.0.1"),
                ("CSeq", "1 INVITE"),
                ("Contact", f"<sip:caller@127.0.0.1:{self.port}>"),
                ("Content-Type", "application/sdp"),
            ]
        )
        invite = Request("INVITE", f"sip:service@127.0.0.1:{target_port}", headers, SDP)
        self.invite = invite
        self.execute(*self.layer.send_request(invite, reliable=False))

    def on_message(self, transaction: Transaction | None, message: Request | Response) -> None:
        if not isinstance(message, Response) or message.status < 200:
            return
        via = f"SIP/2.0/UDP 127.0.0.1:{self.port}"
        if message.cseq.method == "INVITE" and self.dialog is None:
            self.dialog = Dialog.as_uac(self.invite, message)
            self.send(self.dialog.create_ack(1, via=via, branch="z9hG4bKack1"))
            self.dialog, bye = self.dialog.create_request("BYE", via=via, branch="z9hG4bKbye1")
            self.execute(*self.layer.send_request(bye, reliable=False))
        elif message.cseq.method == "BYE":
            self.done.set()


async def test_our_uac_calls_sipp_uas() -> None:
    loop = asyncio.get_running_loop()
    sipp_port = free_udp_port()
    process = asyncio.create_task(run_sipp("-sn", "uas", "-p", str(sipp_port)))
    _, caller = await loop.create_datagram_endpoint(Caller, local_addr=("127.0.0.1", 0))
    try:
        await asyncio.sleep(0.5)  # sipp binds its port
        caller.call(sipp_port)
        await asyncio.wait_for(caller.done.wait(), 20)
        code, output = await process
        assert code == 0, output[-2000:]
        statuses = [m.status for m in caller.to_tu if isinstance(m, Response)]
        assert statuses[-2:] == [200, 200] and 180 in statuses and caller.errors == []
        assert caller.dialog is not None and caller.dialog.local_seq == 2
    finally:
        caller.close()
        if not process.done():
            process.cancel()
