"""ttlSeconds / expiresAt through the API (docs/expiry.md), against the real broker and database:
the fields and their rules, the tenant's default per channel (admin API), the sweep the API
process runs, the stats, and a dead letter whose validity ended refused a replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.support.api import assert_error
from tests.support.notifications import email, push, sms
from tests.support.wait import wait_for
from wavecom.store import Store


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def created(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/api/notifications", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def test_ttl_seconds_sets_expires_at_from_now_or_from_the_schedule(
    client: httpx.AsyncClient, store: Store
) -> None:
    now = created_now = datetime.now(UTC)
    data = await created(client, {**sms(1), "ttlSeconds": 120})
    assert at(data["expiresAt"]) - at(data["createdAt"]) == timedelta(seconds=120)
    later = (now + timedelta(hours=1)).replace(microsecond=0)
    scheduled = await created(client, {**email(2), "scheduledAt": iso(later), "ttlSeconds": 300})
    assert at(scheduled["expiresAt"]) == later + timedelta(seconds=300)
    stored = await store.notifications.collection.find_one({"_id": ObjectId(data["_id"])})
    assert stored is not None
    assert stored["expiresAt"] > created_now
    # without either, no expiry at all
    assert "expiresAt" not in await created(client, push(3))


async def test_expires_at_is_kept_as_given(client: httpx.AsyncClient) -> None:
    until = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
    data = await created(client, {**sms(1), "expiresAt": until.isoformat()})
    assert at(data["expiresAt"]) == until
    got = (await client.get(f"/api/notifications/{data['_id']}")).json()["data"]
    assert at(got["notification"]["expiresAt"]) == until


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"ttlSeconds": 60, "expiresAt": "2099-01-01T00:00:00Z"}, "expiresAt"),
        ({"ttlSeconds": 0}, "ttlSeconds"),
        ({"ttlSeconds": 604_801}, "ttlSeconds"),
        ({"ttlSeconds": "soon"}, "ttlSeconds"),
        ({"ttlSeconds": "60"}, "ttlSeconds"),  # a string, though numeric: the schema says integer
        ({"ttlSeconds": True}, "ttlSeconds"),
        ({"expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),  # in the past
        ({"expiresAt": "2099-01-01T00:00:00"}, "expiresAt"),  # no timezone
        ({"expiresAt": "2099-01-01T00:00:00Z"}, "expiresAt"),  # more than 7 days ahead
    ],
)
async def test_bad_expiry_is_a_400_naming_the_field(
    client: httpx.AsyncClient, extra: dict[str, Any], field: str
) -> None:
    r = await client.post("/api/notifications", json={**sms(1), **extra})
    assert_error(r, 400, "VALIDATION_ERROR", field)


async def test_expires_at_must_follow_the_schedule(client: httpx.AsyncClient) -> None:
    due = datetime.now(UTC) + timedelta(hours=2)
    r = await client.post(
        "/api/notifications",
        json={**sms(1), "scheduledAt": iso(due), "expiresAt": iso(due - timedelta(minutes=1))},
    )
    assert_error(r, 400, "VALIDATION_ERROR", "expiresAt")
    both = {"ttlSeconds": 30, "expiresAt": iso(datetime.now(UTC) + timedelta(minutes=1))}
    batch = await client.post(
        "/api/notifications/batch",
        json={"notifications": [sms(1), {**sms(2), **both}]},
    )
    assert batch.status_code == 201, batch.text
    first, second = batch.json()["data"]["results"]
    assert first["success"] is True
    assert second["success"] is False
    assert [d["field"] for d in second["error"]["details"]] == ["expiresAt"]


async def test_a_tenant_default_ttl_applies_per_channel_unless_the_create_says(
    client: httpx.AsyncClient,
) -> None:
    r = await client.put("/api/admin/expiry", json={"SMS": 90})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"EMAIL": None, "SMS": 90, "PUSH": None}
    otp = await created(client, sms(1))
    assert at(otp["expiresAt"]) - at(otp["createdAt"]) == timedelta(seconds=90)
    own = await created(client, {**sms(2), "ttlSeconds": 10})
    assert at(own["expiresAt"]) - at(own["createdAt"]) == timedelta(seconds=10)
    assert "expiresAt" not in await created(client, email(3))
    batch = await client.post("/api/notifications/batch", json={"notifications": [sms(4)]})
    [item] = batch.json()["data"]["results"]
    assert "expiresAt" in item["data"]
    assert_error(await client.put("/api/admin/expiry", json={"SMS": 0}), 400, "VALIDATION_ERROR")
    cleared = await client.put("/api/admin/expiry", json={"SMS": None})
    assert cleared.json()["data"]["SMS"] is None
    assert "expiresAt" not in await created(client, sms(5))
    assert (await client.get("/api/admin/expiry")).json()["data"]["SMS"] is None


async def test_a_waiting_notification_expires_by_the_sweep_and_is_counted(
    client: httpx.AsyncClient,
) -> None:
    """No worker consumes here: the API process's sweep expires it where it waits."""
    data = await created(client, {**sms(1), "ttlSeconds": 1})

    async def expired() -> dict[str, Any] | None:
        got = (await client.get(f"/api/notifications/{data['_id']}")).json()["data"]
        return got if got["notification"]["status"] == "EXPIRED" else None

    got = await wait_for(expired, within=15, what="the sweep to expire it")
    notification, logs = got["notification"], got["logs"]
    assert notification["expiredWhere"] == "queued"
    assert at(notification["expiredAt"]) >= at(notification["expiresAt"])
    assert logs[-1]["status"] == "EXPIRED"
    assert logs[-1]["metadata"]["where"] == "queued"
    assert "while queued" in logs[-1]["message"]
    stats = (await client.get("/api/notifications/stats/system")).json()["data"]
    assert stats["byStatus"]["EXPIRED"] == 1
    assert stats["byStatus"]["QUEUED"] == 0
    assert stats["successRate"] == 0.0  # an OTP that never came is no success
    listed = await client.get("/api/notifications", params={"status": "EXPIRED"})
    assert [n["_id"] for n in listed.json()["data"]["notifications"]] == [data["_id"]]


async def test_a_dead_letter_past_its_expiry_is_not_replayed(
    client: httpx.AsyncClient, store: Store
) -> None:
    data = await created(client, {**sms(1), "ttlSeconds": 3600})
    oid = ObjectId(data["_id"])
    await store.notifications.collection.update_one(
        {"_id": oid},
        {"$set": {"status": "FAILED", "expiresAt": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    r = await client.post(f"/api/notifications/{data['_id']}/retry")
    assert_error(r, 409, "CONFLICT")
    assert "late" in r.json()["error"]["message"]
    replay = await client.post("/api/dlq/replay", json={"ids": [data["_id"]]})
    assert replay.json()["data"] == {"replayed": 0, "ids": []}
    doc = await store.notifications.collection.find_one({"_id": oid})
    assert doc is not None
    assert doc["status"] == "FAILED"
