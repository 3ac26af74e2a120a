"""Reads at scale: `make bench-reads` (= ``python -m loadtest.bench_reads``).

Seeds ``--notifications`` (default 1,000,000) across ``--tenants`` (default 10) straight
through the store (not the API), then starts one real API process on that database and times
every read endpoint a dashboard or an operator uses, one request at a time, ``--requests`` each:
the list with each filter and a deep page, one notification with its timeline, the dead-letter
list and its filters, stats and reconcile. The bar: p99 <= 200 ms each. The report goes to
``loadtest/results/reads-<UTC timestamp>.json`` with the command that made it.

The seeded database is kept (``--database``, default ``bench_reads``) and reused by the next
run when it holds the same number of notifications; ``--reseed`` starts again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from bson import ObjectId

from loadtest.report import machine_info
from loadtest.stats import summary_ms
from loadtest.system import ROOT, LocalSystem, Management
from wavecom.core.constants import Channel, Priority, Scope, Status
from wavecom.core.keys import Keys
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.store import Doc, Store, log_entry
from wavecom.store.counters import Changes

BAR_MS = 200.0
SEED_RECORD = "benchseed"
RESULTS = ROOT / "loadtest" / "results"

# what a day of production traffic leaves behind, roughly
STATUS_MIX = {
    Status.SENT: 0.90,
    Status.FAILED: 0.04,
    Status.QUEUED: 0.015,
    Status.RETRYING: 0.01,
    Status.CANCELLED: 0.01,
    Status.SCHEDULED: 0.025,
}
TYPE_MIX = {Channel.EMAIL: 0.5, Channel.SMS: 0.3, Channel.PUSH: 0.2}
PRIORITY_MIX = {Priority.LOW: 0.2, Priority.MEDIUM: 0.5, Priority.HIGH: 0.2, Priority.CRITICAL: 0.1}
REASONS = ("permanent", "retries_exhausted")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.bench_reads",
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--notifications", type=int, default=1_000_000)
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    p.add_argument("--database", default="bench_reads")
    p.add_argument("--reseed", action="store_true", help="drop and seed again")
    p.add_argument(
        "--mongodb-url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    )
    p.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    p.add_argument("--management-url", default="http://127.0.0.1:15672")
    p.add_argument("--seed", type=int, default=20261201)
    return p.parse_args(argv)


def _pick(rng: random.Random, mix: dict[Any, float]) -> Any:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _document(rng: random.Random, tenant: str, created: datetime) -> Doc:
    """A notification as the pipeline would have left it, with a plausible timeline."""
    status = _pick(rng, STATUS_MIX)
    channel = _pick(rng, TYPE_MIX)
    oid = ObjectId.from_datetime(created)
    oid = ObjectId(oid.binary[:4] + uuid.uuid4().bytes[:8])
    steps = [
        log_entry(f"{oid}:0:0", Status.PENDING, "Notification created", created),
        log_entry(f"{oid}:0:1", Status.QUEUED, "Added to queue", created),
    ]
    done = created + timedelta(milliseconds=rng.randint(40, 400))
    doc: Doc = {
        "_id": oid,
        "tenantId": tenant,
        "type": channel.value,
        "recipient": f"user{rng.randrange(10**6)}@example.com"
        if channel is Channel.EMAIL
        else f"+23480{rng.randrange(10**8):08d}",
        "subject": "Your code" if channel is Channel.EMAIL else None,
        "message": f"Your one-time code is {rng.randrange(10**6):06d}",
        "status": status.value,
        "priority": _pick(rng, PRIORITY_MIX).value,
        "retryCount": 0,
        "round": 0,
        "maxRetries": 3,
        "metadata": {"orderId": f"ord-{rng.randrange(10**9)}"},
        "createdAt": created,
        "updatedAt": done,
        "timeline": steps,
    }
    if status in (Status.SENT, Status.FAILED):
        steps.append(
            log_entry(f"{oid}:w:p", Status.PROCESSING, "Worker started processing", created)
        )
        steps.append(log_entry(f"{oid}:w:o", status, f"{status.value.title()}", done))
        doc["provider"] = "mailgrid"
        doc["processingTimeMs"] = int((done - created).total_seconds() * 1000)
    if status is Status.SENT:
        doc["sentAt"] = done
        doc["providerMessageId"] = f"mailgrid_{uuid.uuid4().hex[:16]}"
    elif status is Status.FAILED:
        reason = rng.choice(REASONS)
        doc["failedAt"] = done
        doc["error"] = "recipient rejected" if reason == "permanent" else "provider timed out"
        doc["retryCount"] = 0 if reason == "permanent" else 3
        doc["deadLetter"] = {"reason": reason, "attempts": 1, "lastError": doc["error"], "at": done}
    elif status is Status.RETRYING:
        doc["retryCount"] = 1
        doc["nextAttemptAt"] = done + timedelta(seconds=2)
    elif status is Status.CANCELLED:
        doc["cancelledAt"] = done
    elif status is Status.SCHEDULED:
        doc["scheduledAt"] = created + timedelta(days=1)
    return doc


async def seed(store: Store, args: argparse.Namespace) -> float:
    """Insert the notifications and their tenants' counters; return the seconds it took."""
    rng = random.Random(args.seed)
    tenants = [f"tenant-{i:02d}" for i in range(args.tenants)]
    start = datetime.now(UTC) - timedelta(days=1)
    step = timedelta(days=1) / args.notifications
    began = time.monotonic()
    chunk: list[Doc] = []
    counters: Changes = {t: Counter() for t in tenants}
    for i in range(args.notifications):
        tenant = tenants[i % len(tenants)]
        d = _document(rng, tenant, start + i * step)
        c = counters[tenant]
        c["total"] += 1
        c[f"byStatus.{d['status']}"] += 1
        c[f"byType.{d['type']}"] += 1
        c[f"byPriority.{d['priority']}"] += 1
        chunk.append(d)
        if len(chunk) == 2000:
            await store.notifications.insert(chunk)
            chunk = []
            if (i + 1) % 100_000 == 0:
                print(f"[reads] seeded {i + 1:,} in {time.monotonic() - began:.0f} s", flush=True)
    if chunk:
        await store.notifications.insert(chunk)
    await store.counters.add(counters)
    return time.monotonic() - began


def endpoints(tenant_sample: Doc) -> list[tuple[str, str, str]]:
    """(name, scope the key needs, path) of every read that is timed."""
    nid = str(tenant_sample["_id"])
    return [
        ("list", "read", "/api/notifications?limit=20"),
        ("list page 50", "read", "/api/notifications?limit=20&page=50"),
        *[
            (f"list status={s.value}", "read", f"/api/notifications?status={s.value}&limit=20")
            for s in Status
            if s is not Status.PENDING
        ],
        *[
            (f"list type={c.value}", "read", f"/api/notifications?type={c.value}&limit=20")
            for c in Channel
        ],
        *[
            (f"list priority={p.value}", "read", f"/api/notifications?priority={p.value}&limit=20")
            for p in Priority
        ],
        (
            "list status+type+priority",
            "read",
            "/api/notifications?status=SENT&type=SMS&priority=HIGH&limit=20",
        ),
        ("get one", "read", f"/api/notifications/{nid}"),
        ("dlq", "admin", "/api/dlq?limit=20"),
        ("dlq type=EMAIL", "admin", "/api/dlq?type=EMAIL&limit=20"),
        ("dlq reason=permanent", "admin", "/api/dlq?reason=permanent&limit=20"),
        ("stats", "read", "/api/notifications/stats/system"),
        ("reconcile", "admin", "/api/admin/reconcile"),
        ("reconcile streamed", "admin", "/api/admin/reconcile"),
    ]


async def _timed_stream(http: httpx.AsyncClient, path: str) -> tuple[int, float, float, float, int]:
    """A streamed reconcile: (status, first line s, largest gap between lines s, total s,
    windows)."""
    t0 = time.perf_counter()
    first = gap = 0.0
    last = t0
    windows = 0
    async with http.stream("GET", path, headers={"Accept": "application/x-ndjson"}) as r:
        async for line in r.aiter_lines():
            if not line:
                continue
            now = time.perf_counter()
            if not first:
                first = now - t0
            gap = max(gap, now - last)
            last = now
            windows += "window" in orjson.loads(line)
        status = r.status_code
    return status, first, gap, time.perf_counter() - t0, windows


async def measure(url: str, token: str, paths: list[tuple[str, str, str]], n: int) -> list[Doc]:
    rows: list[Doc] = []
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        for name, _, path in paths:
            if name == "reconcile streamed":
                rows.append(await _measure_stream(http, name, path, n))
                continue
            for _ in range(3):  # warm the connection and the server's caches
                await http.get(path)
            latencies: list[float] = []
            codes: Counter[int] = Counter()
            for _ in range(n):
                t0 = time.perf_counter()
                r = await http.get(path)
                latencies.append(time.perf_counter() - t0)
                codes[r.status_code] += 1
            s = summary_ms(latencies)
            rows.append(
                {
                    "endpoint": name,
                    "path": path,
                    "requests": n,
                    "status": {str(k): v for k, v in codes.items()},
                    "ms": s,
                    "pass": s["p99"] <= BAR_MS and codes.get(200, 0) == n,
                }
            )
            if name == "reconcile":
                # #9: reconcile may take longer if it says so and streams: it says how long
                # (durationMs) and over how many windows; the streamed form is held to the bar
                rows[-1]["heldToBar"] = False
                rows[-1]["note"] = (
                    "one JSON body after every window is counted: as long as counting the "
                    "tenant's documents takes; see 'reconcile streamed'"
                )
            flag = "ok  " if rows[-1]["pass"] else "MISS"
            if not rows[-1].get("heldToBar", True):
                flag = "info"
            print(
                f"[reads] {flag} {name:<28} p50 {s['p50']:7.1f} ms  p99 {s['p99']:7.1f} ms"
                f"  max {s['max']:7.1f} ms  {dict(codes)}",
                flush=True,
            )
    return rows


async def _measure_stream(http: httpx.AsyncClient, name: str, path: str, n: int) -> Doc:
    """The bar applies to the first line and to every gap between lines (a window each):
    the whole takes as long as counting the tenant's documents takes, and says so."""
    for _ in range(3):
        await _timed_stream(http, path)
    firsts, gaps, totals = [], [], []
    codes: Counter[int] = Counter()
    windows = 0
    for _ in range(n):
        status, first, gap, total, windows = await _timed_stream(http, path)
        codes[status] += 1
        firsts.append(first)
        gaps.append(gap)
        totals.append(total)
    f, g, t = summary_ms(firsts), summary_ms(gaps), summary_ms(totals)
    row: Doc = {
        "endpoint": name,
        "path": path,
        "accept": "application/x-ndjson",
        "requests": n,
        "status": {str(k): v for k, v in codes.items()},
        "windows": windows,
        "ms": f,  # to the first line
        "largestGapMs": g,
        "totalMs": t,
        "pass": f["p99"] <= BAR_MS and g["p99"] <= BAR_MS and codes.get(200, 0) == n,
    }
    flag = "ok  " if row["pass"] else "MISS"
    print(
        f"[reads] {flag} {name:<28} first line p99 {f['p99']:7.1f} ms, largest gap p99"
        f" {g['p99']:7.1f} ms, whole p50 {t['p50']:7.1f} p99 {t['p99']:7.1f} ms"
        f" ({windows} windows)  {dict(codes)}",
        flush=True,
    )
    return row


async def run(args: argparse.Namespace) -> int:
    store = Store.connect(args.mongodb_url, args.database)
    seeded_s: float | None = None
    try:
        # what an earlier run seeded, recorded once it finished (estimated counts are
        # PostgreSQL's statistics on FerretDB v2, not the number of documents)
        seeded = await store.db[SEED_RECORD].find_one({"_id": "seed"})
        wanted = {"notifications": args.notifications, "tenants": args.tenants, "seed": args.seed}
        if args.reseed or seeded is None or {k: seeded.get(k) for k in wanted} != wanted:
            print(f"[reads] seeding {args.notifications:,} notifications into {args.database}")
            await store.client.drop_database(args.database)
            await store.ensure_indexes()
            seeded_s = await seed(store, args)
            await store.db[SEED_RECORD].insert_one({"_id": "seed", **wanted})
        await store.ensure_indexes()
        tenant = "tenant-03"
        await Tenants(store, RateLimit(1000, 2000)).set_limit(tenant, RateLimit(100_000, 100_000))
        _, token = await Keys(store).create(tenant, {Scope.READ, Scope.ADMIN}, "bench-reads")
        sample = await store.notifications.collection.find_one(
            {"tenantId": tenant, "status": "SENT"}, {"_id": 1}
        )
        assert sample is not None
    finally:
        await store.close()

    system = LocalSystem(
        run_id=f"reads-{uuid.uuid4().hex[:6]}",
        mgmt=Management(args.management_url, "guest", "guest"),
        amqp_base=args.amqp_url,
        mongodb_url=args.mongodb_url,
        workers_per_channel=0,
        log_dir=ROOT / ".state" / "bench-reads",
    )
    # the API process reads the seeded database, not a fresh one of its own
    system.extra_env["MONGODB_DATABASE"] = args.database
    # the seeded QUEUED and RETRYING notifications never had a message: the sweeper would
    # (rightly) publish them all again and write their timelines while the reads are timed
    system.extra_env["SWEEP_AFTER_S"] = str(10 * 365 * 86400)
    system.create_vhost()
    try:
        system.start()
        await system.wait_ready()
        rows = await measure(system.api_urls[0], token, endpoints(sample), args.requests)
    finally:
        system.stop()
        system.keep = False
        system.mgmt.delete_vhost(system.vhost)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "kind": "reads-at-scale",
        "command": "python -m loadtest.bench_reads " + shlex.join(sys.argv[1:]),
        "startedAt": stamp,
        "database": "FerretDB v2.5.0 on PostgreSQL 15 + DocumentDB (services/devstack)",
        "notifications": args.notifications,
        "tenants": args.tenants,
        "perTenant": args.notifications // args.tenants,
        "seedSeconds": seeded_s,
        "barP99Ms": BAR_MS,
        "verdict": "PASS" if all(r["pass"] for r in rows if r.get("heldToBar", True)) else "FAIL",
        "endpoints": rows,
        "machine": machine_info(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"reads-{stamp}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"[reads] {report['verdict']}: report in {path.relative_to(ROOT)}")
    return 0 if report["verdict"] == "PASS" else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
