"""``wavecom.store.keys`` on the real database: API key documents stored once, read by id (and
only within their tenant when one is named), listed per tenant, revoked in place. (Hashing and
verifying keys is tests/core/test_keys.py's.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wavecom.core.errors import StoreUnavailable
from wavecom.store import Doc, Store


def key(key_id: str, tenant: str = "acme") -> Doc:
    return {
        "_id": key_id,
        "tenantId": tenant,
        "scopes": ["read"],
        "name": f"key {key_id}",
        "hash": "0" * 64,
        "createdAt": datetime(2026, 1, 1, tzinfo=UTC),
        "revokedAt": None,
    }


async def test_an_added_key_is_read_back_as_stored(store: Store) -> None:
    await store.api_keys.add(key("k1"))
    assert await store.api_keys.get("k1") == key("k1")
    assert await store.api_keys.get("k2") is None


async def test_a_key_is_read_within_its_own_tenant_only(store: Store) -> None:
    await store.api_keys.add(key("k1", "acme"))
    assert await store.api_keys.get("k1", "acme") == key("k1", "acme")
    assert await store.api_keys.get("k1", "other") is None


async def test_a_key_id_taken_already_is_refused_and_the_first_key_kept(store: Store) -> None:
    await store.api_keys.add(key("k1", "acme"))
    with pytest.raises(StoreUnavailable):
        await store.api_keys.add(key("k1", "other"))
    assert await store.api_keys.get("k1") == key("k1", "acme")


async def test_keys_are_listed_per_tenant_or_all(store: Store) -> None:
    for key_id, tenant in (("a1", "acme"), ("o1", "other"), ("a2", "acme")):
        await store.api_keys.add(key(key_id, tenant))
    assert sorted(d["_id"] for d in await store.api_keys.of("acme")) == ["a1", "a2"]
    assert [d["_id"] for d in await store.api_keys.of("other")] == ["o1"]
    assert await store.api_keys.of("nobody") == []
    assert sorted(d["_id"] for d in await store.api_keys.of()) == ["a1", "a2", "o1"]


async def test_revoke_marks_only_that_key_and_keeps_its_document(store: Store) -> None:
    await store.api_keys.add(key("k1"))
    await store.api_keys.add(key("k2"))
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    await store.api_keys.revoke("k1", at)
    await store.api_keys.revoke("never-added", at)  # nothing to mark, nothing made
    assert await store.api_keys.get("k1") == {**key("k1"), "revokedAt": at}
    assert await store.api_keys.get("k2") == key("k2")
    assert len(await store.api_keys.of()) == 2
