"""Schemathesis against the app's own `/openapi.json` (issue 4, point 10).

Every operation of the document is called with generated requests (the examples, coverage
and fuzzing phases: valid and invalid data), authenticated with a real tenant API key on a
real SQLite store holding the demo center, through the ASGI app with its lifespan running
(store, runtimes, webhook deliverer). Each response must:

- not be a server error (no request may produce a 500);
- have a status code, content type, headers and body that the document declares for it
  (errors included: every error has the one body shape of `api.errors.ErrorBody`);
- answer a method the path does not support with 405 and an `Allow` listing the path's
  methods.

Two of schemathesis' default checks are left out, both on purpose: `positive_data_acceptance`
(a body can be schema-valid yet wrong across fields, e.g. a number without IVR and without a
queue, which answers 422) and `negative_data_rejection` (pydantic coerces `0` to `false` and
reads a prompt given as a plain string, so the server accepts slightly more than the document
states). Nothing leaves the machine: the app's HTTP clients (webhook deliveries, the external
router) get a transport that refuses every request, so the fuzzed URLs are never called.

The run is derandomised with a modest number of examples per operation
(`HELPLINE_FUZZ_EXAMPLES` asks for more). `HELPLINE_FUZZ_DATABASE_URL` (e.g. an empty
PostgreSQL database) fuzzes another store.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case
from schemathesis import checks as st_checks

from helpline.api.app import create_app
from helpline.cli import demo_document, seed_demo
from helpline.config import center_document, parse_center
from helpline.settings import Settings
from helpline.store import Store

# per operation; the whole file runs in about 1.5 minutes (HELPLINE_FUZZ_EXAMPLES for more)
MAX_EXAMPLES = int(os.environ.get("HELPLINE_FUZZ_EXAMPLES", "12"))

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.missing_required_header,
    st_checks.unsupported_method,
    st_checks.allow_header_conformance,
    st_checks.use_after_free,
    st_checks.ensure_resource_availability,
    st_checks.ignored_auth,
]

_RealAsyncClient = httpx.AsyncClient


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no network in the fuzz test", request=request)


def _offline_client(*args: Any, **kwargs: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` whose every request fails to connect."""
    kwargs.pop("limits", None)
    kwargs["transport"] = httpx.MockTransport(_refuse)
    return _RealAsyncClient(*args, **kwargs)


_DIR = Path(tempfile.mkdtemp(prefix="helpline-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
SETTINGS = Settings(
    database_url=os.environ.get("HELPLINE_FUZZ_DATABASE_URL")
    or f"sqlite+aiosqlite:///{_DIR / 'fuzz.db'}",
    jwt_secret="fuzz-" + "x" * 32,
    webhook_timeout_s=1.0,
)
# the tenant `demo` with the demo center and an API key, as `helpline serve --demo` makes it
DEMO = asyncio.run(seed_demo(SETTINGS))
AUTH = (DEMO["key_id"], DEMO["secret"])
DEMO_CENTER = center_document(parse_center(demo_document()), name="Demo call center")

APP = create_app(SETTINGS)
with pytest.MonkeyPatch.context() as _patch:  # loading the schema starts the app's lifespan
    _patch.setattr(httpx, "AsyncClient", _offline_client)
    schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")


async def _restore_demo_center() -> None:
    store = await Store.open(SETTINGS.database_url)
    try:
        await store.configs.put_config(DEMO["tenant_id"], DEMO_CENTER)
    finally:
        await store.close()


@pytest.fixture(autouse=True)
def demo_center_offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each operation starts from the demo center (an earlier one may have replaced it; the
    app's lifespan restarts for each operation and loads it), with no network."""
    monkeypatch.setattr(httpx, "AsyncClient", _offline_client)
    asyncio.run(_restore_demo_center())
    yield


def test_the_document_covers_the_api() -> None:
    """Not a vacuous run: the document lists the API's routes and their error responses."""
    paths = schema.raw_schema["paths"]
    assert len(paths) >= 40
    for path in ("/v1/config", "/v1/sandbox/calls", "/v1/call-records", "/v1/webhooks"):
        assert path in paths
    records = paths["/v1/call-records/{call_id}"]["get"]["responses"]
    assert {"200", "401", "404", "422"} <= set(records)
    error = records["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}


def test_the_key_opens_the_demo_tenant() -> None:
    """Not a vacuous run: the generated requests get past authentication to the demo center."""
    config = schema["/v1/config"]["GET"]
    response = config.Case().call(auth=AUTH)
    assert response.status_code == 200, response.text
    numbers = [n["number"] for n in response.json()["document"]["numbers"]]
    assert numbers == ["+18005550100", "+18005550199"]
    assert config.Case().call().status_code == 401


@schema.parametrize()
def test_api(case: Case) -> None:
    case.call_and_validate(auth=AUTH, checks=CHECKS)
