"""What one update of a tenant's stats document costs the database:
``python -m loadtest.bench_counters``.

Every state change is counted through a tally (``wavecom.store.counters``): ``intend`` records
it in the tenant's stats document before the notifications' writes, ``settle`` adds its deltas
and removes it after. Both are updates of that one document, which PostgreSQL writes again
whole (DocumentDB keeps a document as one value; the stats collection has only its primary
key, so the update is HOT, but the row, compressed and stored aside past 2 KB, is rewritten).
This runs ``--pairs`` intend + settle pairs of real tallies (``--steps`` notifications each)
through the store's own calls, ``--concurrency`` at once, with ``--pending`` other tallies left
pending in the same document (what the batches in flight of a busy system hold), and reports
the CPU of PostgreSQL's and FerretDB's processes per update (from /proc, the idle rate taken
off) and the document's size. The report goes to
``loadtest/results/counters-<UTC timestamp>.json`` with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

import bson
from bson import ObjectId

from loadtest.bench_writes import Meter, report_of, save
from wavecom.core.constants import STATS, Channel, Priority, Status
from wavecom.store import Store
from wavecom.store.counters import Tally

TENANT = "bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.bench_counters",
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--pairs", type=int, default=2000, help="intend + settle pairs per case")
    p.add_argument("--steps", type=int, default=4, help="notifications per tally")
    p.add_argument("--pending", default="0,15", help="tallies left pending, per case")
    p.add_argument("--concurrency", type=int, default=4, help="pairs in flight at once")
    p.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU measured first")
    p.add_argument(
        "--mongodb-url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    )
    p.add_argument("--no-write", action="store_true", help="print the report, do not save it")
    args = p.parse_args(argv)
    args.pending_counts = [int(n) for n in args.pending.split(",") if n.strip()]
    if args.pairs < 1 or args.steps < 1 or any(n < 0 for n in args.pending_counts):
        p.error("--pairs and --steps: positive; --pending: zero or more")
    return args


def _tally(steps: int) -> tuple[Tally, list[str]]:
    """A claim's tally: ``steps`` notifications moving from QUEUED to PROCESSING; and their
    ids (all of them done, for the settle)."""
    tally, ids = Tally(), [str(ObjectId()) for _ in range(steps)]
    token = uuid.uuid4().hex
    channels, priorities = list(Channel), list(Priority)
    for i, nid in enumerate(ids):
        kind = (channels[i % len(channels)].value, priorities[i % len(priorities)].value)
        tally.moved(
            TENANT, nid, f":{token}:c", Status.QUEUED.value, Status.PROCESSING.value, kind=kind
        )
    return tally, ids


async def run_case(
    url: str, meter: Meter, pending: int, pairs: int, steps: int, concurrency: int
) -> dict[str, Any]:
    database = f"bench_counters_{uuid.uuid4().hex[:8]}"
    store = Store.connect(url, database)
    try:
        await store.ensure_indexes()
        for _ in range(pending):  # in flight elsewhere: recorded, never settled here
            await store.counters.intend(_tally(steps)[0])
        warm, ids = _tally(steps)
        await store.counters.intend(warm)
        await store.counters.settle(warm, ids)
        stored = await store.db[STATS].find_one({"_id": TENANT})
        size = len(bson.encode(stored or {}))
        left = pairs

        async def pair() -> None:
            tally, ids = _tally(steps)
            await store.counters.intend(tally)
            await store.counters.settle(tally, ids)

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await pair()

        a = meter.snapshot()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        b = meter.snapshot()
        used = meter.used_ms(a, b)
        stats = await store.counters.of(TENANT)
        counted = stats.by_status.get(Status.PROCESSING.value, 0)
        if counted != (pairs + 1) * steps:
            raise RuntimeError(f"{counted} counted, {(pairs + 1) * steps} expected")
        updates = 2 * pairs
        return {
            "pendingTallies": pending,
            "documentBytes": size,
            "pairs": pairs,
            "stepsPerTally": steps,
            "concurrency": concurrency,
            "wallSeconds": round(wall, 3),
            "updatesPerSecond": round(updates / wall, 1),
            "cpuMsPerUpdate": {g: round(used[g] / updates, 3) for g in used},
        }
    finally:
        await store.client.drop_database(database)
        await store.close()


def _line(case: dict[str, Any]) -> str:
    cpu = case["cpuMsPerUpdate"]
    return (
        f"{case['pendingTallies']:>8} pending, document {case['documentBytes']:>6} B: "
        f"PostgreSQL {cpu['postgres']:.3f} ms, FerretDB {cpu['ferretdb']:.3f} ms, "
        f"this client {cpu['bench']:.3f} ms per update ({case['updatesPerSecond']:.0f}/s)"
    )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    meter = Meter()
    await meter.measure_idle(args.idle_seconds)
    cases = []
    for pending in args.pending_counts:
        case = await run_case(
            args.mongodb_url, meter, pending, args.pairs, args.steps, args.concurrency
        )
        cases.append(case)
        print(_line(case), flush=True)
    return report_of("counters", meter, cases)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = asyncio.run(main_async(args))
    if not args.no_write:
        save(report)


if __name__ == "__main__":
    main()
