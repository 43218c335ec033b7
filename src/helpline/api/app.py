"""The FastAPI application: `create_app(settings)`.

On start it opens the store (running migrations), restores every tenant (calls left live by
a crash are closed with reason `system_restart`), starts each tenant's engine and the webhook
deliverer; on stop it stops them in the reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from helpline.api import calls, center, errors, events, records, sandbox, tenants, web, webhooks
from helpline.api.compat import ROUTERS as COMPAT_ROUTERS
from helpline.api.compat import stringee
from helpline.api.state import AppState
from helpline.bus import LocalBus
from helpline.runtime.gc_pacing import CollectionPacer, pace_collections
from helpline.runtime.hangup import send_hangup_url
from helpline.runtime.hub import Hub
from helpline.runtime.wire import record_dict
from helpline.settings import Settings
from helpline.store import Store
from helpline.telephony.sip import SipTelephony
from helpline.telephony.sip.settings import sip_config
from helpline.telephony.virtual import VirtualCarrier
from helpline.telephony.webrtc.worker_adapter import WorkerTelephony
from helpline.webhooks.deliverer import Deliverer
from helpline.webhooks.publisher import WebhookOutbox

log = logging.getLogger("helpline")

DESCRIPTION = """\
Helpline: an open-source, self-hosted programmable contact center.

Authenticate with HTTP Basic using a tenant API key id and secret (`helpline key create`),
or with a Bearer agent token. Errors answer `{"error": {"code", "message", "details"}}`.
"""


def _agent_exists(app: FastAPI) -> Callable[[str, str], bool]:
    """Whether a tenant's center has the agent (a SIP account works only while it does)."""

    def exists(tenant_id: str, agent_id: str) -> bool:
        runtime = app.state.helpline.hub.tenants.get(tenant_id)
        agent = runtime.engine.agents.get(agent_id) if runtime is not None else None
        return agent is not None and not agent.removed

    return exists


async def _start_sip(sip: SipTelephony, settings: Settings) -> None:
    try:
        await sip.start()
    except OSError as error:
        if settings.sip_port_required:
            raise
        # `helpline serve` asked for the default port only: the rest of the server still runs
        log.error("SIP is off: cannot listen on port %s: %s", settings.sip_port, error)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await Store.open(settings.database_url)
        bus = LocalBus()
        carrier = VirtualCarrier()
        deliverer = Deliverer(store, settings)
        outbox = WebhookOutbox(store, deliverer=deliverer)
        # browser calls (issue 6) beside the sandbox carrier
        phone = web.web_telephony(carrier, settings)
        if settings.media_workers > 0:  # their media in worker processes, one loop each
            phone = WorkerTelephony(carrier, phone.media_dir, workers=settings.media_workers)
        sip = None
        if settings.sip_port is not None and settings.sip_port > 0:  # issue 7: SIP in front
            sip = SipTelephony(phone, sip_config(settings), agent_exists=_agent_exists(app))
        hub = Hub(telephony=sip or phone, records=store.records, outbox=outbox, bus=bus)
        app.state.sip = sip
        jwt_secret = settings.jwt_secret or secrets.token_urlsafe(32)
        app.state.helpline = AppState(
            settings=settings,
            store=store,
            hub=hub,
            carrier=carrier,
            bus=bus,
            jwt_secret=jwt_secret,
        )
        web.install(app, phone)
        for tenant in await store.tenants.list_tenants():
            closed = await store.records.close_live_calls(tenant.id, hub.clock())
            if closed:
                log.warning(
                    "tenant %s: closed %d calls left live by a restart", tenant.id, len(closed)
                )
            for record in closed:  # subscribers learn that these calls ended, as of any call
                await outbox.publish_event(tenant.id, "call.ended", record_dict(record))
                await send_hangup_url(outbox, tenant.id, record)  # seed 002 click2call
            found = await store.configs.get_config(tenant.id)
            hub.start_tenant(tenant.id, dict(found.document) if found else None)
        await stringee.attach_all(store, hub)  # project ids and event URLs (seed 000)
        deliverer.start()
        pacing: asyncio.Task[None] | None = None
        try:
            if isinstance(phone, WorkerTelephony):  # in the try: a failure closes the workers
                await phone.start()
            if sip is not None:
                await _start_sip(sip, settings)  # in the try: a failure stops what started
            if settings.gc_pacing:
                loop = asyncio.get_running_loop()
                pacing = loop.create_task(pace_collections(CollectionPacer(loop.time())))
            yield
        finally:
            if pacing is not None:
                pacing.cancel()  # and whatever it ended with must not stop the rest stopping
                await asyncio.gather(pacing, return_exceptions=True)
            if sip is not None:
                await sip.stop()
            await phone.close()  # before the hub: a recording cut short still reaches its record
            await deliverer.stop()
            await hub.stop()
            carrier.close()
            await store.close()

    app = FastAPI(
        title="Helpline",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    errors.install(app)
    for router in (
        center.config_router,
        center.numbers_router,
        center.ivr_router,
        center.queues_router,
        center.groups_router,
        center.members_router,
        center.agents_router,
        calls.router,
        records.router,
        sandbox.router,
        tenants.router,
        events.router,
        webhooks.router,
        web.router,
    ):
        app.include_router(router, responses=errors.ERROR_RESPONSES)
    for router in COMPAT_ROUTERS:  # vendor shapes, vendor errors; not in /openapi.json
        app.include_router(router)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
