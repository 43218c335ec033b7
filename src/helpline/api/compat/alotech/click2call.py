"""`function=click2call` (seed 002 "Click2Call"): the agent calls a number from the CRM.

It is Helpline's agent-first callout (seed 000 Step 4, method 2, the same `CalloutRequested`
as `POST /v1/calls/callout`): the session's agent is rung first, then `phonenumber`, and the
two are bridged. The customer sees the center's `global_number` (the hangup body's
`caller_id`).

- `transactionid`: the CRM's id of the call; Helpline makes a GUID when none is given (as
  Alo-Tech does). It is kept in the call's data, so it is on the call record and in the
  hangup body's `transaction_id`.
- `hangup_url`: when the call ends, a form POST of seed 002's "Post Body That Goes to
  Hangup_url" (`runtime.hangup.hangup_fields`) goes there through the durable outbox. It is
  kept in the call's data (stored with the live call), so a call that a server restart
  closes posts it too.

The answer is exactly the seed's `{"success": true}`, once the engine took the call (it rings
the agent). The call's id reaches the CRM as the hangup body's `call_id`, which
`reportsCDRLogs` takes as `activecallkey`; the CRM's own `transactionid` is on the record.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from helpline.api.compat.alotech.auth import session_agent
from helpline.api.compat.alotech.params import http_url, phone_number, text
from helpline.api.state import AppState
from helpline.core import events as ev

CALL_ID_PREFIX = "alo-"


async def click2call(state: AppState, query: Mapping[str, str]) -> dict[str, Any]:
    who = await session_agent(state, query)
    assert who.agent_id is not None
    number = phone_number(query, "phonenumber")
    transaction_id = text(query, "transactionid", max_length=200) or str(uuid.uuid4())
    hangup_url = http_url(query, "hangup_url")
    config = state.hub.runtime(who.tenant_id).engine.center.agents.get(who.agent_id)
    username = (config.email if config is not None else None) or who.agent_id
    call_id = f"{CALL_ID_PREFIX}{uuid.uuid4().hex[:16]}"
    data = {"transaction_id": transaction_id, "agent_username": username}
    if hangup_url is not None:
        # in the call's data: on its live row, so a call closed by a restart still posts it
        data["hangup_url"] = hangup_url
    await state.hub.runtime(who.tenant_id).submit(
        ev.CalloutRequested(
            call_id=call_id, agent_id=who.agent_id, customer_number=number, data=data
        )
    )
    return {"success": True}
