"""``wavecom.store.tenants`` on the real database: a tenant's settings document is made by its
first setting, changed field by field (set and unset), read whole or by field, and found by the
scans the API and the relay make (default TTLs, no shared fallback). (``wavecom.core.tenants``
gives the settings their meaning.)"""

from __future__ import annotations

from datetime import timedelta

from wavecom.core.constants import TENANTS
from wavecom.store import Store, utcnow


async def test_a_tenant_without_settings_has_no_document(store: Store) -> None:
    assert await store.tenants.get("acme") is None
    assert await store.tenants.all() == []


async def test_the_first_setting_makes_the_document_and_stamps_it(store: Store) -> None:
    before = utcnow() - timedelta(seconds=1)
    await store.tenants.set("acme", {"rateLimit": {"perSecond": 5.0, "burst": 10}})
    doc = await store.tenants.get("acme")
    assert doc is not None
    assert doc["_id"] == "acme"
    assert doc["rateLimit"] == {"perSecond": 5.0, "burst": 10}
    assert doc["updatedAt"] >= before
    assert await store.db[TENANTS].count_documents({}) == 1


async def test_a_setting_changes_its_fields_only_and_unset_removes_them(store: Store) -> None:
    await store.tenants.set("acme", {"defaultTtlSeconds": {"SMS": 60}, "sharedFallback": False})
    await store.tenants.set("acme", {"defaultTtlSeconds": {"SMS": 90}})
    doc = await store.tenants.get("acme")
    assert doc is not None
    assert (doc["defaultTtlSeconds"], doc["sharedFallback"]) == ({"SMS": 90}, False)
    await store.tenants.set("acme", {}, unset=("sharedFallback",))
    doc = await store.tenants.get("acme")
    assert doc is not None
    assert "sharedFallback" not in doc
    assert doc["defaultTtlSeconds"] == {"SMS": 90}
    assert await store.db[TENANTS].count_documents({}) == 1


async def test_named_fields_are_the_only_ones_read(store: Store) -> None:
    await store.tenants.set("acme", {"defaultTtlSeconds": {"SMS": 60}, "sharedFallback": False})
    assert await store.tenants.get("acme", "sharedFallback") == {
        "_id": "acme",
        "sharedFallback": False,
    }
    assert await store.tenants.get("other", "sharedFallback") is None


async def test_the_scans_find_the_tenants_with_each_setting(store: Store) -> None:
    await store.tenants.set("a", {"defaultTtlSeconds": {"SMS": 60}})
    await store.tenants.set("b", {"sharedFallback": False, "defaultTtlSeconds": {"EMAIL": 30}})
    await store.tenants.set("c", {"sharedFallback": True})
    await store.tenants.set("d", {"rateLimit": {"perSecond": 1.0, "burst": 1}})
    ttls = await store.tenants.with_default_ttls()
    assert {d["_id"]: d["defaultTtlSeconds"] for d in ttls} == {
        "a": {"SMS": 60},
        "b": {"EMAIL": 30},
    }
    assert all(set(d) == {"_id", "defaultTtlSeconds"} for d in ttls)
    # only an explicit False: a tenant that never chose falls back (the default)
    assert await store.tenants.without_shared_fallback() == ["b"]
    assert sorted(d["_id"] for d in await store.tenants.all()) == ["a", "b", "c", "d"]


async def test_an_unset_default_ttl_leaves_the_scan(store: Store) -> None:
    await store.tenants.set("a", {"defaultTtlSeconds": {"SMS": 60}})
    await store.tenants.set("a", {}, unset=("defaultTtlSeconds",))
    assert await store.tenants.with_default_ttls() == []
