"""The vendor API tests (issue 5) run on the API tests' app and fixtures (tests/api/conftest.py),
on SQLite and PostgreSQL, with the webhook tests' real HTTP receiver (tests/webhooks) standing
in for the customer's servers (Stringee's router and event URL, Alo-Tech's notification URLs).

One loader for the four vendors: the fixtures are tests/api's own, loaded from their file and
re-exported here (a conftest of another directory is not visible to this one); `api_support`
and `webhook_helpers` are plain modules of those directories, put on the path.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

_TESTS = Path(__file__).resolve().parents[1]
for _directory in ("api", "webhooks"):
    if str(_TESTS / _directory) not in sys.path:
        sys.path.insert(0, str(_TESTS / _directory))


def _load(name: str, path: Path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_api_fixtures = _load("compat_api_fixtures", _TESTS / "api" / "conftest.py")
api_pg_url = _api_fixtures.api_pg_url  # type: ignore[attr-defined]
api_sqlite_template = _api_fixtures.api_sqlite_template  # type: ignore[attr-defined]
backend = _api_fixtures.backend  # type: ignore[attr-defined]
database_url = _api_fixtures.database_url  # type: ignore[attr-defined]
server = _api_fixtures.server  # type: ignore[attr-defined]
api = _api_fixtures.api  # type: ignore[attr-defined]

from webhook_helpers import Receiver  # noqa: E402  (its directory is on the path only now)


@pytest_asyncio.fixture(loop_scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records what the customer's side receives."""
    found = Receiver()
    await found.start()
    try:
        yield found
    finally:
        await found.close()
