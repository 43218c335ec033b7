"""SIP over TLS (RFC 3261 section 26) against the running app: an agent's phone registers
with digest over TLS and its calls come back on the flow it registered over (RFC 5626 5.3);
a trunk calls over TLS and every response and in-dialog request goes back on its connection;
malformed input over TLS gets its 400 and the connection carries on; an outbound trunk
with `transport: tls` verifies the carrier's certificate against its CA file.

This machine's sipp is built without TLS (no `l1` transport in `sipp -h`), so the TLS peers
are asyncio TLS streams speaking through the project's own framer and parser; sipp plays
the UDP side of each call."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sipnet_support import (
    CENTER,
    PASSWORDS,
    PHONE_HOST,
    SCENARIOS,
    TENANT,
    TRUNK_HOST,
    SipServer,
    free_port,
    offer_sdp,
    poll,
    run_sipp,
    sip_server,
    sipp_agent_phone,
)
from sipnet_tls import (
    Certificates,
    StreamPeer,
    make_certificates,
    serving,
    tls_request,
    trusting,
)

from helpline.core import events as ev
from helpline.sip.auth import answer_challenge
from helpline.sip.message import Request, Response, make_response


@contextlib.asynccontextmanager
async def tls_server(
    tmp_path: Path, certificates: Certificates, document: dict[str, Any] | None = None, **more: Any
) -> AsyncIterator[SipServer]:
    async with sip_server(
        tmp_path,
        document,
        sip_tls_port=0,  # any free port
        sip_tls_cert=str(certificates.cert),
        sip_tls_key=str(certificates.key),
        **more,
    ) as server:
        assert server.sip.stack.transports.tls_port > 0
        yield server


def tls_port(server: SipServer) -> int:
    return server.sip.stack.transports.tls_port


def answer(request: Request, status: int, peer: StreamPeer, *, body: str = "") -> bytes:
    """A phone's or trunk's response on its TLS connection (Contact: transport=tls)."""
    response = make_response(request, status, to_tag="tlsphone")
    host, port = peer.address
    response.headers.add("Contact", f"<sip:phone@{host}:{port};transport=tls>")
    if body:
        response.headers.add("Content-Type", "application/sdp")
    return Response(response.status, response.reason, response.headers, body.encode()).serialize()


async def register_over_tls(peer: StreamPeer, agent: str, port: int) -> Response:
    """REGISTER with digest (RFC 3261 22.2) over the peer's TLS connection; the final answer."""
    user = f"{TENANT}_{agent}"
    uri = f"sip:127.0.0.1:{port};transport=tls"
    to = f"<sip:{user}@127.0.0.1>"
    call_id = uuid.uuid4().hex
    first = tls_request(
        peer, "REGISTER", uri, call_id=call_id, from_user=user, to=to, extra="Expires: 600\r\n"
    )
    peer.send(first)
    challenge = await peer.expect(401)
    authorization = answer_challenge(
        challenge.headers.get_all("WWW-Authenticate")[0],
        username=user,
        password=PASSWORDS[agent],
        method="REGISTER",
        uri=uri,
        cnonce=uuid.uuid4().hex[:8],
        nc=1,
    )
    extra = f"Expires: 600\r\nAuthorization: {authorization}\r\n"
    peer.send(
        tls_request(
            peer, "REGISTER", uri, call_id=call_id, cseq=2, from_user=user, to=to, extra=extra
        )
    )
    while True:
        _, final = await asyncio.wait_for(peer.inbox.get(), 10)
        if isinstance(final, Response) and final.status >= 200:
            return final


async def only_record(server: SipServer) -> Any:
    async def written() -> bool:
        return await server.store.records.count_records(TENANT) >= 1

    await poll(written, "the call record", timeout=20)
    (record,) = (await server.store.records.list_records(TENANT)).items
    return record


def sipp_caller(tmp_path: Path, server: SipServer, talk_ms: int) -> asyncio.Task[tuple[int, str]]:
    """sipp as a carrier's caller over UDP to the number 100 (the support queue)."""
    (tmp_path / "caller").mkdir()
    return asyncio.create_task(
        run_sipp(
            SCENARIOS / "caller.xml", server.port,
            "-s", "100", "-m", "1", "-d", str(talk_ms), "-timeout", "20s",
            local_host=TRUNK_HOST, cwd=tmp_path / "caller",
        )
    )  # fmt: skip


async def test_a_phone_registers_over_tls_and_its_call_comes_back_on_that_connection(
    tmp_path: Path,
) -> None:
    certificates = make_certificates(tmp_path)
    async with tls_server(tmp_path, certificates) as server:
        port = tls_port(server)
        phone = await StreamPeer.connect(PHONE_HOST, port, trusting(certificates.ca))
        try:
            final = await register_over_tls(phone, "alice", port)
            assert final.status == 200
            (binding,) = server.sip.registrar.bindings(f"{TENANT}_alice", server.sip.stack.clock())
            assert binding.source == f"tls:{PHONE_HOST}:{phone.address[1]}"  # the flow
            assert binding.contact.endswith(";transport=tls")
            await server.settle()
            assert server.engine_agent("alice").online

            caller = sipp_caller(tmp_path, server, talk_ms=4000)
            invite = await phone.expect("INVITE", timeout=15)  # on the registered connection
            assert isinstance(invite, Request)
            via = invite.headers.get("Via") or ""
            assert via.startswith(f"SIP/2.0/TLS 127.0.0.1:{port};")  # our TLS sent-by (26.2)
            assert f":{port};transport=tls>" in (invite.headers.get("Contact") or "")
            phone.send(answer(invite, 180, phone))
            phone.send(answer(invite, 200, phone, body=offer_sdp("127.0.0.1", free_port())))
            await phone.expect("ACK")
            bye = await phone.expect("BYE", timeout=15)  # the caller hung up after 4 s
            assert isinstance(bye, Request)
            phone.send(make_response(bye, 200).serialize())
            status, log = await asyncio.wait_for(caller, 20)
            assert status == 0, log
            record = await only_record(server)
            assert (record.result, record.agent_id) == ("answered", "alice")
            assert record.disconnected_by == "customer"
        finally:
            await phone.close()


async def test_a_trunk_call_over_tls_is_answered_and_hung_up_on_its_connection(
    tmp_path: Path,
) -> None:
    certificates = make_certificates(tmp_path)
    async with tls_server(tmp_path, certificates) as server:
        phone = await sipp_agent_phone(server, tmp_path, "bob")
        trunk = await StreamPeer.connect(TRUNK_HOST, tls_port(server), trusting(certificates.ca))
        try:
            uri = f"sips:100@127.0.0.1:{tls_port(server)}"  # TLS all the way (26.2)
            call_id = uuid.uuid4().hex
            invite = tls_request(
                trunk, "INVITE", uri, call_id=call_id, from_user="+15550002222",
                extra="Content-Type: application/sdp\r\n",
                body=offer_sdp(TRUNK_HOST, free_port()),
            )  # fmt: skip
            trunk.send(invite)
            ok = await trunk.expect(200, timeout=15)  # answered at once: queued, hold music
            assert isinstance(ok, Response)
            assert (ok.headers.get("Via") or "").startswith("SIP/2.0/TLS ")
            assert f":{tls_port(server)};transport=tls>" in (ok.headers.get("Contact") or "")
            to = ok.headers.get("To") or ""
            trunk.send(
                tls_request(trunk, "ACK", uri, call_id=call_id, from_user="+15550002222", to=to)
            )
            b2bua = server.sip.b2bua
            await poll(lambda: any(c.bridged for c in b2bua.calls.values()), "bob answering")
            trunk.send(
                tls_request(
                    trunk, "BYE", uri, call_id=call_id, cseq=2, from_user="+15550002222", to=to
                )
            )
            await trunk.expect(200)  # the BYE's answer, on the same connection
            status, log = await asyncio.wait_for(phone, 20)
            assert status == 0, log  # bob's phone got its BYE over UDP
            record = await only_record(server)
            assert (record.result, record.agent_id) == ("answered", "bob")
            assert record.from_number == "+15550002222"
            assert not trunk.closed.is_set()
        finally:
            await trunk.close()


async def test_the_media_timeout_sends_its_bye_on_the_tls_caller_s_connection(
    tmp_path: Path,
) -> None:
    certificates = make_certificates(tmp_path)
    async with tls_server(tmp_path, certificates, sip_media_timeout_s=1.0) as server:
        trunk = await StreamPeer.connect(TRUNK_HOST, tls_port(server), trusting(certificates.ca))
        try:
            uri = f"sip:100@127.0.0.1:{tls_port(server)};transport=tls"
            call_id = uuid.uuid4().hex
            trunk.send(
                tls_request(
                    trunk, "INVITE", uri, call_id=call_id,
                    extra="Content-Type: application/sdp\r\n",
                    body=offer_sdp(TRUNK_HOST, free_port()),
                )
            )  # fmt: skip
            ok = await trunk.expect(200)  # queued: answered for the hold music
            assert isinstance(ok, Response)
            trunk.send(tls_request(trunk, "ACK", uri, call_id=call_id, to=ok.headers.get("To")))
            bye = await trunk.expect("BYE", timeout=15)  # no RTP ever came: ended by us
            assert isinstance(bye, Request)
            trunk.send(make_response(bye, 200).serialize())
            record = await only_record(server)
            assert (record.disconnected_by, record.end_reason) == ("system", "media_timeout")
        finally:
            await trunk.close()


async def test_malformed_input_over_tls_gets_a_400_and_the_connection_carries_on(
    tmp_path: Path,
) -> None:
    certificates = make_certificates(tmp_path)
    async with tls_server(tmp_path, certificates, CENTER) as server:
        port = tls_port(server)
        peer = await StreamPeer.connect(PHONE_HOST, port, trusting(certificates.ca))
        try:
            good = tls_request(peer, "OPTIONS", f"sip:127.0.0.1:{port}", call_id="ok-1")
            bad_field = good.replace(b"Max-Forwards: 70", b"Max-Forwards: many")
            peer.send(bad_field.replace(b"ok-1", b"bad-1"))
            refused = await peer.expect(400)
            assert refused.headers.get("Call-ID") == "bad-1"
            assert "Max-Forwards" in refused.reason  # the 400 names the bad field
            peer.send(good.replace(b"SIP/2.0\r\nVia", b"SIP/7.0\r\nVia").replace(b"ok-1", b"v-1"))
            assert (await peer.expect(505)).headers.get("Call-ID") == "v-1"
            # no Via to answer to: dropped (18.2.1), and the stream goes on
            peer.send(b"NONSENSE\r\nContent-Length: 0\r\n\r\n")
            peer.send(good)
            fine = await peer.expect(200)
            assert fine.headers.get("Call-ID") == "ok-1"
            assert server.sip.stack.malformed == 3
            assert not peer.closed.is_set() and not peer.unreadable
        finally:
            await peer.close()
        # plain text to the TLS port fails its handshake; the listener serves the next peer
        plain = await StreamPeer.connect(PHONE_HOST, port, None)
        plain.send(tls_request(plain, "OPTIONS", f"sip:127.0.0.1:{port}", call_id="plain"))
        await asyncio.wait_for(plain.closed.wait(), 15)
        await plain.close()
        again = await StreamPeer.connect(PHONE_HOST, port, trusting(certificates.ca))
        try:
            again.send(tls_request(again, "OPTIONS", f"sip:127.0.0.1:{port}", call_id="ok-2"))
            assert (await again.expect(200)).headers.get("Call-ID") == "ok-2"
        finally:
            await again.close()


# -- an outbound trunk over TLS ----------------------------------------------------------------

ALICE_NUMBER = "5550001"
RT2_CENTER: dict[str, Any] = {
    **CENTER,
    "agents": [{"id": "alice", "name": "Alice", "routing_type": 2, "phone_number": ALICE_NUMBER}],
    "groups": [{"id": "team", "agents": ["alice"]}],
}


class TlsCarrier:
    """A carrier's TLS listener at TRUNK_HOST: each connection that completes its handshake
    is a `StreamPeer`."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[StreamPeer] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def start(self, context: ssl.SSLContext) -> int:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.peers.put_nowait(StreamPeer(reader, writer))

        self.server = await asyncio.start_server(accepted, TRUNK_HOST, 0, ssl=context)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


def tls_trunk(port: int, ca_file: Path | None) -> list[dict[str, Any]]:
    trunk: dict[str, Any] = {
        "name": "carrier",
        "tenant_id": TENANT,
        "addresses": [TRUNK_HOST],
        "proxy": f"{TRUNK_HOST}:{port}",
        "transport": "tls",
    }
    if ca_file is not None:
        trunk["tls_ca_file"] = str(ca_file)
    return [trunk]


async def test_an_outbound_trunk_over_tls_verifies_the_carrier_with_its_ca_file(
    tmp_path: Path,
) -> None:
    certificates = make_certificates(tmp_path)
    carrier = TlsCarrier()
    port = await carrier.start(serving(certificates))
    try:
        trunks = tls_trunk(port, certificates.ca)
        async with sip_server(tmp_path, RT2_CENTER, sip_trunks=trunks) as server:
            caller = sipp_caller(tmp_path, server, talk_ms=4000)
            line = await asyncio.wait_for(carrier.peers.get(), 15)
            invite = await line.expect("INVITE", timeout=15)
            assert isinstance(invite, Request)
            assert invite.uri == f"sip:{ALICE_NUMBER}@{TRUNK_HOST}:{port};transport=tls"
            assert (invite.headers.get("Via") or "").startswith("SIP/2.0/TLS ")
            line.send(answer(invite, 200, line, body=offer_sdp(TRUNK_HOST, free_port())))
            await line.expect("ACK")
            bye = await line.expect("BYE", timeout=15)  # the caller hung up: on the same line
            assert isinstance(bye, Request)
            line.send(make_response(bye, 200).serialize())
            status, log = await asyncio.wait_for(caller, 20)
            assert status == 0, log
            record = await only_record(server)
            assert record.agent_id == "alice" and record.answered_at is not None
            await line.close()
    finally:
        await carrier.close()


async def test_a_carrier_whose_certificate_is_not_trusted_gets_no_call(tmp_path: Path) -> None:
    """No CA file: the system's CAs, which do not know the test CA. The handshake fails,
    the INVITE never leaves, and the offer fails at once (17.1.4), not after timer B."""
    certificates = make_certificates(tmp_path)
    carrier = TlsCarrier()
    port = await carrier.start(serving(certificates))
    try:
        async with sip_server(tmp_path, RT2_CENTER, sip_trunks=tls_trunk(port, None)) as server:
            posted: list[ev.Event] = []
            post = server.sip._post
            assert post is not None

            def tap(tenant_id: str, event: ev.Event) -> None:
                posted.append(event)
                post(tenant_id, event)

            server.sip._post = tap
            caller = sipp_caller(tmp_path, server, talk_ms=6000)

            def refused() -> bool:
                return any(isinstance(e, ev.OfferRejected) for e in posted)

            await poll(refused, "the offer failing", timeout=20)  # timer B would be 32 s
            assert carrier.peers.empty()  # no connection got past its handshake
            assert not any(isinstance(e, ev.OfferAnswered) for e in posted)
            status, log = await asyncio.wait_for(caller, 20)
            assert status == 0, log
    finally:
        await carrier.close()
