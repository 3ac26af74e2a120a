"""``wavecom.store.breakers`` on the real database: each worker's report is one document per
(provider, worker), overwritten by its next report; the states the API shows are, per provider,
the worst any worker that reported recently sees, and the number of those workers. (The
breakers themselves are tests/providers/test_breaker.py's.)"""

from __future__ import annotations

from datetime import timedelta

from wavecom.core.constants import PROVIDERS
from wavecom.store import Store, utcnow


async def test_a_report_is_one_document_per_provider_and_worker(store: Store) -> None:
    await store.breakers.report("w1", "SMS", {"sms-a": "closed", "sms-b": "open"})
    await store.breakers.report("w2", "SMS", {"sms-a": "closed"})
    docs = {d["_id"]: d async for d in store.db[PROVIDERS].find({})}
    assert sorted(docs) == ["sms-a/w1", "sms-a/w2", "sms-b/w1"]
    assert {k: (d["provider"], d["channel"], d["state"]) for k, d in docs.items()} == {
        "sms-a/w1": ("sms-a", "SMS", "closed"),
        "sms-a/w2": ("sms-a", "SMS", "closed"),
        "sms-b/w1": ("sms-b", "SMS", "open"),
    }


async def test_a_workers_next_report_overwrites_its_last(store: Store) -> None:
    await store.breakers.report("w1", "SMS", {"sms-a": "closed"})
    await store.breakers.report("w1", "SMS", {"sms-a": "half-open"})
    assert await store.db[PROVIDERS].count_documents({}) == 1
    assert await store.breakers.states() == {
        "sms-a": {"channel": "SMS", "state": "half-open", "workers": 1}
    }


async def test_an_empty_report_writes_nothing(store: Store) -> None:
    await store.breakers.report("w1", "SMS", {})
    assert await store.db[PROVIDERS].count_documents({}) == 0
    assert await store.breakers.states() == {}


async def test_each_provider_shows_the_worst_state_its_workers_report(store: Store) -> None:
    await store.breakers.report("w1", "EMAIL", {"mail-a": "closed", "mail-b": "half-open"})
    await store.breakers.report("w2", "EMAIL", {"mail-a": "open", "mail-b": "closed"})
    await store.breakers.report("w3", "EMAIL", {"mail-a": "half-open", "mail-b": "closed"})
    await store.breakers.report("w4", "SMS", {"sms-a": "closed"})
    assert await store.breakers.states() == {
        "mail-a": {"channel": "EMAIL", "state": "open", "workers": 3},
        "mail-b": {"channel": "EMAIL", "state": "half-open", "workers": 3},
        "sms-a": {"channel": "SMS", "state": "closed", "workers": 1},
    }


async def test_a_worker_that_stopped_reporting_is_left_out(store: Store) -> None:
    await store.breakers.report("gone", "SMS", {"sms-a": "open", "sms-b": "open"})
    await store.breakers.report("live", "SMS", {"sms-a": "closed"})
    # the gone worker's last report is a minute old
    await store.db[PROVIDERS].update_many(
        {"_id": {"$regex": "/gone$"}}, {"$set": {"updatedAt": utcnow() - timedelta(seconds=60)}}
    )
    assert await store.breakers.states(fresh_s=15) == {
        "sms-a": {"channel": "SMS", "state": "closed", "workers": 1}
    }
    states = await store.breakers.states(fresh_s=3600)  # a wider window sees it again
    assert states["sms-a"] == {"channel": "SMS", "state": "open", "workers": 2}
    assert states["sms-b"] == {"channel": "SMS", "state": "open", "workers": 1}
