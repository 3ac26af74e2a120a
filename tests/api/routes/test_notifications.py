"""Contract tests of /api/notifications (seed 003), against the real broker and database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.support.api import assert_error
from tests.support.notifications import email, push, sms
from tests.support.processes import TENANT, serve
from tests.support.wait import wait_for
from wavecom.core.constants import DLQ, Channel, Lane, lane_queue
from wavecom.core.settings import Settings
from wavecom.store import Store
from wavecom.store.documents import provider_key

# --- create ------------------------------------------------------------------------------------


async def test_create_returns_201_queued_in_the_documented_envelope(
    client: httpx.AsyncClient, store: Store
) -> None:
    r = await client.post(
        "/api/notifications", json={**email(1), "priority": "HIGH", "metadata": {"userId": "12345"}}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["success"] is True
    assert body["message"] == "Notification created and queued successfully"
    data = body["data"]
    assert len(data["_id"]) == 24
    assert data["status"] == "QUEUED"
    assert data["type"] == "EMAIL"
    assert data["priority"] == "HIGH"
    assert data["retryCount"] == 0
    assert data["maxRetries"] == 3
    assert data["metadata"] == {"userId": "12345"}
    assert data["tenantId"] == TENANT
    assert data["createdAt"].endswith("Z")
    stored = await store.notifications.collection.find_one({"recipient": "user1@example.com"})
    assert stored is not None
    assert str(stored["_id"]) == data["_id"]


async def test_priority_defaults_to_medium_and_lands_on_the_standard_lane(
    client: httpx.AsyncClient, queue_depth: Any
) -> None:
    r = await client.post("/api/notifications", json=sms(1))
    assert r.status_code == 201, r.text
    assert r.json()["data"]["priority"] == "MEDIUM"
    assert await queue_depth(lane_queue(Channel.SMS, Lane.STANDARD)) == 1
    assert await queue_depth(lane_queue(Channel.SMS, Lane.HIGH)) == 0


async def test_critical_lands_on_the_high_lane(client: httpx.AsyncClient, queue_depth: Any) -> None:
    r = await client.post("/api/notifications", json={**push(1), "priority": "CRITICAL"})
    assert r.status_code == 201, r.text
    assert await queue_depth(lane_queue(Channel.PUSH, Lane.HIGH)) == 1
    assert await queue_depth(DLQ) == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"recipient": "a@b.co", "message": "hi", "subject": "s"}, "type"),
        ({**email(), "type": "FAX"}, "type"),
        ({**email(), "type": 1}, "type"),
        ({**email(), "recipient": "not-an-email"}, "recipient"),
        ({**email(), "recipient": "two@@example.com"}, "recipient"),
        ({**sms(), "recipient": "08012345678"}, "recipient"),
        ({**sms(), "recipient": "+0123456789"}, "recipient"),
        ({**sms(), "recipient": "+1234"}, "recipient"),
        ({**push(), "recipient": "short"}, "recipient"),
        ({**push(), "recipient": "has spaces in the token!"}, "recipient"),
        ({k: v for k, v in email().items() if k != "recipient"}, "recipient"),
        ({k: v for k, v in email().items() if k != "subject"}, "subject"),
        ({**email(), "subject": ""}, "subject"),
        ({k: v for k, v in sms().items() if k != "message"}, "message"),
        ({**sms(), "message": ""}, "message"),
        ({**sms(), "message": "x" * 5001}, "message"),
        ({**sms(), "message": 42}, "message"),
        ({**sms(), "priority": "URGENT"}, "priority"),
        ({**sms(), "priority": "low"}, "priority"),
        ({**sms(), "metadata": "not an object"}, "metadata"),
        ({**sms(), "metadata": [1, 2]}, "metadata"),
        ({**sms(), "metadata": {"blob": "x" * 9000}}, "metadata"),
        ({**sms(), "metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}, "metadata"),
        ({**sms(), "metadata": {"$where": 1}}, "metadata"),
        ({**sms(), "scheduledAt": "2001-01-01T00:00:00Z"}, "scheduledAt"),
        ({**sms(), "scheduledAt": "tomorrow"}, "scheduledAt"),
        ({**sms(), "scheduledAt": "2099-01-01T00:00:00"}, "scheduledAt"),
        ({**sms(), "scheduledAt": "2200-01-01T00:00:00Z"}, "scheduledAt"),
        ({**sms(), "message": "nul\u0000byte"}, "message"),
        ({**sms(), "message": "lone \ud800 surrogate"}, "message"),
        ({**sms(), "metadata": {"key\u0000": 1}}, "metadata"),
        ({**sms(), "metadata": {"k": ["v\u0000"]}}, "metadata"),
        ({**sms(), "metadata": {"k": "\udc00"}}, "metadata"),
        ({**sms(), "metadata": {"k": float("inf")}}, "metadata"),
        ({**sms(), "metadata": {"k": [-9999999999999999999]}}, "metadata"),  # beyond int64
        ({**sms(), "metadata": {"k": 2**63}}, "metadata"),
        ({**sms(), "colour": "blue"}, "colour"),
    ],
)
async def test_invalid_input_is_a_400_with_the_field_named(
    client: httpx.AsyncClient, store: Store, payload: dict[str, Any], field: str
) -> None:
    # sent as JSON text as a client would (lone surrogates and 1e999 included)
    r = await client.post(
        "/api/notifications",
        content=json.dumps(payload).replace("Infinity", "1e999"),
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 400, "VALIDATION_ERROR", field)
    assert await store.notifications.collection.count_documents({}) == 0


async def test_text_is_stored_in_nfc(client: httpx.AsyncClient) -> None:
    decomposed = "Cafe\u0301 payment"  # e + combining acute accent
    r = await client.post("/api/notifications", json={**sms(), "message": decomposed})
    assert r.json()["data"]["message"] == "Caf\u00e9 payment"


async def test_subject_is_optional_for_sms(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/notifications", json={**sms(), "subject": "ignored but allowed"})
    assert r.status_code == 201, r.text


async def test_message_of_exactly_5000_characters_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/notifications", json={**sms(), "message": "x" * 5000})
    assert r.status_code == 201, r.text


async def test_body_that_is_not_json_is_a_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/notifications", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(r, 400, "INVALID_JSON")


async def test_body_that_is_a_list_is_a_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/notifications", json=[email()])
    assert_error(r, 400, "VALIDATION_ERROR")


async def test_oversize_body_is_a_413(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/notifications",
        content=b'{"message": "' + b"x" * (3 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


async def test_scheduled_in_the_future_is_scheduled_not_queued(
    client: httpx.AsyncClient, queue_depth: Any
) -> None:
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await client.post("/api/notifications", json={**sms(), "scheduledAt": at})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["status"] == "SCHEDULED"
    assert data["scheduledAt"].endswith("Z")
    assert await queue_depth(lane_queue(Channel.SMS, Lane.STANDARD)) == 0


# --- batch -------------------------------------------------------------------------------------


async def test_batch_reports_per_item_and_keeps_the_good_ones(
    client: httpx.AsyncClient, store: Store, queue_depth: Any
) -> None:
    items = [email(1), {**sms(2), "recipient": "nope"}, push(3), {**email(4), "type": "FAX"}]
    r = await client.post("/api/notifications/batch", json={"notifications": items})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["accepted"] == 2
    assert data["rejected"] == 2
    results = data["results"]
    assert [x["index"] for x in results] == [0, 1, 2, 3]
    assert [x["success"] for x in results] == [True, False, True, False]
    assert results[0]["data"]["status"] == "QUEUED"
    assert results[1]["error"]["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in results[1]["error"]["details"]] == ["recipient"]
    assert [d["field"] for d in results[3]["error"]["details"]] == ["type"]
    assert await store.notifications.collection.count_documents({}) == 2
    assert await queue_depth(lane_queue(Channel.EMAIL, Lane.STANDARD)) == 1
    assert await queue_depth(lane_queue(Channel.PUSH, Lane.STANDARD)) == 1


async def test_batch_of_1000_is_accepted_and_published(
    client: httpx.AsyncClient, store: Store, queue_depth: Any
) -> None:
    items = [sms(i) for i in range(1000)]
    r = await client.post("/api/notifications/batch", json={"notifications": items})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["accepted"] == 1000
    assert await store.notifications.collection.count_documents({}) == 1000
    assert await queue_depth(lane_queue(Channel.SMS, Lane.STANDARD)) == 1000


async def test_batch_of_1001_is_rejected_whole(client: httpx.AsyncClient, store: Store) -> None:
    r = await client.post(
        "/api/notifications/batch", json={"notifications": [sms(i) for i in range(1001)]}
    )
    assert_error(r, 400, "VALIDATION_ERROR", "notifications")
    assert await store.notifications.collection.count_documents({}) == 0


@pytest.mark.parametrize(
    "body", [{"notifications": []}, {}, {"notifications": "x"}, {"items": [sms()]}]
)
async def test_batch_envelope_errors_are_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    r = await client.post("/api/notifications/batch", json=body)
    assert_error(r, 400, "VALIDATION_ERROR")


async def test_batch_with_no_valid_item_is_a_400_naming_each(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/notifications/batch",
        json={"notifications": [{**sms(), "recipient": "x"}, {**email(), "subject": None}]},
    )
    assert_error(r, 400, "VALIDATION_ERROR")
    fields = [d["field"] for d in r.json()["error"]["details"]]
    assert fields == ["notifications.0.recipient", "notifications.1.subject"]


# --- read --------------------------------------------------------------------------------------


async def test_get_returns_the_notification_and_its_logs(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/notifications", json=email(5))).json()["data"]
    r = await client.get(f"/api/notifications/{created['_id']}")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["notification"]["_id"] == created["_id"]
    assert data["notification"]["recipient"] == "user5@example.com"
    statuses = [entry["status"] for entry in data["logs"]]
    assert statuses[:2] == ["PENDING", "QUEUED"]
    assert all(entry["notificationId"] == created["_id"] for entry in data["logs"])


async def test_get_malformed_id_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/notifications/not-an-id"), 400, "INVALID_ID", "id")


async def test_get_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/notifications/" + "a" * 24), 404, "NOT_FOUND")


async def test_list_pages_newest_first_with_filters(client: httpx.AsyncClient) -> None:
    batch = [sms(i) for i in range(5)] + [{**email(i), "priority": "HIGH"} for i in range(3)]
    r = await client.post("/api/notifications/batch", json={"notifications": batch})
    assert r.status_code == 201
    ids = [x["data"]["_id"] for x in r.json()["data"]["results"]]

    r = await client.get("/api/notifications", params={"limit": 3})
    assert r.status_code == 200, r.text
    page = r.json()["data"]
    assert page["pagination"] == {
        "currentPage": 1,
        "totalPages": 3,
        "totalItems": 8,
        "totalItemsExact": True,
        "itemsPerPage": 3,
    }
    assert len(page["notifications"]) == 3

    seen: list[str] = []
    for n in (1, 2, 3):
        r = await client.get("/api/notifications", params={"limit": 3, "page": n})
        seen += [x["_id"] for x in r.json()["data"]["notifications"]]
    assert sorted(seen) == sorted(ids)
    created = [x["createdAt"] for x in page["notifications"]]
    assert created == sorted(created, reverse=True)

    r = await client.get("/api/notifications", params={"type": "EMAIL", "priority": "HIGH"})
    data = r.json()["data"]
    assert data["pagination"]["totalItems"] == 3
    assert {x["type"] for x in data["notifications"]} == {"EMAIL"}

    r = await client.get("/api/notifications", params={"status": "SENT"})
    assert r.json()["data"]["pagination"]["totalItems"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "one"}, "page"),
        ({"status": "DONE"}, "status"),
        ({"type": "FAX"}, "type"),
        ({"priority": "NOW"}, "priority"),
        ({"after": "not-a-cursor"}, "after"),
        ({"createdFrom": "2026-01-01T00:00:00"}, "createdFrom"),
        ({"reference": ""}, "reference"),
    ],
)
async def test_list_rejects_bad_query_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    assert_error(
        await client.get("/api/notifications", params=params), 400, "VALIDATION_ERROR", field
    )


async def test_stats_count_the_real_data_and_queues(client: httpx.AsyncClient) -> None:
    batch = [sms(1), sms(2), {**email(3), "priority": "CRITICAL"}, push(4)]
    await client.post("/api/notifications/batch", json={"notifications": batch})

    async def counted() -> dict[str, Any] | None:
        # the counters are written right after the 201 (not before it): moments later
        r = await client.get("/api/notifications/stats/system")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        return data if data["total"] == 4 else None

    data = await wait_for(counted, within=10, what="the counters of the batch")
    assert data["byStatus"]["QUEUED"] == 4
    assert data["byStatus"]["SENT"] == 0
    assert data["byType"] == {"EMAIL": 1, "SMS": 2, "PUSH": 1}
    assert data["byPriority"] == {"LOW": 0, "MEDIUM": 3, "HIGH": 0, "CRITICAL": 1}

    async def sampled() -> dict[str, int] | None:
        # queue depths come from the API's background sample (api/depths.py), not the call
        r = await client.get("/api/notifications/stats/system")
        depth: dict[str, int] = r.json()["data"]["queueDepth"]
        whole = depth.get("wavecom.sms.standard") == 2 and depth.get("wavecom.email.high") == 1
        return depth if whole else None  # the standard lanes are sampled more often

    depths = await wait_for(sampled, within=20, what="the next full sample of the queues")
    assert depths["wavecom.dlq"] == 0
    assert data["averageProcessingTime"] == 0
    assert data["successRate"] == 100.0


async def test_queue_depths_follow_the_queues_within_the_sampling_interval(
    client: httpx.AsyncClient,
) -> None:
    for expected in (1, 2):
        await client.post("/api/notifications", json=sms(expected))

        async def depth_is(n: int = expected) -> bool:
            r = await client.get("/api/notifications/stats/system")
            return bool(r.json()["data"]["queueDepth"].get("wavecom.sms.standard") == n)

        await wait_for(depth_is, within=20, what=f"the sampled depth to reach {expected}")


# --- references, lookups, ranges and cursors -----------------------------------------------------


async def test_a_reference_is_unique_per_tenant_and_a_second_create_names_the_first(
    client: httpx.AsyncClient, store: Store, settings: Settings
) -> None:
    first = await client.post("/api/notifications", json={**sms(1), "reference": "login-7"})
    assert first.status_code == 201, first.text
    assert first.json()["data"]["reference"] == "login-7"
    nid = first.json()["data"]["_id"]

    again = await client.post("/api/notifications", json={**sms(2), "reference": "login-7"})
    assert_error(again, 409, "REFERENCE_CONFLICT", "reference")
    assert nid in again.json()["error"]["message"]
    assert await store.notifications.collection.count_documents({}) == 1  # nothing half-written

    # another tenant's references are its own
    async with serve(settings, tenant="globex") as other:
        theirs = await other.post("/api/notifications", json={**sms(3), "reference": "login-7"})
        assert theirs.status_code == 201, theirs.text


async def test_creates_racing_with_one_reference_store_exactly_one(
    client: httpx.AsyncClient, store: Store
) -> None:
    answers = await asyncio.gather(
        *(
            client.post("/api/notifications", json={**sms(i), "reference": "pay-1"})
            for i in range(12)
        )
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 11, codes
    assert await store.notifications.collection.count_documents({"reference": "pay-1"}) == 1
    # the refused ones were neither queued nor counted
    stats = (await client.get("/api/notifications/stats/system")).json()["data"]

    async def counted() -> bool:
        s = (await client.get("/api/notifications/stats/system")).json()["data"]
        return bool(s["total"] == 1)

    await wait_for(counted, what="the one accepted notification to be counted")
    assert stats["total"] <= 1


async def test_a_batch_reports_each_reference_conflict_at_its_index(
    client: httpx.AsyncClient, store: Store
) -> None:
    assert (
        await client.post("/api/notifications", json={**email(0), "reference": "r-0"})
    ).status_code == 201
    items = [
        {**email(1), "reference": "r-0"},  # used before
        {**email(2), "reference": "r-2"},
        {**email(3), "reference": "r-2"},  # used by item 1 of this batch
        email(4),
    ]
    r = await client.post("/api/notifications/batch", json={"notifications": items})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert (data["accepted"], data["rejected"]) == (2, 2)
    results = data["results"]
    assert results[0]["error"]["code"] == "REFERENCE_CONFLICT"
    assert results[2]["error"]["code"] == "VALIDATION_ERROR"
    assert "item 1 of this batch" in results[2]["error"]["message"]
    assert [x["success"] for x in results] == [False, True, False, True]
    assert await store.notifications.collection.count_documents({}) == 3

    every_one_taken = await client.post(
        "/api/notifications/batch", json={"notifications": [{**email(5), "reference": "r-2"}]}
    )
    assert_error(every_one_taken, 409, "REFERENCE_CONFLICT", "notifications.0.reference")


async def test_the_support_desk_finds_a_customers_notifications_by_recipient(
    client: httpx.AsyncClient, store: Store
) -> None:
    batch = [email(1), email(2), {**email(1), "message": "again"}, sms(1)]
    r = await client.post("/api/notifications/batch", json={"notifications": batch})
    assert r.status_code == 201
    found = await client.get("/api/notifications", params={"recipient": "USER1@Example.com"})
    data = found.json()["data"]
    assert data["pagination"]["totalItems"] == 2
    assert {n["recipient"] for n in data["notifications"]} == {"user1@example.com"}
    phone = await client.get("/api/notifications", params={"recipient": sms(1)["recipient"]})
    assert phone.json()["data"]["pagination"]["totalItems"] == 1

    # the index holds a keyed hash, never the recipient
    stored = await store.notifications.collection.find_one({"recipient": "user1@example.com"})
    assert stored is not None
    assert stored["recipientHash"] != "user1@example.com"
    assert len(stored["recipientHash"]) == 32
    indexes = await store.notifications.collection.index_information()
    assert not any("recipient" in [k for k, _ in i["key"]] for i in indexes.values())
    hasher = await store.recipient_hasher()
    assert stored["recipientHash"] == hasher("User1@example.com")


async def test_lookups_by_reference_and_provider_message_id(
    client: httpx.AsyncClient, store: Store
) -> None:
    r = await client.post("/api/notifications", json={**push(1), "reference": "parcel-9"})
    nid = r.json()["data"]["_id"]
    await client.post("/api/notifications", json=push(2))
    by_ref = (await client.get("/api/notifications", params={"reference": "parcel-9"})).json()
    assert [n["_id"] for n in by_ref["data"]["notifications"]] == [nid]
    # a provider's id, as a worker's outcome stores it
    await store.notifications.collection.update_one(
        {"_id": ObjectId(nid)},
        {
            "$set": {
                "provider": "pushfire",
                "providerMessageId": "pushfire_abc",
                "providerKey": provider_key("pushfire_abc", "pushfire"),
            }
        },
    )
    by_id = await client.get("/api/notifications", params={"providerMessageId": "pushfire_abc"})
    assert [n["_id"] for n in by_id.json()["data"]["notifications"]] == [nid]
    none = await client.get("/api/notifications", params={"providerMessageId": "nobody"})
    assert none.json()["data"]["pagination"]["totalItems"] == 0


async def test_a_created_range_keeps_what_was_created_inside_it(
    client: httpx.AsyncClient, store: Store
) -> None:
    r = await client.post(
        "/api/notifications/batch", json={"notifications": [sms(i) for i in range(6)]}
    )
    ids = [x["data"]["_id"] for x in r.json()["data"]["results"]]
    now = datetime.now(UTC)
    # three of them as if created a day ago
    await store.notifications.collection.update_many(
        {"_id": {"$in": [ObjectId(i) for i in ids[:3]]}},
        {"$set": {"createdAt": now - timedelta(days=1)}},
    )
    since = (now - timedelta(hours=1)).isoformat()
    recent = await client.get("/api/notifications", params={"createdFrom": since})
    assert sorted(n["_id"] for n in recent.json()["data"]["notifications"]) == sorted(ids[3:])
    older = await client.get("/api/notifications", params={"createdTo": since})
    assert sorted(n["_id"] for n in older.json()["data"]["notifications"]) == sorted(ids[:3])
    # a range that ends before it starts holds nothing
    inverted = await client.get(
        "/api/notifications", params={"createdFrom": since, "createdTo": since}
    )
    assert inverted.status_code == 200
    assert inverted.json()["data"]["pagination"]["totalItems"] == 0


async def test_a_cursor_walks_every_notification_once_while_new_ones_arrive(
    client: httpx.AsyncClient,
) -> None:
    ids: list[str] = []
    for _ in range(3):  # each batch shares one createdAt: the cursor must break the ties
        r = await client.post(
            "/api/notifications/batch", json={"notifications": [sms(i) for i in range(15)]}
        )
        ids += [x["data"]["_id"] for x in r.json()["data"]["results"]]
    walked: list[str] = []
    params: dict[str, Any] = {"limit": 20}
    while True:
        page = (await client.get("/api/notifications", params=params)).json()["data"]
        walked += [n["_id"] for n in page["notifications"]]
        # a newer notification arriving meanwhile does not shift what the cursor walks
        await client.post("/api/notifications", json=sms(99))
        if "nextCursor" not in page:
            break
        params = {"limit": 20, "after": page["nextCursor"]}
    assert len(walked) == len(set(walked)) == 45
    assert set(walked) == set(ids)
    assert walked == sorted(walked, key=lambda i: (ids.index(i) // 15, i), reverse=True)
