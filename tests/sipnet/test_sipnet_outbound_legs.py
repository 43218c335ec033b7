"""Outbound legs (`telephony/sip/outbound_dialer.py`) against sipp as the carrier: a 401 challenge
answered with the right digest (sipp's verifyauth checks it) then 200 with G.711; the same
with 407 (sipp verifies only `Authorization`, so the digest is recomputed here with hashlib);
a wrong password refused; busy (486); a carrier that never answers gets our CANCEL; and,
with a bare UDP peer as the carrier, its re-INVITE answered and its BYE ending the leg."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sipnet_support import (
    SCENARIOS,
    RawPeer,
    callee_request,
    free_port,
    offer_sdp,
    reply,
)

from helpline.sip.limits import AbuseLimits, LimitsPolicy
from helpline.sip.message import Request, Response, make_response
from helpline.sip.sdp import make_offer
from helpline.sip.server_transaction import ServerTransaction
from helpline.sip.transaction_base import TerminationReason
from helpline.sip.transaction_layer import Transaction
from helpline.telephony.sip.outbound import Credentials, LegOutcome, OutboundLeg, outcome_of
from helpline.telephony.sip.outbound_dialer import Dialer
from helpline.telephony.sip.stack import SipStack
from helpline.telephony.sip.transport import Source

CARRIER_HOST = "127.0.0.2"
USER, PASSWORD = "carrier-user", "carrier-secret"


class _Agent:
    """The stack's transaction user: everything to the dialer; anything else 481."""

    def __init__(self, stack: SipStack, dialer: Dialer) -> None:
        self.stack, self.dialer = stack, dialer

    def on_request(self, transaction: ServerTransaction | None, request: Request) -> None:
        if not self.dialer.on_request(transaction, request) and transaction is not None:
            self.stack.respond(transaction, make_response(request, 481, to_tag="x"))

    def on_response(self, transaction: Transaction | None, response: Response) -> None:
        self.dialer.on_response(transaction, response)

    def on_failure(self, transaction: Transaction, reason: TerminationReason) -> None:
        self.dialer.on_failure(transaction)


@contextlib.asynccontextmanager
async def _dialer() -> AsyncIterator[Dialer]:
    stack = SipStack(AbuseLimits(LimitsPolicy(trusted=(CARRIER_HOST,))))
    dialer = Dialer(stack, host="127.0.0.1")
    stack.user_agent = _Agent(stack, dialer)
    await stack.transports.start("127.0.0.1", 0)
    try:
        yield dialer
    finally:
        dialer.close()
        await stack.close()


def _proxy_form(tmp_path: Path) -> Path:
    """outbound_challenge.xml as a proxy challenges: 407, Proxy-Authenticate; sipp's
    verifyauth reads only `Authorization`, so it checks the header is there and well formed,
    and the test checks the digest itself."""
    text = (SCENARIOS / "outbound_challenge.xml").read_text()
    for old, new in (
        ("401 Unauthorized", "407 Proxy Authentication Required"),
        ("WWW-Authenticate:", "Proxy-Authenticate:"),
        ('header="Authorization:"', 'header="Proxy-Authorization:"'),
        (
            '<verifyauth assign_to="authvalid" username="[user]" password="[password]"/>',
            '<ereg regexp="response=\\"[0-9a-f]{32}\\"" search_in="hdr" '
            'header="Proxy-Authorization:" assign_to="authvalid"/>',
        ),
    ):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "outbound_challenge_407.xml"
    path.write_text(text)
    return path


def _digest_is_right(authorization: str, password: str) -> bool:
    """RFC 7616 3.4.1 with qop=auth and MD5, computed here independently."""
    fields: dict[str, str] = dict(
        re.findall(r'(\w+)="?([^",]*)"?', authorization.removeprefix("Digest "))
    )

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{fields['username']}:{fields['realm']}:{password}")
    ha2 = md5(f"INVITE:{fields['uri']}")
    parts = (ha1, fields["nonce"], fields["nc"], fields["cnonce"], fields["qop"], ha2)
    return fields["response"] == md5(":".join(parts))


async def _carrier(
    tmp_path: Path, scenario: str | Path, port: int, password: str = PASSWORD, *, tcp: bool = False
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "sipp",
        *(["-t", "t1"] if tcp else []),
        "-sf",
        str(SCENARIOS / scenario),
        "-i",
        CARRIER_HOST,
        "-p",
        str(port),
        "-mp",
        str(free_port()),
        "-m",
        "1",
        "-key",
        "user",
        USER,
        "-key",
        "password",
        password,
        "-timeout",
        "20s",
        "-nostdin",
        "-trace_err",
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def _tcp_listening(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection(CARRIER_HOST, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError("sipp does not listen on TCP")


async def _finished(process: asyncio.subprocess.Process, tmp_path: Path) -> tuple[int, str]:
    _, err = await asyncio.wait_for(process.communicate(), 20)
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_errors.log"))
    return process.returncode or 0, err.decode(errors="replace") + logs


def _dial(
    dialer: Dialer,
    port: int,
    outcomes: asyncio.Queue[LegOutcome],
    *,
    credentials: Credentials | None = None,
    timeout: float = 10.0,
    transport: str = "UDP",
) -> OutboundLeg:
    def report(leg: OutboundLeg, outcome: LegOutcome) -> None:
        outcomes.put_nowait(outcome)

    return dialer.dial(
        target=Source(transport, CARRIER_HOST, port),
        uri=f"sip:0042@{CARRIER_HOST}:{port}",
        from_user="5550100",
        from_host="trunk.example",
        offer=make_offer("127.0.0.1", 40000, session_id=1, version=1),
        timeout=timeout,
        report=report,
        credentials=credentials,
    )


def test_final_statuses_map_to_the_engine_s_reasons() -> None:
    assert outcome_of(486) is outcome_of(600) is LegOutcome.BUSY
    assert outcome_of(408) is outcome_of(480) is outcome_of(487) is LegOutcome.NO_ANSWER
    assert outcome_of(404) is outcome_of(503) is outcome_of(603) is LegOutcome.FAILED


@pytest.mark.parametrize("status", [401, 407])
async def test_a_challenge_is_answered_with_digest_then_the_call_is_answered(
    tmp_path: Path, status: int
) -> None:
    port = free_port()
    scenario = "outbound_challenge.xml" if status == 401 else _proxy_form(tmp_path)
    carrier = await _carrier(tmp_path, scenario, port)
    outcomes: asyncio.Queue[LegOutcome] = asyncio.Queue()
    async with _dialer() as dialer:
        leg = _dial(dialer, port, outcomes, credentials=Credentials(USER, PASSWORD))
        first_call_id = leg.call_id
        assert await asyncio.wait_for(outcomes.get(), 10) is LegOutcome.ANSWERED
        assert leg.call_id == first_call_id  # the same call, challenged once (22.2)
        assert leg.invite.cseq.number == 2
        header = "Authorization" if status == 401 else "Proxy-Authorization"
        authorization = leg.invite.headers.get(header) or ""
        assert 'realm="carrier.test"' in authorization and f'username="{USER}"' in authorization
        assert _digest_is_right(authorization, PASSWORD)
        assert not _digest_is_right(authorization, "other")
        assert leg.session is not None and leg.session.codec == "PCMA"  # what it answered
        assert leg.invite.from_.sip_uri.user == "5550100"
        dialer.hang_up(leg)  # BYE
        status, errors = await _finished(carrier, tmp_path)
        assert status == 0, errors  # sipp saw the right digest, the ACK and the BYE
        assert outcomes.empty()  # our own hang-up reports nothing


async def test_a_wrong_password_fails_without_looping(tmp_path: Path) -> None:
    port = free_port()
    carrier = await _carrier(tmp_path, "outbound_challenge.xml", port, password="other")
    outcomes: asyncio.Queue[LegOutcome] = asyncio.Queue()
    async with _dialer() as dialer:
        leg = _dial(dialer, port, outcomes, credentials=Credentials(USER, PASSWORD))
        assert await asyncio.wait_for(outcomes.get(), 10) is LegOutcome.FAILED  # the 403
        status, errors = await _finished(carrier, tmp_path)
        assert status == 0, errors
        assert leg.invite.cseq.number == 2  # one answer to the one challenge


async def test_a_challenge_without_credentials_fails(tmp_path: Path) -> None:
    port = free_port()
    carrier = await _carrier(tmp_path, "outbound_challenge.xml", port)
    outcomes: asyncio.Queue[LegOutcome] = asyncio.Queue()
    try:
        async with _dialer() as dialer:
            leg = _dial(dialer, port, outcomes)
            assert await asyncio.wait_for(outcomes.get(), 10) is LegOutcome.FAILED
            assert leg.invite.cseq.number == 1
    finally:
        carrier.kill()
        await carrier.wait()


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_busy(tmp_path: Path, transport: str) -> None:
    port = free_port()
    carrier = await _carrier(tmp_path, "outbound_busy.xml", port, tcp=transport == "TCP")
    if transport == "TCP":  # no retransmissions over TCP to wait for sipp: wait here
        await _tcp_listening(port)
    outcomes: asyncio.Queue[LegOutcome] = asyncio.Queue()
    async with _dialer() as dialer:
        leg = _dial(dialer, port, outcomes, transport=transport)
        assert leg.invite.top_via.transport == transport
        assert await asyncio.wait_for(outcomes.get(), 10) is LegOutcome.BUSY
        status, errors = await _finished(carrier, tmp_path)
        assert status == 0, errors  # and the 486 was ACKed


@pytest.mark.parametrize("timeout", [1.0])
async def test_no_answer_is_cancelled_at_the_timeout(tmp_path: Path, timeout: float) -> None:
    port = free_port()
    carrier = await _carrier(tmp_path, "outbound_no_answer.xml", port)
    outcomes: asyncio.Queue[LegOutcome] = asyncio.Queue()
    async with _dialer() as dialer:
        loop = asyncio.get_running_loop()
        started = loop.time()
        _dial(dialer, port, outcomes, timeout=timeout)
        assert await asyncio.wait_for(outcomes.get(), 10) is LegOutcome.NO_ANSWER
        assert loop.time() - started >= timeout * 0.9
        status, errors = await _finished(carrier, tmp_path)
        assert status == 0, errors  # sipp got the CANCEL and the ACK for its 487
        assert outcomes.empty()  # the 487 after our CANCEL is not a second outcome


async def test_a_carrier_s_reinvite_is_answered_and_its_bye_ends_the_leg() -> None:
    carrier = await RawPeer.open(CARRIER_HOST, 5060)
    outcomes: asyncio.Queue[LegOutcome] = asyncio.Queue()
    try:
        async with _dialer() as dialer:
            carrier.server = ("127.0.0.1", dialer.stack.transports.port)
            _, port = carrier.address
            _dial(dialer, port, outcomes)
            invite = await carrier.expect("INVITE")
            assert isinstance(invite, Request)
            carrier.send(reply(invite, 200, tag="c1", body=offer_sdp(CARRIER_HOST, 41000)))
            assert await asyncio.wait_for(outcomes.get(), 5) is LegOutcome.ANSWERED
            assert isinstance(await carrier.expect("ACK"), Request)
            refresh = offer_sdp(CARRIER_HOST, 41002)
            for cseq, method, body in ((1, "INVITE", refresh), (2, "BYE", "")):
                request = callee_request(carrier, invite, method, cseq=cseq, tag="c1", body=body)
                carrier.send(request)
                ok = await carrier.expect(200)
                assert isinstance(ok, Response) and ok.cseq.method == method
                if method == "INVITE":  # a session refresh: our session, on the same port
                    assert b"m=audio 40000 " in ok.body and b"PCMU" in ok.body
                    assert outcomes.empty()
            assert await asyncio.wait_for(outcomes.get(), 5) is LegOutcome.ENDED
    finally:
        carrier.close()
