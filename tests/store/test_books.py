"""``wavecom.store.books`` on the real database: reconciliation's reads of the notifications,
each against documents whose tenant, channel, status and times are set: the counts by (tenant,
channel, status, priority), the stuck scan (waiting and untouched since the cutoff; a SCHEDULED
one only once its time passed too; one tenant or all; the limit over both), and the id sets the
ledger is checked against. (Reconciliation itself is tests/relay/test_reconcile.py's.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.documents import doc
from wavecom.core.constants import NOTIFICATIONS, Channel, Status
from wavecom.store import Doc, Store

CUTOFF = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BEFORE = CUTOFF - timedelta(minutes=10)
AFTER = CUTOFF + timedelta(minutes=10)


async def put(
    store: Store,
    status: Status,
    *,
    tenant: str = "acme",
    channel: Channel = Channel.SMS,
    updated: datetime = BEFORE,
    **fields: object,
) -> Doc:
    """One stored notification as given (the rest as tests/support/documents.py makes it)."""
    d = doc(0)
    d.update(tenantId=tenant, type=channel.value, status=status.value, updatedAt=updated, **fields)
    await store.notifications.insert([d])
    return d


async def test_counts_are_by_tenant_channel_status_and_priority_of_what_the_match_selects(
    store: Store,
) -> None:
    for _ in range(3):
        await put(store, Status.SENT)
    await put(store, Status.FAILED)
    await put(store, Status.SENT, channel=Channel.EMAIL)
    await put(store, Status.SENT, tenant="other")
    await put(store, Status.SENT, priority="LOW")
    assert await store.books.count({"tenantId": "acme"}) == {
        ("acme", "SMS", "SENT", "HIGH"): 3,
        ("acme", "SMS", "SENT", "LOW"): 1,
        ("acme", "SMS", "FAILED", "HIGH"): 1,
        ("acme", "EMAIL", "SENT", "HIGH"): 1,
    }
    assert await store.books.count({}) == {
        ("acme", "SMS", "SENT", "HIGH"): 3,
        ("acme", "SMS", "SENT", "LOW"): 1,
        ("acme", "SMS", "FAILED", "HIGH"): 1,
        ("acme", "EMAIL", "SENT", "HIGH"): 1,
        ("other", "SMS", "SENT", "HIGH"): 1,
    }
    assert await store.books.count({"tenantId": "nobody"}) == {}


async def test_stuck_are_the_waiting_ones_untouched_since_the_cutoff(store: Store) -> None:
    stuck = [await put(store, s) for s in (Status.QUEUED, Status.PROCESSING, Status.RETRYING)]
    await put(store, Status.QUEUED, updated=AFTER)  # moving
    for final in (Status.SENT, Status.FAILED, Status.CANCELLED):
        await put(store, final)  # done, however old
    found = await store.books.stuck("acme", CUTOFF, 10)
    assert {d["_id"] for d in found} == {d["_id"] for d in stuck}
    assert all(set(d) == {"_id", "tenantId", "type", "status", "updatedAt"} for d in found)


async def test_a_scheduled_one_is_stuck_only_once_its_time_has_passed_too(store: Store) -> None:
    due = await put(store, Status.SCHEDULED, scheduledAt=BEFORE)
    await put(store, Status.SCHEDULED, scheduledAt=AFTER)  # waits for its time, as it should
    await put(store, Status.SCHEDULED, scheduledAt=BEFORE, updated=AFTER)
    assert [d["_id"] for d in await store.books.stuck("acme", CUTOFF, 10)] == [due["_id"]]


async def test_the_stuck_scan_of_one_tenant_or_of_all(store: Store) -> None:
    ours = await put(store, Status.QUEUED)
    theirs = await put(store, Status.SCHEDULED, tenant="other", scheduledAt=BEFORE)
    assert [d["_id"] for d in await store.books.stuck("acme", CUTOFF, 10)] == [ours["_id"]]
    assert [d["_id"] for d in await store.books.stuck("other", CUTOFF, 10)] == [theirs["_id"]]
    everyone = await store.books.stuck(None, CUTOFF, 10)
    assert {d["_id"] for d in everyone} == {ours["_id"], theirs["_id"]}


async def test_the_limit_holds_over_both_scans_waiting_ones_first(store: Store) -> None:
    waiting = {(await put(store, Status.QUEUED))["_id"] for _ in range(2)}
    scheduled = {(await put(store, Status.SCHEDULED, scheduledAt=BEFORE))["_id"] for _ in range(2)}
    assert {d["_id"] for d in await store.books.stuck(None, CUTOFF, 2)} == waiting
    three = {d["_id"] for d in await store.books.stuck(None, CUTOFF, 3)}
    assert len(three) == 3
    assert waiting < three
    assert three - waiting <= scheduled
    assert len(await store.books.stuck(None, CUTOFF, 10)) == 4


async def test_the_ledgers_id_sets(store: Store) -> None:
    sent = await put(store, Status.SENT)
    failed = await put(store, Status.FAILED)
    other_sent = await put(store, Status.SENT, tenant="other")
    assert await store.books.sent_ids("acme") == {str(sent["_id"])}
    assert await store.books.sent_ids(None) == {str(sent["_id"]), str(other_sent["_id"])}
    assert await store.books.ids("acme") == {str(sent["_id"]), str(failed["_id"])}
    assert await store.books.ids("nobody") == set()
    assert await store.db[NOTIFICATIONS].count_documents({}) == 3
