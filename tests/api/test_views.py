"""``wavecom.api.views``: a stored document as clients see it (seed 003's JSON shapes).

A notification read back from the real database shows its public fields with times as
``...mmmZ``, leaves out what is internal (the claim, the recipient's hash, the trace header,
fields that are None) and shows the trace id; its timeline becomes its logs; a page carries
the pagination and the cursor of its last item, which ``parse_cursor`` reads back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId

from tests.support.documents import doc
from wavecom.api.views import cursor, iso, logs, notification, page, parse_cursor, replayed
from wavecom.store import Page, Store

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def stored(store: Store, **fields: object) -> dict[str, object]:
    d = {**doc(1), **fields}
    await store.notifications.insert([d])
    got = await store.notifications.get("acme", d["_id"])
    assert got is not None
    return got


def test_times_are_utc_with_milliseconds() -> None:
    assert iso(datetime(2024, 12, 11, 10, 30, 0, 123999, tzinfo=UTC)) == "2024-12-11T10:30:00.123Z"
    assert iso(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05.000Z"


async def test_a_stored_notification_shows_its_public_fields_only(store: Store) -> None:
    d = await stored(store, traceparent=TRACE, claim="batch-9", metadata={"order": "42"})
    out = notification(d)
    assert out["_id"] == str(d["_id"])
    assert out["tenantId"] == "acme"
    assert out["recipient"] == "+2348000000001"
    assert out["status"] == "QUEUED"
    assert out["metadata"] == {"order": "42"}
    assert out["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    created = d["createdAt"]
    assert isinstance(created, datetime)
    assert out["createdAt"] == iso(created)
    assert out["createdAt"].endswith("Z")
    for internal in ("claim", "traceparent", "recipientHash", "timeline", "subject"):
        assert internal not in out, internal


async def test_nested_times_are_rendered_too(store: Store) -> None:
    at = datetime(2025, 3, 4, 5, 6, 7, 8000, tzinfo=UTC)
    d = await stored(store, receipt={"status": "DELIVERED", "at": at})
    assert notification(d)["receipt"] == {"status": "DELIVERED", "at": "2025-03-04T05:06:07.008Z"}


async def test_the_timeline_becomes_the_logs(store: Store) -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    steps = [
        {"_id": "s1", "status": "QUEUED", "message": "Accepted", "timestamp": at},
        {
            "_id": "s2",
            "status": "SENT",
            "message": "Sent",
            "timestamp": at,
            "metadata": {"provider": "sms-a"},
            "traceId": "abc",
        },
    ]
    d = await stored(store, timeline=steps)
    nid = str(d["_id"])
    assert logs(d) == [
        {
            "_id": "s1",
            "notificationId": nid,
            "status": "QUEUED",
            "message": "Accepted",
            "timestamp": "2025-01-01T00:00:00.000Z",
        },
        {
            "_id": "s2",
            "notificationId": nid,
            "status": "SENT",
            "message": "Sent",
            "timestamp": "2025-01-01T00:00:00.000Z",
            "metadata": {"provider": "sms-a"},
            "traceId": "abc",
        },
    ]


def test_a_page_counts_its_pages_and_names_the_next_cursor() -> None:
    at = datetime(2025, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    last = ObjectId()
    items = [{**doc(i), "_id": ObjectId()} for i in range(2)]
    out = page(Page(items, 21, (at, last)), 1, 10)
    assert [n["recipient"] for n in out["notifications"]] == ["+2348000000000", "+2348000000001"]
    assert out["pagination"] == {
        "currentPage": 1,
        "totalPages": 3,
        "totalItems": 21,
        "totalItemsExact": True,
        "itemsPerPage": 10,
    }
    assert out["nextCursor"] == f"1735689601500-{last}"
    assert parse_cursor(out["nextCursor"]) == (at, last)
    empty = page(Page([], 0), 1, 10)
    assert empty["pagination"]["totalPages"] == 0
    assert "nextCursor" not in empty


def test_a_cursor_round_trips() -> None:
    at, oid = datetime(2030, 6, 1, 12, 0, 0, 250000, tzinfo=UTC), ObjectId()
    assert parse_cursor(cursor(at, oid)) == (at, oid)


@pytest.mark.parametrize(
    "text", ["", "abc", "-" + "a" * 24, "12-" + "z" * 24, "12-" + "a" * 23, "1.5-" + "a" * 24]
)
def test_a_cursor_the_api_did_not_give_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a cursor"):
        parse_cursor(text)


def test_a_replay_answers_how_many_and_which() -> None:
    assert replayed(["a", "b"]) == {"success": True, "data": {"replayed": 2, "ids": ["a", "b"]}}
