"""Fixtures of the browser tests: one server and one chromium per module (see web_support)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from web_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, JS_ERRORS, Site, serve


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> AsyncIterator[Site]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HELPLINE_MEDIA_DIR", str(media_dir))
        async with serve(tmp_path_factory.mktemp("web")) as running:
            yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    print(f"\nbrowser test artifacts (screenshots): {ARTIFACTS}")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(autouse=True)
def no_javascript_errors() -> Iterator[None]:
    JS_ERRORS.clear()
    yield
    assert JS_ERRORS == [], "the pages threw"
