"""The SIP listeners of `helpline serve` (UDP and TCP): OPTIONS, malformed messages, fuzz,
scanners and retransmissions, against the app started with its lifespan."""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path

from sipnet_support import options_request, poll, sip_server, tcp_ask, udp_ask, udp_exchange

from helpline.sip.message import Response, parse_message


def _response(data: bytes | None) -> Response:
    assert data is not None, "no answer"
    message = parse_message(data)
    assert isinstance(message, Response)
    return message


async def test_options_is_answered_over_udp_and_tcp(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        for answer in (
            await udp_ask(server.port, options_request(server.port)),
            await tcp_ask(server.port, options_request(server.port, "TCP")),
        ):
            response = _response(answer)
            assert response.status == 200
            allowed = set(response.headers.get_all("Allow"))
            assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"} <= allowed
            assert response.headers.get("Accept") == "application/sdp"
            assert response.to.tag  # 8.2.6.2


async def test_a_retransmitted_request_gets_the_same_response(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        request = options_request(server.port)

        def twice() -> tuple[bytes, bytes]:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sock.settimeout(2)
                sock.sendto(request, ("127.0.0.1", server.port))
                first = sock.recv(65535)
                sock.sendto(request, ("127.0.0.1", server.port))  # the same branch: absorbed
                return first, sock.recv(65535)

        first, second = await asyncio.to_thread(twice)
        assert first == second  # the server transaction's stored response (17.2.2)


async def test_malformed_request_with_a_via_gets_400_and_without_one_nothing(
    tmp_path: Path,
) -> None:
    async with sip_server(tmp_path) as server:
        bad = options_request(server.port).replace(b"Max-Forwards: 70", b"Max-Forwards: many")
        response = _response(await udp_ask(server.port, bad))
        assert response.status == 400
        assert response.call_id  # the fields it could read are copied (8.2.6.2)
        version = options_request(server.port).replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
        assert _response(await udp_ask(server.port, version)).status == 505
        no_via = b"OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n"
        assert await udp_ask(server.port, no_via, timeout=0.5) is None
        assert server.sip.stack.malformed == 3


def _garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 1500))
    base = bytearray(options_request(5060))
    if kind == 1:  # flipped bytes in a real message
        for _ in range(rng.randrange(1, 20)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        return bytes(base)
    if kind == 2:  # truncated
        return bytes(base[: rng.randrange(len(base))])
    return b"INVITE sip:100@x SIP/2.0\r\n" + rng.randbytes(200) + b"\r\n\r\n"


async def test_fuzz_never_takes_the_listeners_down(tmp_path: Path) -> None:
    rng = random.Random(7)
    async with sip_server(tmp_path, sip_trusted=["127.0.0.1"]) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(400):
                sock.sendto(_garbage(rng), ("127.0.0.1", server.port))
        for _ in range(30):
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"".join(_garbage(rng) for _ in range(5)))
            await writer.drain()
            writer.close()
        await asyncio.sleep(0.2)
        assert _response(await udp_ask(server.port, options_request(server.port))).status == 200
        tcp = await tcp_ask(server.port, options_request(server.port, "TCP"))
        assert _response(tcp).status == 200


async def test_a_scanner_gets_no_answer(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        scan = options_request(server.port).replace(
            b"Max-Forwards", b"User-Agent: friendly-scanner\r\nMax-Forwards"
        )
        assert await udp_ask(server.port, scan, timeout=0.5) is None
        # the source is banned now: a polite request from it is dropped too
        assert (
            await asyncio.to_thread(udp_exchange, server.port, options_request(server.port), 0.5)
            is None
        )
        assert server.sip.stack.dropped == 2


async def test_a_flood_is_cut_off_by_the_rate_limit(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            for sent in range(300):
                sock.sendto(options_request(server.port), ("127.0.0.1", server.port))
                if sent % 10 == 0:
                    await asyncio.sleep(0)  # let the server read: no kernel buffer overflow
        # past the burst (100) and the rate (30/s) the source is banned: the rest is dropped
        await poll(lambda: server.sip.stack.dropped > 0, "the flood to be dropped")
        assert server.sip.limits.banned_sources == 1
        assert await udp_ask(server.port, options_request(server.port), timeout=0.5) is None


async def test_tcp_keeps_a_connection_for_several_requests(tmp_path: Path) -> None:
    async with sip_server(tmp_path) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for _ in range(3):
                writer.write(options_request(server.port, "TCP") + b"\r\n\r\n")  # + a ping
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
                assert _response(head).status == 200
                assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"  # the pong
        finally:
            writer.close()
