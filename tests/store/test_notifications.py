"""Lists over more notifications than are sorted at once: the windowed page is the exact page."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from loadtest.bench_reads import _document
from tests.support.commands import Commands
from wavecom.core.constants import NOTIFICATIONS, STATS
from wavecom.store import Doc, ListQuery, Store
from wavecom.store.counters import Changes, facet
from wavecom.store.notifications import _growth

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
        c[facet(d["status"], (d["type"], d["priority"]))] += 1
    await store.counters.add(counters)
    return docs


def _newest_first(d: Doc) -> tuple[datetime, object]:
    """The list's order key as the database stores it (milliseconds), then the id."""
    return d["createdAt"].replace(microsecond=d["createdAt"].microsecond // 1000 * 1000), d["_id"]


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
        key=_newest_first,
        reverse=True,
    )
    for page in (1, 2, 60, 250):
        got = await store.notifications.page("acme", ListQuery(filters), page, 20)
        want = matching[(page - 1) * 20 : page * 20]
        assert got.total == len(matching)
        assert [d["_id"] for d in got.items] == [d["_id"] for d in want], (filters, page)


async def test_a_busy_tenants_first_page_is_found_in_a_window_or_two(
    store: Store, watched_store: Store, commands: Commands
) -> None:
    """About 7 a second in the last five minutes: the first window (1 s) holds a few, the
    next is sized from their rate and holds the page; nothing like the whole five minutes is
    read or sorted."""
    docs = await seeded(store)
    commands.seen.clear()
    got = await watched_store.notifications.page("acme", ListQuery({}), 1, 20)
    newest = sorted(docs, key=_newest_first, reverse=True)[:20]
    assert [d["_id"] for d in got.items] == [d["_id"] for d in newest]
    assert commands.seen[("find", NOTIFICATIONS)] <= 3, commands.seen


def test_each_window_is_sized_from_what_the_last_one_held() -> None:
    assert _growth(0, 20) == 16  # nothing yet: the most
    assert _growth(5, 20) == 8  # a quarter of the page: twice the span its rate needs
    assert _growth(19, 20) == 3
    assert _growth(1, 1000) == 16  # capped
    assert _growth(40, 20) == 2  # (a window that held enough is not grown; at least twice)


async def test_combined_filters_are_counted_from_the_facets(
    store: Store, watched_store: Store, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting the documents of status + type + priority reads every row of the smallest
    field's index range (230 ms at 1,000,000): once that is more than the cap, the facets'
    sum is the total, exact, and no document is counted."""
    docs = await seeded(store)
    monkeypatch.setattr("wavecom.store.notifications._COUNT_UP_TO", 100)
    for filters in (
        {"status": "SENT", "type": "SMS", "priority": "HIGH"},
        {"status": "FAILED", "type": "EMAIL"},
        {"type": "PUSH", "priority": "LOW"},
    ):
        commands.seen.clear()
        got = await watched_store.notifications.page("acme", ListQuery(filters), 1, 20)
        assert got.total == sum(all(d[k] == v for k, v in filters.items()) for d in docs)
        assert got.exact
        assert commands.seen[("aggregate", NOTIFICATIONS)] == 0, (filters, commands.seen)
    # a stats document from before the facets: counted from the documents, up to the cap
    await store.db[STATS].update_one({"_id": "acme"}, {"$unset": {"facets": ""}})
    for filters in ({"status": "SENT", "type": "SMS"}, {"status": "FAILED", "priority": "LOW"}):
        want = sum(all(d[k] == v for k, v in filters.items()) for d in docs)
        got = await store.notifications.page("acme", ListQuery(filters), 1, 20)
        assert (got.total, got.exact) == ((want, True) if want <= 100 else (100, False))


async def test_a_created_at_range_is_counted_up_to_the_cap(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No counter knows a range of createdAt: its documents are counted, and past the cap
    the total says "more than" (exact False) instead of reading them all."""
    docs = await seeded(store)
    monkeypatch.setattr("wavecom.store.notifications._COUNT_UP_TO", 100)
    now = datetime.now(UTC)

    def within(since: datetime, until: datetime) -> int:
        return sum(since <= d["createdAt"] < until for d in docs)

    wide = ListQuery(created_from=now - timedelta(hours=2), created_to=now)
    assert within(now - timedelta(hours=2), now) > 100
    got = await store.notifications.page("acme", wide, 1, 20)
    assert (got.total, got.exact) == (100, False)
    assert len(got.items) == 20  # the page itself is whole
    since, until = now - timedelta(days=20), now - timedelta(days=20) + timedelta(hours=6)
    narrow = ListQuery(created_from=since, created_to=until)
    assert 0 < within(since, until) <= 100
    got = await store.notifications.page("acme", narrow, 1, 20)
    assert (got.total, got.exact) == (within(since, until), True)
