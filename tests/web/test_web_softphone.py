"""The softphone in a CRM's iframe (seed 002 "Generic Softphone SSO", "Pop-Up of the Contact
Card") and the wallboard, in Debian's chromium against the real server.

A parent page embeds /softphone?tenant=...&session=... and collects its postMessage events;
calls come from the sandbox carrier; the agent acts by clicking in the iframe.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Browser, Frame, Page
from web_support import ARTIFACTS, SALES_LINE, Site, poll, watch

pytestmark = pytest.mark.asyncio(loop_scope="module")

PARENT = """<!doctype html><html><body><h3>CRM</h3>
<iframe id="softphone" src="{src}" allow="microphone *" style="width:720px;height:640px"></iframe>
<script>
window.messages = [];
window.addEventListener("message", (e) => window.messages.push(JSON.parse(e.data)), false);
</script></body></html>"""


async def open_crm(page: Page, site: Site, session: str) -> Frame:
    """The CRM page (secure, as a real CRM is: microphone access needs it) with the softphone."""
    src = f"{site.url}/softphone?tenant={site.tenant_id}&session={session}"
    # another origin than the softphone's (localhost, not 127.0.0.1), and a secure context
    crm_url = site.url.replace("127.0.0.1", "localhost") + "/crm-under-test"
    await page.route(
        crm_url, lambda route: route.fulfill(content_type="text/html", body=PARENT.format(src=src))
    )
    await page.goto(crm_url)
    element = await page.wait_for_selector("#softphone")
    frame = await element.content_frame()
    assert frame is not None
    return frame


async def crm_with_softphone(browser: Browser, site: Site) -> tuple[Page, Frame]:
    page = watch(await browser.new_page())
    frame = await open_crm(page, site, await site.login())
    await frame.wait_for_selector("#link.connected")
    await frame.wait_for_function("document.body.dataset.status !== ''")
    return page, frame


async def message(page: Page, kind: str, **fields: Any) -> dict[str, Any]:
    """The first postMessage of `kind` whose fields match."""

    async def found() -> dict[str, Any] | None:
        for sent in await page.evaluate("window.messages"):
            if sent["messageType"] == kind and all(sent.get(k) == v for k, v in fields.items()):
                return dict(sent)
        return None

    return await poll(found, what=f"{kind} {fields} among the parent's messages")


async def count(page: Page, kind: str) -> int:
    sent = await page.evaluate("window.messages")
    return sum(1 for m in sent if m["messageType"] == kind)


async def place_call(site: Site, caller: str) -> str:
    response = await site.admin.post("/v1/sandbox/calls", json={"to": SALES_LINE, "from": caller})
    assert response.status_code == 201, response.text
    call_id: str = response.json()["call_id"]
    return call_id


async def set_status(frame: Frame, value: str) -> None:
    await frame.select_option("#status", value)


async def test_softphone_posts_the_call_and_status_events_and_the_wallboard_follows(
    browser: Browser, site: Site
) -> None:
    page, frame = await crm_with_softphone(browser, site)
    wallboard = watch(await browser.new_page())
    await wallboard.goto(f"{site.url}/wallboard#key={site.key}")
    await wallboard.wait_for_selector("#link.connected")

    # not ready with a reason: StatusChanged, and a call waits in the queue
    await set_status(frame, "NOT_READY:Break")
    changed = await message(page, "StatusChanged", status="NOT_READY")
    assert changed["reason"] == "Break"
    assert changed["agent"] == "alice"
    call_id = await place_call(site, "+15551230001")
    waiting = wallboard.locator('tr[data-queue="sales"] td.waiting')
    await waiting.filter(has_text="1").wait_for()
    agent_row = wallboard.locator('tr[data-agent="alice"]')
    assert "NOT_READY (Break)" in await agent_row.inner_text()
    await wallboard.screenshot(path=str(ARTIFACTS / "wallboard-waiting.png"), full_page=True)

    # available: the waiting call rings the softphone, and the parent pops the contact card
    await set_status(frame, "AVAILABLE")
    await message(page, "StatusChanged", status="AVAILABLE")
    incoming = await message(page, "IncomingCall", activecallkey=call_id)
    assert incoming["phoneNumber"] == "+15551230001"
    assert incoming["queue"] == "sales"
    await waiting.filter(has_text="0").wait_for()
    await frame.wait_for_selector("body[data-call='ringing']")

    await frame.click("#answer")
    await message(page, "Answered", activecallkey=call_id)
    await frame.wait_for_selector("body[data-call='connected']")
    await agent_row.filter(has_text="on_call").wait_for()
    await (await page.query_selector("#softphone")).screenshot(  # type: ignore[union-attr]
        path=str(ARTIFACTS / "softphone-connected.png")
    )
    await wallboard.screenshot(path=str(ARTIFACTS / "wallboard-on-call.png"), full_page=True)

    # the agent hangs up: Hangup; wrap-up with a disposition lands on the record
    await frame.click("#hangup")
    hangup = await message(page, "Hangup", activecallkey=call_id)
    assert hangup["phoneNumber"] == "+15551230001"
    await frame.wait_for_selector("#wrapup:not([hidden])")
    await frame.fill("#disposition", "sale")
    await frame.fill("#notes", "wants the blue one")
    await frame.click("#wrapup-done")
    await frame.wait_for_selector("#wrapup[hidden]", state="attached")

    async def amended() -> dict[str, Any] | None:
        record = await site.record(call_id)
        return record if record.get("disposition") == "sale" else None

    record = await poll(amended, what="the wrap-up on the record")
    assert record["notes"] == "wants the blue one"
    assert record["result"] == "answered"
    assert record["agent_id"] == "alice"

    async def answered_today() -> bool:
        text = await wallboard.locator("#abandon-note").inner_text()
        return text.startswith("0 of 1")

    await poll(answered_today, what="today's figures on the wallboard")
    assert await wallboard.locator("#sl").inner_text() == "100%"
    await page.close()
    await wallboard.close()


async def test_a_dropped_softphone_reconnects_and_does_not_leave_the_call_up(
    browser: Browser, site: Site
) -> None:
    page, frame = await crm_with_softphone(browser, site)
    call_id = await place_call(site, "+15551230002")
    await message(page, "IncomingCall", activecallkey=call_id)
    await frame.click("#answer")
    await message(page, "Answered", activecallkey=call_id)

    # the softphone's sockets drop; meanwhile the caller hangs up: the softphone misses it
    await frame.evaluate("window.softphone.drop(1500)")
    await frame.wait_for_selector("#link.disconnected")
    await frame.wait_for_selector("#media:not(.connected)")
    response = await site.admin.post(f"/v1/sandbox/calls/{call_id}/hangup")
    assert response.status_code == 200, response.text
    assert await count(page, "Hangup") == 0

    # back: it resyncs from REST, ends the call on screen and tells the parent
    await frame.wait_for_selector("#link.connected", timeout=15000)
    hangup = await message(page, "Hangup", activecallkey=call_id)
    assert hangup["phoneNumber"] == "+15551230002"
    await frame.wait_for_selector("body[data-call='none']")
    state = json.loads(await frame.evaluate("JSON.stringify(window.softphone.state())"))
    assert state["call"] is None
    assert state["agent"]["online"] is True  # back within the grace period: still online
    await frame.wait_for_selector("#media.connected")  # a new media line replaced the old
    await page.close()


async def test_reject_hold_and_resume_from_the_softphone(browser: Browser, site: Site) -> None:
    page, frame = await crm_with_softphone(browser, site)
    if await frame.locator("#wrapup:not([hidden])").count():  # an earlier test's call
        await frame.click("#wrapup-done")
    await set_status(frame, "AVAILABLE")
    call_id = await place_call(site, "+15551230003")
    await message(page, "IncomingCall", activecallkey=call_id)
    await frame.click("#reject")
    # the card closes (the CRM learns the agent declined); no wait for an idle screen: the
    # same call may ring again at once
    rejected = await message(page, "Hangup", activecallkey=call_id)
    assert rejected["reason"] == "rejected"
    # the only agent declined: once everyone has missed it, it rings the same agent again
    # (seed 000 Step 6), and the parent pops the card a second time

    async def rings_again() -> bool:
        sent = await page.evaluate("window.messages")
        return (
            sum(m["messageType"] == "IncomingCall" and m["activecallkey"] == call_id for m in sent)
            >= 2
        )

    await poll(rings_again, what="the call offered again after the reject", timeout=20)
    await frame.click("#answer")
    await message(page, "Answered", activecallkey=call_id)

    await frame.click("#hold")
    await frame.wait_for_selector("body[data-call='held']", state="attached")
    sandbox = (await site.admin.get(f"/v1/sandbox/calls/{call_id}")).json()
    assert sandbox["held"] is True
    await frame.click("#hold")  # now "Resume"
    await frame.wait_for_selector("body[data-call='connected']", state="attached")
    sandbox = (await site.admin.get(f"/v1/sandbox/calls/{call_id}")).json()
    assert sandbox["held"] is False
    await frame.click("#hangup")
    await message(page, "Hangup", activecallkey=call_id)
    await page.close()


async def test_a_blind_transfer_to_another_agent_leaves_the_softphone(
    browser: Browser, site: Site
) -> None:
    page, frame = await crm_with_softphone(browser, site)
    if await frame.locator("#wrapup:not([hidden])").count():
        await frame.click("#wrapup-done")
    await set_status(frame, "AVAILABLE")
    # bob is on a sandbox phone that rings without answering
    device = await site.admin.put("/v1/sandbox/devices/bob", json={"auto_answer": False})
    assert device.status_code == 200, device.text
    call_id = await place_call(site, "+15551230004")
    await message(page, "IncomingCall", activecallkey=call_id)
    await frame.click("#answer")
    await message(page, "Answered", activecallkey=call_id)

    await frame.select_option("#transfer-kind", "to_agent")
    await frame.fill("#transfer-target", "bob")
    await frame.click("#transfer")
    hangup = await message(page, "Hangup", activecallkey=call_id)
    assert hangup["reason"] == "transferred"
    await frame.wait_for_selector("body[data-call='none']", state="attached")

    async def rings_bob() -> bool:
        found = (await site.admin.get("/v1/sandbox/devices/bob")).json()
        return call_id in found["ringing"]

    await poll(rings_bob, what="the transferred call ringing on bob")
    await site.admin.post(f"/v1/sandbox/calls/{call_id}/hangup")
    await site.admin.delete("/v1/sandbox/devices/bob")
    await page.close()


async def test_a_caller_who_hangs_up_while_it_rings_closes_the_card_at_once(
    browser: Browser, site: Site
) -> None:
    page, frame = await crm_with_softphone(browser, site)
    if await frame.locator("#wrapup:not([hidden])").count():
        await frame.click("#wrapup-done")
    await set_status(frame, "AVAILABLE")
    call_id = await place_call(site, "+15551230005")
    await message(page, "IncomingCall", activecallkey=call_id)
    await frame.wait_for_selector("body[data-call='ringing']")
    response = await site.admin.post(f"/v1/sandbox/calls/{call_id}/hangup")
    assert response.status_code == 200, response.text
    # the server's call.offer_ended, not the softphone's safety reload (the queue's answer
    # timeout is 60 s, the reload comes 30 s after that): well within the poll's limit
    hangup = await message(page, "Hangup", activecallkey=call_id)
    assert hangup["reason"] == "caller_hung_up"
    await frame.wait_for_selector("body[data-call='none']", state="attached")
    await page.close()


async def test_a_signed_out_softphone_stops_reconnecting_and_tells_the_parent(
    browser: Browser, site: Site
) -> None:
    page = watch(await browser.new_page())
    session = await site.login()
    frame = await open_crm(page, site, session)
    await frame.wait_for_selector("#link.connected")
    revoked = await site.admin.post("/v1/auth/logout", json={"session": session})
    assert revoked.status_code == 204
    await frame.evaluate("window.softphone.drop(0)")  # the next connection finds it revoked
    expired = await message(page, "SessionExpired")
    assert expired["reason"]
    assert await frame.evaluate("window.softphone.phone.stopped") is True
    assert await frame.evaluate("window.softphone.events.stopped") is True
    counts = "[window.softphone.phone.connects, window.softphone.events.connects]"
    connects = await frame.evaluate(counts)
    await page.wait_for_timeout(2000)  # longer than LiveSocket's first retry delays
    assert await frame.evaluate(counts) == connects
    sent = await page.evaluate("window.messages.map((m) => m.messageType)")
    assert sent.count("SessionExpired") == 1
    await page.close()
