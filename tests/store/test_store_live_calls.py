"""Live calls and restart safety (issue 4, point 11)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpline.core.records import CallRecord, Direction, Result
from helpline.ports import LiveCallRow
from helpline.store import Store, row_to_call_record
from helpline.store.base import InvalidText

Make = Callable[..., CallRecord]


async def test_writing_the_record_ends_the_live_call(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    await store.records.call_started("t1", "c1", 10.0, {"from_number": "+1"})
    await store.records.call_started("t1", "c1", 99.0)  # again: nothing changes
    await store.records.call_started("t1", "c2", 11.0)
    live = await store.records.get_live_call("t1", "c1")
    assert live is not None and (live.started_at, live.data) == (10.0, {"from_number": "+1"})
    await store.records.write_record("t1", record("c1", 50.0))
    assert [c.call_id for c in await store.records.list_live_calls("t1")] == ["c2"]
    assert await store.records.get_live_call("t1", "c1") is None


async def test_restart_closes_live_calls_as_failed(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    await store.records.call_started("t1", "done", 1.0)
    await store.records.write_record("t1", record("done", 5.0))  # finished before the crash
    await store.records.call_started("t1", "ringing", 10.0, {"from_number": "+1555"})
    await store.records.call_started("t1", "talking", 20.0)
    assert await store.records.update_live_call(
        "t1", "talking",
        {"direction": "callback", "from_number": "+1666", "to_number": "200", "queue_id": "q2",
         "agent_id": "a7", "queued_at": 21.0, "offered_at": 30.0, "answered_at": 35.0,
         "ivr_tree": "main", "ivr_path": ["root"], "keys": "2", "priority": 3,
         "data": {"crm": 9}},
    )  # fmt: skip
    assert not await store.records.update_live_call("t1", "unknown", {})
    await store.records.call_started("t2", "theirs", 15.0)

    closed = await store.records.close_live_calls("t1", 100.0)

    assert [r.call_id for r in closed] == ["ringing", "talking"]
    for r in closed:
        assert (r.result, r.end_reason, r.disconnected_by) == (
            Result.FAILED, "system_restart", "system",
        )  # fmt: skip
        assert r.ended_at == 100.0
        row = await store.records.get_record("t1", r.call_id)
        assert row is not None and row_to_call_record(row) == r
    talking = closed[1]
    assert talking.direction is Direction.CALLBACK
    assert (talking.from_number, talking.agent_id, talking.queue_id) == ("+1666", "a7", "q2")
    assert (talking.wait_s, talking.talk_s, talking.priority) == (14.0, 65.0, 3)
    assert [leg.agent_id for leg in talking.legs] == ["a7"]
    assert talking.data == {"crm": "9"}
    assert closed[0].from_number == "+1555" and closed[0].legs == ()
    # the record written before the crash is untouched; the other tenant's call still live
    done = await store.records.get_record("t1", "done")
    assert done is not None and done.result == "answered"
    assert await store.records.list_live_calls("t1") == []
    assert [c.call_id for c in await store.records.list_live_calls("t2")] == ["theirs"]
    assert await store.records.close_live_calls("t1", 200.0) == []  # a second start: nothing
    # a live row whose call has a record already: dropped, the record kept, nothing reported
    await store.records.call_started("t1", "done", 1.0)
    assert await store.records.close_live_calls("t1", 300.0) == []
    assert await store.records.list_live_calls("t1") == []
    done = await store.records.get_record("t1", "done")
    assert done is not None and done.result == "answered"


async def test_a_unit_of_work_commits_or_rolls_back_as_one(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    await store.records.call_started("t1", "c1", 1.0)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.records.write_record("t1", record("c1", 5.0))
            await tx.outbox.enqueue("t1", kind="webhook", url="https://x.test/h", body="{}")
            raise RuntimeError("crash before commit")
    assert await store.records.get_record("t1", "c1") is None
    assert await store.records.get_live_call("t1", "c1") is not None
    assert await store.outbox.claim_due(1e12) == []

    async with store.transaction() as tx:
        await tx.records.write_record("t1", record("c1", 5.0))
        message = await tx.outbox.enqueue("t1", kind="hangup_url", url="https://x.test/h")
    assert await store.records.get_record("t1", "c1") is not None
    assert await store.records.get_live_call("t1", "c1") is None
    assert [m.id for m in await store.outbox.claim_due(1e12)] == [message.id]


async def test_store_calls_upserts_live_rows_and_writes_records_at_once(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    """The runtime's group commit: one transaction for many calls' live rows and records."""
    await store.records.store_calls(
        "t1",
        [LiveCallRow("a", 1.0, {"queue_id": "q"}), LiveCallRow("b", 2.0, {})],
        [],
    )
    await store.records.store_calls(
        "t1",
        # a's snapshot replaced (its start kept), c new, d recorded in the same batch
        [LiveCallRow("a", 9.0, {"agent_id": "x"}), LiveCallRow("c", 3.0, {}),
         LiveCallRow("d", 4.0, {"queue_id": "never stored"})],
        [record("b", 20.0), record("d", 21.0)],
    )  # fmt: skip
    live = {row.call_id: row for row in await store.records.list_live_calls("t1")}
    assert sorted(live) == ["a", "c"]  # b's live row went with its record; d never had one
    assert (live["a"].started_at, live["a"].data) == (1.0, {"agent_id": "x"})
    for call_id in ("b", "d"):
        row = await store.records.get_record("t1", call_id)
        assert row is not None and row_to_call_record(row) == record(
            call_id, 20.0 + (call_id == "d")
        )
    # a retry after a commit that was not seen: nothing fails, nothing is duplicated
    await store.records.store_calls("t1", [], [record("b", 99.0)])
    again = await store.records.get_record("t1", "b")
    assert again is not None and again.ended_at == 20.0
    assert await store.records.list_live_calls("t2") == []  # the other tenant untouched


async def test_store_calls_is_one_transaction(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    """A bad record (text no backend can store) fails the whole batch: nothing of it lands."""
    bad = record("bad", 5.0, from_number="a\x00b")
    with pytest.raises(InvalidText):
        await store.records.store_calls("t1", [LiveCallRow("x", 1.0, {})], [record("ok", 4.0), bad])
    assert await store.records.list_live_calls("t1") == []
    assert await store.records.get_record("t1", "ok") is None
