"""The ledger that proves it: accepted = sent + failed + cancelled + in flight.

Computed from the notification documents themselves (not the counters), per tenant and
channel; compared with the counters; anything not final and untouched for longer than a
threshold is listed as stuck; with the mock providers' ledger, every SENT notification must
appear in it exactly once. ``make verify`` prints it and fails when it does not balance; the
API serves it at ``GET /api/admin/reconcile`` and exports it as metrics.

Counting every document costs about 8 µs each on FerretDB v2 (0.8 s for a tenant of 100,000,
measured), so it grows with the data. A tenant's documents are counted in windows of
``createdAt``, newest first, each sized from the previous one's density to hold about
``WINDOW_DOCS`` (4,000), and the last one takes everything older, so no document is missed
whatever the counters say. Asked for ``application/x-ndjson``, the API streams one line per
window as it is counted (the first within milliseconds; an operator, or a proxy with an idle
timeout, sees progress) and the report last; otherwise it answers the report as one JSON body,
and says how long it took (``durationMs``) and over how many windows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import Gauge

from wavecom.core import tls
from wavecom.core.constants import TERMINAL, Status
from wavecom.core.settings import get_settings
from wavecom.store import Store, utcnow
from wavecom.store.books import Facet

IN_FLIGHT = (Status.SCHEDULED, Status.QUEUED, Status.PROCESSING, Status.RETRYING)
FINAL = tuple(s for s in Status if s in TERMINAL)

NOTIFICATIONS = Gauge(
    "reconcile_notifications",
    "Notifications by tenant, channel and state at the last reconciliation",
    ["tenant", "channel", "state"],
)
# documents a counting window of one tenant aims at (the last one takes everything older):
# windows of 10,000 left gaps of 307 ms (p99) between lines at 1,000,000 notifications with
# singles flowing (reads-20261206T215340Z.json); 4,000 keep them under 200 ms
WINDOW_DOCS = 4_000
# the first window is short, so the first line comes at once even while the tenant receives
# hundreds a second (10 minutes held 75,000 at 100/s: 773 ms before the first line)
_FIRST_SPAN = timedelta(seconds=10)
_SHORTEST = timedelta(seconds=1)  # a window crowded past its aim is not shortened below this
_OLDEST = datetime(2000, 1, 1, tzinfo=UTC)  # no notification is older: the last window starts

STUCK = Gauge("reconcile_stuck", "Notifications not final and untouched past the threshold")
# how often each API process refreshes ``reconcile_stuck`` (export_stuck), and past what age
STUCK_CHECK_S = 30.0
STUCK_AFTER_S = 300.0
DRIFT = Gauge(
    "reconcile_counter_drift",
    "Sum of |counter - documents| over statuses and facets (status/channel/priority)",
    ["tenant"],
)


@dataclass
class Report:
    by_channel: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    drift: dict[str, dict[str, int]] = field(default_factory=dict)
    stuck: list[dict[str, Any]] = field(default_factory=list)
    ledger_problems: list[str] = field(default_factory=list)
    scanned: int = 0  # notification documents counted: the cost grows with them
    windows: int = 0  # the createdAt windows they were counted in
    as_of: datetime | None = None  # documents created before this were counted
    duration_ms: int = 0

    @property
    def balanced(self) -> bool:
        return all(
            row["accepted"] == row["sent"] + row["failed"] + row["cancelled"] + row["inFlight"]
            for channels in self.by_channel.values()
            for row in channels.values()
        )

    @property
    def ok(self) -> bool:
        return self.balanced and not self.stuck and not self.ledger_problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "balanced": self.balanced,
            "tenants": self.by_channel,
            "counterDrift": self.drift,
            "stuck": self.stuck,
            "ledgerProblems": self.ledger_problems,
            "documentsCounted": self.scanned,
            "windows": self.windows,
            "asOf": self.as_of.isoformat() if self.as_of else None,
            "durationMs": self.duration_ms,
        }


@dataclass(frozen=True)
class Window:
    """The documents of one tenant created in [since, until): counts by channel, status and
    priority."""

    since: datetime | None  # None: everything older than ``until``
    until: datetime
    counts: dict[Facet, int]
    duration_ms: int

    @property
    def documents(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        by_channel: dict[str, dict[str, int]] = {}
        for (_, channel, status, _), n in self.counts.items():
            row = by_channel.setdefault(channel, {})
            row[status] = row.get(status, 0) + n
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "documents": self.documents,
            "byChannel": by_channel,
            "durationMs": self.duration_ms,
        }


async def reconcile(
    store: Store,
    *,
    stuck_after_s: float = 300.0,
    ledger_dir: str = "",
    stuck_limit: int = 100,
    tenant: str | None = None,
) -> Report:
    """Every tenant's ledger, or only ``tenant``'s (what the API shows a tenant's admin)."""
    async for step in reconcile_steps(
        store,
        stuck_after_s=stuck_after_s,
        ledger_dir=ledger_dir,
        stuck_limit=stuck_limit,
        tenant=tenant,
        windowed=False,
    ):
        if isinstance(step, Report):
            return step
    raise AssertionError("reconcile_steps ends with its report")  # pragma: no cover


async def reconcile_steps(
    store: Store,
    *,
    stuck_after_s: float = 300.0,
    ledger_dir: str = "",
    stuck_limit: int = 100,
    tenant: str | None = None,
    windowed: bool = True,
    window_docs: int = WINDOW_DOCS,
) -> AsyncIterator[Window | Report]:
    """:func:`reconcile`, one counting window at a time (a tenant's, when ``windowed``), then
    the report. Counting in windows costs more in all (each window is a range of the
    (tenantId, createdAt) index: 2.7 s for 100,000 documents in 8 windows on a busy machine,
    0.7 s in one pass on a quiet one) and buys a first answer within milliseconds and steady
    progress, so it is what the streamed form uses; the plain answer counts in one pass."""
    began = time.monotonic()
    report = Report(as_of=utcnow())
    assert report.as_of is not None
    counts: Counter[Facet] = Counter()
    if tenant is None or not windowed:  # one pass (make verify: every tenant)
        window = await _count(
            store, {} if tenant is None else {"tenantId": tenant}, None, report.as_of
        )
        counts.update(window.counts)
        report.windows = 1
    else:
        async for window in _windows(store, tenant, report.as_of, window_docs):
            counts.update(window.counts)
            report.windows += 1
            yield window
    for name in sorted({t for t, _, _, _ in counts}):
        await _book(report, store, name, counts)
    await _stuck(report, store, tenant, stuck_after_s, stuck_limit)
    if tenant is None:
        STUCK.set(len(report.stuck))
    if ledger_dir:
        report.ledger_problems += await _ledger_problems(store, tenant, Path(ledger_dir))
    report.scanned = sum(counts.values())
    report.duration_ms = round((time.monotonic() - began) * 1000)
    yield report


async def export_stuck(
    store: Store, *, stuck_after_s: float = STUCK_AFTER_S, limit: int = 1000
) -> int:
    """Set ``reconcile_stuck`` to the notifications of every tenant not final and untouched
    for ``stuck_after_s`` (at most ``limit``: the alert needs "some", not how many), and
    return it. The API runs this every ``STUCK_CHECK_S``: only reconcile's scan for stuck
    notifications (the ``status_updated`` index, at most ``limit`` rows), never its count of
    every document. On FerretDB that index range reads the waiting statuses' ``updatedAt``
    terms (README, "Known limitations": about 0.5 s at 1,000,000 notifications); on MongoDB
    it is a plain range."""
    report = Report()
    await _stuck(report, store, None, stuck_after_s, limit)
    STUCK.set(len(report.stuck))
    return len(report.stuck)


async def _windows(
    store: Store, tenant: str, as_of: datetime, window_docs: int
) -> AsyncIterator[Window]:
    """``tenant``'s documents created before ``as_of``, counted newest first in windows of
    about ``WINDOW_DOCS``; the last window is open-ended, so every document is counted once.

    The counters say roughly how many there are (they may drift, which is what reconcile
    looks for, so they only size the windows): once what they leave is within one window,
    or the windows have gone back before any notification could exist, everything older is
    counted at once.
    """
    expected = (await store.counters.of(tenant)).total
    until, span, counted = as_of, _FIRST_SPAN, 0
    while expected - counted > window_docs and until - span > _OLDEST:
        since = until - span
        match = {"tenantId": tenant, "createdAt": {"$gte": since, "$lt": until}}
        # a window sized from a quiet spell's density may reach into a burst: what it holds
        # is looked at first (up to twice the aim, a fifth of the cost of counting it), and a
        # window holding more is shortened fourfold until it does not (after a quiet hour, a
        # window reaching into 100/s held 30,000: 270 ms before the next line); never below
        # a second, so that a crowd of equal timestamps is counted and passed
        if (
            counted
            and span >= 4 * _SHORTEST
            and await store.books.at_least(match, 2 * window_docs + 1) > 2 * window_docs
        ):
            span /= 4
            continue
        window = await _count(store, match, since, until)
        yield window
        counted += window.documents
        # aim the next window at WINDOW_DOCS from this one's density, in bounded steps: up
        # to 4x while the windows hold a quarter of it or less (the first, short ones), then
        # up to 2x (an overshoot is a long gap)
        ratio = window_docs / window.documents if window.documents else 4.0
        most = 4.0 if window.documents * 4 <= window_docs else 2.0
        span *= min(most, max(0.25, ratio))
        until = since
    yield await _count(store, {"tenantId": tenant, "createdAt": {"$lt": until}}, None, until)


async def _count(
    store: Store, match: dict[str, Any], since: datetime | None, until: datetime
) -> Window:
    """Counts by (tenant, channel, status, priority) of the documents ``match`` selects
    (:meth:`wavecom.store.books.Books.count`)."""
    began = time.monotonic()
    counts = await store.books.count(match)
    return Window(since, until, counts, round((time.monotonic() - began) * 1000))


async def _book(report: Report, store: Store, name: str, counts: Counter[Facet]) -> None:
    """Tenant ``name``'s rows by channel, and how its counters differ from its documents: by
    status, and by facet (``<status>/<channel>/<priority>``) unless its counters predate the
    facets."""
    channels: dict[str, dict[str, int]] = {}
    by_status: Counter[str] = Counter()
    by_facet: Counter[tuple[str, str, str]] = Counter()
    for (t, channel, status, priority), n in counts.items():
        if t != name:
            continue
        by_facet[(status, channel, priority)] += n
        row = channels.setdefault(
            channel, {"accepted": 0, "sent": 0, "failed": 0, "cancelled": 0, "inFlight": 0}
        )
        row["accepted"] += n
        by_status[status] += n
        if status in (s.value for s in IN_FLIGHT):
            row["inFlight"] += n
        elif status in (s.value for s in FINAL):
            row[status.lower()] = row.get(status.lower(), 0) + n
    report.by_channel[name] = channels
    counters = await store.counters.of(name)
    drift = {
        s.value: counters.by_status.get(s.value, 0) - by_status.get(s.value, 0)
        for s in Status
        if counters.by_status.get(s.value, 0) != by_status.get(s.value, 0)
    }
    if counters.by_facet is not None:
        for key in set(by_facet) | set(counters.by_facet):
            if (off := counters.by_facet.get(key, 0) - by_facet[key]) != 0:
                drift["/".join(key)] = off
    if drift:
        report.drift[name] = drift
    DRIFT.labels(name).set(sum(abs(v) for v in drift.values()))
    for channel, row in channels.items():
        for state, n in row.items():
            NOTIFICATIONS.labels(name, channel, state).set(n)


async def _stuck(
    report: Report, store: Store, tenant: str | None, stuck_after_s: float, stuck_limit: int
) -> None:
    """Up to ``stuck_limit`` notifications not final and untouched for ``stuck_after_s``."""
    cutoff = utcnow() - timedelta(seconds=stuck_after_s)
    for d in await store.books.stuck(tenant, cutoff, stuck_limit - len(report.stuck)):
        report.stuck.append(
            {
                "_id": str(d["_id"]),
                "tenantId": d["tenantId"],
                "type": d["type"],
                "status": d["status"],
                "since": d["updatedAt"].isoformat(),
            }
        )


async def _ledger_problems(store: Store, tenant: str | None, directory: Path) -> list[str]:
    """With the mock providers' ledger: SENT notifications sent twice, or never."""
    sent_ids = await store.books.sent_ids(tenant)
    ledger = await asyncio.to_thread(read_ledger, directory)
    if tenant is not None:  # only this tenant's notifications
        mine = await store.books.ids(tenant)
        ledger = Counter({i: n for i, n in ledger.items() if i in mine})
    problems = [f"{i} sent {n} times" for i, n in ledger.items() if n > 1]
    problems += [f"{i} is SENT but not in the ledger" for i in sent_ids - set(ledger)]
    return problems


def read_ledger(directory: Path) -> Counter[str]:
    """Sends per notification id, from every provider's ledger file."""
    sent: Counter[str] = Counter()
    for f in directory.glob("*.jsonl"):
        for line in f.read_bytes().splitlines():
            sent[orjson.loads(line)["notificationId"]] += 1
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description="Reconcile accepted notifications")
    parser.add_argument("--stuck-after", type=float, default=300.0, help="seconds (default 300)")
    args = parser.parse_args()
    settings = get_settings()

    async def run() -> Report:
        store = Store.connect(
            settings.mongodb_url, settings.mongodb_database, tls=tls.mongodb_options(settings)
        )
        try:
            return await reconcile(
                store, stuck_after_s=args.stuck_after, ledger_dir=settings.ledger_dir
            )
        finally:
            await store.close()

    report = asyncio.run(run())
    print(
        f"{'tenant':<16}{'channel':<8}{'accepted':>10}{'sent':>10}{'failed':>10}"
        f"{'cancelled':>10}{'in flight':>10}"
    )
    for tenant, channels in report.by_channel.items():
        for channel, row in sorted(channels.items()):
            print(
                f"{tenant:<16}{channel:<8}{row['accepted']:>10}{row['sent']:>10}"
                f"{row['failed']:>10}{row['cancelled']:>10}{row['inFlight']:>10}"
            )
    for tenant, drift in report.drift.items():
        print(f"counters of {tenant} differ from the documents by {drift}")
    for s in report.stuck:
        print(f"stuck: {s}")
    for p in report.ledger_problems:
        print(f"ledger: {p}")
    print("OK: everything accepted is accounted for" if report.ok else "NOT OK")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
