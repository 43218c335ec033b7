"""Seed 002 (Alo-Tech click2call): the POST to a call's `hangup_url` when it ends, and the
call's disposition in Alo-Tech's words (also what `reportsCDRLogs` answers)."""

from __future__ import annotations

from urllib.parse import quote

from helpline.core.ivr import call_date
from helpline.core.records import CallRecord, Result
from helpline.ports import Outbox


async def send_hangup_url(
    outbox: Outbox,
    tenant_id: str,
    record: CallRecord,
    url: str | None = None,
    *,
    message_id: str | None = None,
    retry: bool = False,
) -> None:
    """Seed 002: POST the hangup body to the call's `hangup_url`: `url`, else the one kept in
    the call's data (click2call keeps it there, so a call closed by a restart posts it too)."""
    url = url or record.data.get("hangup_url")
    if url:
        await outbox.send(
            tenant_id,
            kind="hangup_url",
            url=url,
            method="POST",
            form=hangup_fields(tenant_id, record, url),
            message_id=message_id,
            retry=retry,
        )


def hangup_fields(tenant_id: str, record: CallRecord, url: str) -> dict[str, str]:
    """Seed 002 "Post Body That Goes to Hangup_url": the documented fields of a finished call,
    in the seed's order. `url` is the hangup_url itself, quoted as the seed shows it
    (`https%3A//webhook.site/...`); `tenant` is the Helpline tenant id (Alo-Tech's tenant
    name); `agent_username` is the e-mail of the agent who placed the click2call."""
    return {
        "project": "alotech",
        "action": "webhook",
        "tenant": tenant_id,
        "url": quote(url),
        "call_date": call_date(record.created_at),
        "agent_username": record.data.get("agent_username", record.agent_id or ""),
        "transaction_id": record.data.get("transaction_id", ""),
        "disposition": dial_status(record),
        "duration": str(round(record.talk_s)),
        "called_num": record.to_number,
        "caller_id": record.from_number,
        "call_id": record.call_id,
    }


# Alo-Tech's dispositions are Asterisk's DIALSTATUS values (seed 002 shows ANSWER)
_DIAL_STATUS_BY_REASON = {
    "busy": "BUSY",
    "no_answer": "NOANSWER",
    "agent_no_answer": "NOANSWER",
    "no_agent_answered": "NOANSWER",
    "agent_rejected": "CANCEL",  # the click2call agent declined its own call
    "failed": "CHANUNAVAIL",
    "unknown_number": "CONGESTION",
}


def dial_status(record: CallRecord) -> str:
    """The call's `disposition` as Alo-Tech reports it: ANSWER, BUSY, NOANSWER, CANCEL,
    CONGESTION or CHANUNAVAIL."""
    if record.result in (Result.ANSWERED, Result.TRANSFERRED_EXTERNAL):
        return "ANSWER"
    by_reason = _DIAL_STATUS_BY_REASON.get(record.end_reason)
    if by_reason is not None:
        return by_reason
    if record.result in (Result.ABANDONED_IN_IVR, Result.ABANDONED_IN_QUEUE):
        return "CANCEL"  # the caller hung up before anyone answered
    if record.result is Result.FAILED and record.end_reason.endswith("_hangup"):
        return "CANCEL"  # a callout ended by its agent or the API before the customer answered
    if record.result is Result.FAILED:
        return "CHANUNAVAIL"
    return "NOANSWER"  # ended in the IVR, no agent, voicemail, callback requested
