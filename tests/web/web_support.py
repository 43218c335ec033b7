"""What the browser tests share: a real server (uvicorn on a free port, SQLite in a temporary
directory) with a seeded tenant, and Debian's chromium driven by Playwright.

Artifacts (screenshots) go to tests/web/artifacts/ (git-ignored); `ARTIFACTS` is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.async_api import Page

from helpline.api.app import create_app
from helpline.settings import Settings
from helpline.store import Store, create_database
from page_support import poll as poll  # noqa: PLC0414 (explicit re-export: tests/web take it from here)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    # the CRM page of the tests is on localhost, the softphone on 127.0.0.1: Chrome's local
    # network access checks would block the iframe (a real CRM on the internet asks the user)
    "--disable-features=LocalNetworkAccessChecks",
]
HOTLINE = "+18005550100"  # the IVR: 1 sales, 2 support
SALES_LINE = "+18005550111"  # straight to the sales queue

CENTER: dict[str, Any] = {
    "name": "Browser test center",
    "numbers": [
        {"number": HOTLINE, "enable_ivr": True, "ivr_tree": "main"},
        {"number": SALES_LINE, "queue": "sales"},
    ],
    "ivr_trees": [
        {
            "id": "main",
            "root": "menu",
            "nodes": [
                {
                    "id": "menu",
                    "prompt": "For sales, press 1.",
                    "timeout": "20s",
                    "keys": {"1": {"queue": "sales"}},
                    "default": {"queue": "sales"},
                }
            ],
        }
    ],
    "queues": [
        {
            "id": "sales",
            "name": "Sales",
            "groups": ["team"],
            "greeting": "Please hold.",
            "hold_music": "default",
            "wait_agent_answer_timeout": "60s",
            "agent_wrap_up_after_calls": True,
            "wrap_up_time_limit": "5m",
            "recording": "record",
        }
    ],
    "groups": [
        {"id": "team", "name": "Team", "agents": ["alice"]},
        {"id": "back", "name": "Back office", "agents": ["bob"]},  # serves no queue
    ],
    "agents": [
        {"id": "alice", "name": "Alice", "email": "alice@example.com"},
        {"id": "bob", "name": "Bob", "email": "bob@example.com"},
    ],
}


@dataclass
class Site:
    url: str
    tenant_id: str
    key: str  # KEY_ID:SECRET
    app_token: str
    admin: httpx.AsyncClient  # HTTP Basic with the tenant's API key

    async def login(self, email: str = "alice@example.com") -> str:
        response = await self.admin.post(
            "/v1/auth/login", json={"email": email, "app_token": self.app_token}
        )
        response.raise_for_status()
        session: str = response.json()["session"]
        return session

    async def record(self, call_id: str) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            response = await self.admin.get(f"/v1/call-records/{call_id}")
            return response.json() if response.status_code == 200 else None

        return await poll(found, what=f"the record of {call_id}")


@contextlib.asynccontextmanager
async def serve(tmp: Path, tenant_id: str | None = None, **settings: Any) -> AsyncIterator[Site]:
    database_url = f"sqlite+aiosqlite:///{tmp / 'helpline.db'}"
    engine = await create_database(database_url)
    await engine.dispose()
    store = await Store.open(database_url)
    tenant_id = tenant_id or f"web-{uuid.uuid4().hex[:8]}"
    try:
        async with store.transaction() as tx:
            await tx.tenants.create_tenant("Web tests", tenant_id=tenant_id)
            key = await tx.tenants.create_api_key(tenant_id, "tests")
            token = await tx.tenants.create_app_token(tenant_id, "tests")
            await tx.configs.put_config(tenant_id, CENTER)
    finally:
        await store.close()
    app = create_app(
        Settings(
            database_url=database_url,
            jwt_secret="web-tests-secret",
            outbox_poll_s=0.2,
            # browser and server share this machine: their candidates are loopback/private
            web_allow_private_candidates=True,
            **settings,
        )
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await poll(lambda: _started(server, task), what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        secret = f"{key.key_id}:{key.secret}"
        async with httpx.AsyncClient(
            base_url=url, auth=(key.key_id, key.secret), timeout=10
        ) as admin:
            yield Site(url, tenant_id, secret, token.token, admin)
    finally:
        server.should_exit = True
        await task


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()
        raise AssertionError("uvicorn stopped while starting")
    return bool(server.started)


JS_ERRORS: list[str] = []  # uncaught errors of the pages under test (conftest checks: none)


def watch(page: Page) -> Page:
    """Count the page's uncaught JavaScript errors (its frames' too) against the test."""
    page.on("pageerror", lambda error: JS_ERRORS.append(f"{page.url}: {error}"))
    return page
