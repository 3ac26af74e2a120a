"""``loadtest.unique_indexes`` on the real database: each variant's collection has its one
unique index and is filled step by step; the scratch database is gone afterwards."""

from __future__ import annotations

import pytest
from pymongo import AsyncMongoClient

from loadtest.unique_indexes import VARIANTS, variant
from wavecom.core.settings import Settings
from wavecom.store import Doc


@pytest.mark.parametrize("label", list(VARIANTS))
async def test_a_variant_times_each_step_of_inserts(settings: Settings, label: str) -> None:
    steps = await variant(settings.mongodb_url, VARIANTS[label], 600, step=200)
    assert len(steps) == 3
    assert all(s > 0 for s in steps)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(settings.mongodb_url)
    try:
        assert "unique_indexes" not in await client.list_database_names()
    finally:
        await client.close()


def test_the_joined_variants_are_the_stores_own_indexes() -> None:
    keys = {label: list(m.document["key"]) for label, m in VARIANTS.items()}
    assert keys["reference, joined (referenceKey)"] == ["referenceKey"]
    assert keys["provider message id, joined (providerKey)"] == ["providerKey"]
    assert all(m.document["unique"] for m in VARIANTS.values())
