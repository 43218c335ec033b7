"""The public caller socket's limits (review S1-S4, S6): live calls per source (an IPv6 /64)
and in all, the Origin allow-list, hostile offers, floods and probes, and no secrets in URLs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack
from web_support import SALES_LINE, Site, serve
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from helpline.api.web import source_of
from helpline.telephony.webrtc.offers import MAX_CANDIDATES, BadOffer, check_offer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def ws(site: Site, path: str) -> str:
    return site.url.replace("http://", "ws://", 1) + path


async def offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def closed_code(socket: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def still_open(socket: ClientConnection) -> bool:
    try:
        await asyncio.wait_for(socket.recv(), 0.3)
    except TimeoutError:
        return True
    except ConnectionClosed:
        return False
    return True


async def callers(
    stack: AsyncExitStack, site: Site, sources: list[str]
) -> AsyncIterator[ClientConnection]:
    url = ws(site, f"/web/phone?tenant={site.tenant_id}")
    for source in sources:
        headers = {"x-forwarded-for": source, "origin": "https://shop.example"}
        yield await stack.enter_async_context(connect(url, additional_headers=headers))


async def test_an_ipv6_64_counts_as_one_source_of_at_most_three_live_calls(site: Site) -> None:
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:bbbb::9")
    assert source_of("2001:db8:1:3::1") != source_of("2001:db8:1:2::1")
    assert source_of("198.51.100.1") == "198.51.100.1"
    async with AsyncExitStack() as stack:
        sources = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"]
        opened = [socket async for socket in callers(stack, site, sources)]
        assert [await still_open(socket) for socket in opened] == [True, True, True]
        [fourth] = [s async for s in callers(stack, site, ["2001:db8:1:2:ffff::4"])]
        code, reason = await closed_code(fourth)
        assert (code, reason) == (4429, "at most 3 web calls at once from one address")
        [elsewhere] = [s async for s in callers(stack, site, ["2001:db8:9::1"])]
        assert await still_open(elsewhere)
        await opened[0].close()
        await asyncio.sleep(0.2)
        [again] = [s async for s in callers(stack, site, ["2001:db8:1:2::5"])]
        assert await still_open(again)  # a call that ended frees its place


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shop(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """A server whose tenant `shop` lists the pages that may embed its widget, and that
    takes two web calls at once in all."""
    origins = {"shop": ["https://shop.example"]}
    tmp = tmp_path_factory.mktemp("shop")
    async with serve(tmp, "shop", web_caller_max_calls=2, web_caller_origins=origins) as site:
        yield site


async def test_all_web_calls_together_are_capped(shop: Site) -> None:
    async with AsyncExitStack() as stack:
        site = shop
        sources = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        opened = [socket async for socket in callers(stack, site, sources)]
        assert [await still_open(socket) for socket in opened[:2]] == [True, True]
        assert await closed_code(opened[2]) == (4429, "too many web calls: try again later")


async def test_a_tenant_with_an_origin_list_refuses_other_pages_at_the_handshake(
    shop: Site,
) -> None:
    url = ws(shop, "/web/phone?tenant=shop")
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, origin="https://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        await connect(url)  # no Origin at all: not one of the pages
    async with connect(url, origin="https://shop.example") as socket:  # type: ignore[arg-type]
        assert await still_open(socket)


async def test_hostile_offers_are_refused_and_private_candidates_dropped() -> None:
    head = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"

    def candidate(i: int, address: str) -> str:
        return f"a=candidate:{i} 1 udp 2122260223 {address} {9000 + i} typ host\r\n"

    with pytest.raises(BadOffer, match="32 KB"):
        check_offer(head + "a=x:" + "y" * 33_000 + "\r\n", allow_private=True)
    many = head + "".join(candidate(i, "203.0.113.9") for i in range(MAX_CANDIDATES + 1))
    with pytest.raises(BadOffer, match="at most 8 candidates"):
        check_offer(many, allow_private=True)
    two_sections = head + candidate(1, "203.0.113.9") * 8 + head + candidate(2, "203.0.113.9") * 8
    assert check_offer(two_sections, allow_private=True).count("a=candidate") == 16
    mixed = "".join(
        candidate(i, address)
        for i, address in enumerate(
            [
                "203.0.113.9",  # a documentation address: not on the internet either
                "127.0.0.1",
                "10.1.2.3",
                "169.254.1.1",
                "::1",
                "fd00::1",
                "2606:4700::1111",
                "abcd-1234.local",
            ]
        )
    )
    kept = check_offer(head + mixed, allow_private=False)
    assert [line.split()[4] for line in kept.splitlines() if "candidate" in line] == [
        "2606:4700::1111",
        "abcd-1234.local",  # an mDNS name: not an address we can judge here
    ]
    assert check_offer(head + mixed, allow_private=True).count("a=candidate") == 8


async def test_a_candidate_flood_never_reaches_aiortc(site: Site) -> None:
    pc, sdp = await offer()
    try:
        flood = "".join(
            f"a=candidate:{i} 1 udp 2122260223 10.0.{i // 250}.{i % 250} {9000 + i} typ host\r\n"
            for i in range(3000)
        )
        url = ws(site, f"/web/phone?tenant={site.tenant_id}")
        async with connect(url, max_size=None) as socket:
            dial = {"type": "dial", "to": SALES_LINE, "sdp": sdp + flood, "dtmf": "message"}
            await socket.send(json.dumps(dial))
            refused = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert refused == {"type": "error", "message": "sdp: at most 32 KB"}
        small_flood = flood[: flood.index("a=candidate:20 ")]
        async with connect(url) as socket:
            await socket.send(json.dumps({**dial, "sdp": sdp + small_flood}))
            refused = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert refused["message"] == f"sdp: at most {MAX_CANDIDATES} candidates per media section"
    finally:
        await pc.close()
    assert (await site.admin.get("/v1/calls")).json()["items"] == []


async def test_a_web_caller_cannot_choose_its_number(site: Site) -> None:
    pc, sdp = await offer()
    try:
        async with connect(ws(site, f"/web/phone?tenant={site.tenant_id}")) as socket:
            spoof = {"type": "dial", "to": SALES_LINE, "from": "+15551234567", "sdp": sdp}
            await socket.send(json.dumps({**spoof, "dtmf": "message"}))
            answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert answer["type"] == "answer"
            await asyncio.sleep(0.3)
            calls = (await site.admin.get("/v1/calls")).json()["items"]
            assert [c["from_number"] for c in calls] == ["web"]
            await socket.send(json.dumps({"type": "hangup"}))
    finally:
        await pc.close()


async def test_a_flooding_page_is_closed_with_1008(site: Site) -> None:
    async with connect(ws(site, f"/web/phone?tenant={site.tenant_id}")) as socket:
        for _ in range(200):
            await socket.send(json.dumps({"type": "dtmf", "digits": "1"}))
        code, reason = await closed_code(socket)
    assert (code, reason) == (1008, "too many messages")


async def test_the_softphone_authenticates_with_its_first_message_not_the_url(
    site: Site,
) -> None:
    session = await site.login()
    # a session in the URL is not looked at: the first message must carry it
    async with connect(ws(site, f"/web/phone?token={session}")) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        assert (await closed_code(socket))[0] == 4401
    async with connect(ws(site, "/web/phone")) as socket:
        await socket.send(json.dumps({"authorization": f"Bearer {session}"}))
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"type": "pong"}
    for page in ("/softphone", "/wallboard", "/call"):
        response = await site.admin.get(page)
        assert response.headers["referrer-policy"] == "no-referrer"
