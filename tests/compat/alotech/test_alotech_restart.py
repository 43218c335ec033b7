"""A click2call cut short by a server restart still posts its hangup body: the hangup_url is
kept with the live call, and the restart that closes the call (reason `system_restart`) posts
it through the outbox to a real local HTTP receiver."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from alotech_support import HANGUP_FIELDS, alo_ok, login
from api_support import device, ok, open_api, poll, run_server
from webhook_helpers import Receiver

from helpline.api.deps import app_state_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_call_closed_by_a_restart_posts_its_hangup_body(
    database_url: str, receiver: Receiver
) -> None:
    async with run_server(database_url) as server, open_api(server) as api:
        await device(api.client, "alice", auto_answer=False)  # it rings and rings
        session = await login(api)
        body = await alo_ok(
            api.anonymous,
            function="click2call",
            session=session,
            phonenumber="05071303066",
            transactionid="tx-restart",
            hangup_url=receiver.url("/hangup"),
        )
        assert body == {"success": True}

        async def ringing() -> str | None:
            items = ok(await api.client.get("/v1/calls"))["items"]
            return str(items[0]["call_id"]) if items else None

        call_id = await poll(ringing, what="the click2call to ring the agent")
        tenant_id = api.acme.tenant_id
    # the server stopped with the call live; it starts again and closes it
    async with run_server(database_url) as again:
        await receiver.wait_for(1)
        [request] = receiver.on("/hangup")
        fields = parse_qsl(request.body.decode(), keep_blank_values=True)
        assert [name for name, _ in fields] == HANGUP_FIELDS
        posted = dict(fields)
        assert (posted["call_id"], posted["tenant"]) == (call_id, tenant_id)
        assert (posted["transaction_id"], posted["agent_username"]) == (
            "tx-restart",
            "alice@example.com",
        )
        assert (posted["disposition"], posted["duration"]) == ("CHANUNAVAIL", "0")
        row = await app_state_of(again.app).store.records.get_record(tenant_id, call_id)
        assert row is not None
        assert (row.result, row.end_reason) == ("failed", "system_restart")
        assert row.data["transaction_id"] == "tx-restart"
