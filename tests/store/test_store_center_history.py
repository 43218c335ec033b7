"""Center documents with versions, the event log and recordings metadata."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from store_support import FakeClock

from helpline.core.errors import Conflict, NotFound
from helpline.core.records import CallRecord
from helpline.store import InvalidCursor, Store, record_to_dict

DOC = {"name": "Demo", "queues": [{"id": "q1", "groups": ["g1"]}], "weights": [0.5, 1e-9]}


async def test_center_document_versions(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    assert await store.configs.get_config("t1") is None
    first = await store.configs.put_config("t1", DOC, expected_version=0)
    assert (first.version, first.document, first.updated_at) == (1, DOC, clock.now)
    second = await store.configs.put_config("t1", {**DOC, "name": "B"})  # unconditional
    assert second.version == 2
    with pytest.raises(Conflict) as caught:
        await store.configs.put_config("t1", DOC, expected_version=1)  # someone wrote since
    assert caught.value.details == {"expected_version": 1, "version": 2}
    third = await store.configs.put_config("t1", {"name": "C"}, expected_version=2)
    assert third.version == 3
    found = await store.configs.get_config("t1")
    assert found is not None and (found.version, found.document) == (3, {"name": "C"})
    assert await store.configs.get_config("t2") is None  # isolated
    with pytest.raises(Conflict):
        await store.configs.put_config("t2", DOC, expected_version=3)
    with pytest.raises(NotFound):
        await store.configs.put_config("nope", DOC)


async def test_event_log_is_numbered_per_tenant(
    store: Store, tenants: tuple[str, str], clock: FakeClock
) -> None:
    assert await store.events.last_seq("t1") == 0
    seqs = [await store.events.append("t1", "call.started", {"i": i}) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert await store.events.append("t2", "agent.state_changed", {"x": 1}, at=7.5) == 1
    async with store.transaction() as tx:  # several in one transaction keep counting
        assert await tx.events.append("t1", "a", {}) == 6
        assert await tx.events.append("t1", "b", {}) == 7
    got = await store.events.read("t1", after_seq=3, limit=2)
    assert [(e.seq, e.kind, e.data, e.at) for e in got] == [
        (4, "call.started", {"i": 3}, clock.now), (5, "call.started", {"i": 4}, clock.now)
    ]  # fmt: skip
    assert [e.seq for e in await store.events.read("t2")] == [1]
    assert (await store.events.read("t2"))[0].at == 7.5
    assert await store.events.last_seq("t1") == 7


async def test_recordings(
    store: Store,
    tenants: tuple[str, str],
    clock: FakeClock,
    record: Callable[..., CallRecord],
) -> None:
    await store.records.write_record("t1", record("c1", 100.0))
    first = await store.recordings.add_recording(
        "t1", "c1", "https://media.test/c1.wav", duration_s=61.5
    )
    assert first.id.startswith("rcd_") and first.content_type == "audio/wav"
    row = await store.records.get_record("t1", "c1")
    assert row is not None
    assert record_to_dict(row)["recording_url"] == "https://media.test/c1.wav" and row.recorded
    for i in range(4):
        clock.advance(1)
        await store.recordings.add_recording("t1", f"c{i + 2}", f"https://media.test/{i}.ogg",
                                             content_type="audio/ogg")  # fmt: skip
    page = await store.recordings.list_recordings("t1", limit=3)
    assert len(page.items) == 3 and page.next_cursor is not None
    rest = await store.recordings.list_recordings("t1", cursor=page.next_cursor, limit=3)
    assert len(rest.items) == 2 and rest.next_cursor is None
    assert [r.call_id for r in page.items + rest.items] == ["c1", "c2", "c3", "c4", "c5"]
    by_call = await store.recordings.list_recordings("t1", call_id="c3")
    assert [r.url for r in by_call.items] == ["https://media.test/1.ogg"]
    found = await store.recordings.get_recording("t1", first.id)
    assert found is not None and found.duration_s == 61.5
    assert await store.recordings.get_recording("t2", first.id) is None
    assert (await store.recordings.list_recordings("t2")).items == []
    # a records cursor is no recordings cursor
    await store.records.write_record("t1", record("c9", 101.0))
    records_cursor = (await store.records.list_records("t1", limit=1)).next_cursor
    assert records_cursor is not None
    with pytest.raises(InvalidCursor):
        await store.recordings.list_recordings("t1", cursor=records_cursor)
