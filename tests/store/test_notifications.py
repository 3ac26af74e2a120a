"""Lists over more notifications than are sorted at once: the windowed page is the exact page."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from loadtest.bench_reads import _document
from wavecom.store import Doc, ListQuery, Store
from wavecom.store.counters import Changes

pytestmark = pytest.mark.slow


async def seeded(store: Store) -> list[Doc]:
    """12,000 notifications of acme from the last minutes back to a month ago (and others')."""
    rng = random.Random(5)
    now = datetime.now(UTC)
    ages = (
        [rng.uniform(0, 300) for _ in range(2_000)]
        + [rng.uniform(300, 3 * 3600) for _ in range(4_000)]
        + [rng.uniform(3 * 3600, 30 * 86400) for _ in range(6_000)]
    )
    docs = [_document(rng, "acme", now - timedelta(seconds=a)) for a in ages]
    others = [
        _document(rng, "globex", now - timedelta(seconds=rng.uniform(0, 600))) for _ in range(500)
    ]
    await store.notifications.insert(docs + others)
    counters: Changes = {"acme": Counter()}
    for d in docs:
        c = counters["acme"]
        c["total"] += 1
        c[f"byStatus.{d['status']}"] += 1
        c[f"byType.{d['type']}"] += 1
        c[f"byPriority.{d['priority']}"] += 1
    await store.counters.add(counters)
    return docs


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "SENT"},
        {"type": "SMS"},
        {"priority": "LOW"},
        {"status": "FAILED", "type": "EMAIL"},
    ],
)
async def test_every_page_is_the_page_a_full_sort_gives(
    store: Store, filters: dict[str, str]
) -> None:
    docs = await seeded(store)
    matching = sorted(
        (d for d in docs if all(d[k] == v for k, v in filters.items())),
        key=lambda d: (
            d["createdAt"].replace(microsecond=d["createdAt"].microsecond // 1000 * 1000),
            d["_id"],
        ),
        reverse=True,
    )
    for page in (1, 2, 60, 250):
        got = await store.notifications.page("acme", ListQuery(filters), page, 20)
        want = matching[(page - 1) * 20 : page * 20]
        assert got.total == len(matching)
        assert [d["_id"] for d in got.items] == [d["_id"] for d in want], (filters, page)
