"""wavecom.callbacks.owed: which callback records a notification's timeline owes which
endpoints (the events each takes, nothing from before it was registered or enabled, only its
own tenant's), and that offering the same steps again stores nothing twice."""

from __future__ import annotations

from datetime import timedelta

from tests.support.callbacks import endpoint, reached
from wavecom.callbacks.owed import owed, records_for
from wavecom.callbacks.payload import body, steps, webhook_id
from wavecom.core.constants import Status
from wavecom.store import Store, utcnow
from wavecom.store.callbacks import PENDING


def test_each_endpoint_is_owed_the_steps_of_its_events() -> None:
    d = reached(1, Status.PROCESSING, Status.SENT, Status.DELIVERED)
    everything = endpoint("cb_all")
    delivered_only = endpoint("cb_delivered", events=("notification.delivered",))
    failures = endpoint("cb_failed", events=("notification.failed",))
    now = utcnow()
    records = records_for(d, [everything, delivered_only, failures], now)
    assert sorted((r["endpointId"], r["type"]) for r in records) == [
        ("cb_all", "notification.delivered"),
        ("cb_all", "notification.sent"),
        ("cb_delivered", "notification.delivered"),
    ]
    by_step = {event: (sequence, entry) for event, sequence, entry in steps(d)}
    for r in records:
        sequence, entry = by_step[r["type"]]
        msg_id = webhook_id(str(d["_id"]), entry["_id"])
        assert r["_id"] == f"{r['endpointId']}:{msg_id}"
        assert (r["webhookId"], r["stepId"], r["sequence"]) == (msg_id, entry["_id"], sequence)
        assert (r["tenantId"], r["notificationId"], r["status"]) == (
            "acme",
            str(d["_id"]),
            entry["status"],
        )
        assert r["body"] == body(d, r["type"], sequence, entry)
        assert (r["state"], r["attempts"], r["attemptCount"]) == (PENDING, [], 0)
        assert r["dueAt"] == r["windowFrom"] == r["createdAt"] == now
        assert r["stepAt"] == entry["timestamp"]
    # the same step is the same callback for every endpoint that takes it
    delivered = {r["webhookId"] for r in records if r["type"] == "notification.delivered"}
    assert len(delivered) == 1


def test_a_step_from_before_the_endpoint_was_registered_or_enabled_is_not_owed() -> None:
    at = utcnow()
    d = reached(1, Status.SENT, at=at)
    assert records_for(d, [endpoint("cb_later", owed_from=at + timedelta(seconds=1))], at) == []
    [record] = records_for(d, [endpoint("cb_same_instant", owed_from=at)], at)
    assert record["endpointId"] == "cb_same_instant"
    # a notification still on its way owes nothing yet
    assert records_for(reached(2, Status.PROCESSING), [endpoint("cb_all")], at) == []


def test_documents_owe_only_their_own_tenant_s_endpoints() -> None:
    docs = [
        reached(1, Status.SENT, tenant="acme"),
        reached(2, Status.FAILED, tenant="globex"),
        reached(3, Status.SENT, tenant="initech"),  # a tenant with no endpoints
    ]
    by_tenant = {
        "acme": [endpoint("cb_acme")],
        "globex": [endpoint("cb_globex", tenant="globex")],
        "initech": [],
    }
    records = owed(docs, by_tenant, utcnow())
    assert sorted((r["endpointId"], r["notificationId"], r["type"]) for r in records) == [
        ("cb_acme", str(docs[0]["_id"]), "notification.sent"),
        ("cb_globex", str(docs[1]["_id"]), "notification.failed"),
    ]


async def test_offering_the_same_steps_again_stores_them_once(store: Store) -> None:
    d = reached(1, Status.SENT, Status.DELIVERED)
    endpoints = {"acme": [endpoint("cb_a"), endpoint("cb_b")]}
    first = owed([d], endpoints, utcnow())
    assert await store.callbacks.add(first) == 4
    # the repair scan offers them again later, with a later step beside them
    d["timeline"].append(
        {**d["timeline"][-1], "_id": f"{d['_id']}:r:2", "status": Status.COMPLAINED.value}
    )
    again = owed([d], endpoints, utcnow() + timedelta(seconds=5))
    assert len(again) == 6
    assert await store.callbacks.add(again) == 2
    stored = await store.callbacks.of_notification("acme", str(d["_id"]))
    assert sorted((r["sequence"], r["endpointId"]) for r in stored) == [
        (1, "cb_a"),
        (1, "cb_b"),
        (2, "cb_a"),
        (2, "cb_b"),
        (3, "cb_a"),
        (3, "cb_b"),
    ]
    # the records first stored are kept as they were (their due time is not pushed back)
    kept = {r["createdAt"] for r in stored if r["sequence"] < 3}
    added = {r["createdAt"] for r in stored if r["sequence"] == 3}
    assert len(kept) == len(added) == 1
    assert kept.pop() < added.pop()
