"""A page's end of the WebRTC signalling, in memory, for the tests that drive the adapters
without a websocket (tests/web, tests/telephony, tests/sipnet), and `poll` to wait on what
the page is sent. `pyproject.toml` puts `tests/` on the import path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

WAIT_S = 20.0


async def poll(
    check: Callable[[], Awaitable[T | None]], *, what: str, timeout: float = WAIT_S
) -> T:
    """Await `check` until it gives something truthy, and return that; fail after `timeout`
    seconds naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Page:
    """A page's side of the signalling: what it was sent, and a queue of what it sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        while (message := await self.outbox.get()) is not None:
            yield message

    async def reply(self, kind: str, after: int = 0) -> dict[str, Any]:
        """The first message of `kind` sent to the page after its first `after` messages."""

        async def found() -> dict[str, Any] | None:
            return next((m for m in self.sent[after:] if m["type"] == kind), None)

        return await poll(found, what=f"a {kind!r} message")
