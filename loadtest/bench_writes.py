"""Where the database's CPU goes per notification: ``make bench-writes``
(= ``python -m loadtest.bench_writes``).

Runs the store's own write path (the same calls the API and a worker make, no HTTP and no
broker) for ``--notifications`` notifications per case, phase by phase, and measures the CPU
of PostgreSQL's processes, FerretDB and this process (PyMongo's client side) per notification
in each phase:

- ``outbox``   ``Outbox.add``: the accept path's outbox entry, one per group
- ``insert``   ``Notifications.insert``: the notifications (``insert_many`` of a group)
- ``intake``   ``count_intake`` and ``Outbox.forget``: the counters, the outbox entry removed
               (written after the API's answer)
- ``claim``    ``Rounds.claim``: a worker's conditional update (its timeline step inside), counters
- ``outcome``  ``Rounds.record_outcomes``: the SENT update (its timeline step inside), counters

A case is a group size (``--groups``: 1 is a lone single request, larger ones what group commit
and worker batches make of concurrent work) with ``--concurrency`` groups in flight, on one of
the ``--variants`` of the notifications' indexes, each in a fresh database:

- ``all``   the store's indexes (``wavecom.store.indexes``)
- ``lean``  without the ``?type=`` and ``?priority=`` list indexes
- ``bare``  ``_id`` only: the floor any index change could reach
- ``per-field`` the store's indexes without ``enableCompositeTerm`` (DocumentDB's default:
            one index term per field), as they were before composite terms

The machine's idle CPU (PostgreSQL's cron jobs, other processes) is measured first and taken
off. The report goes to ``loadtest/results/writes-<UTC timestamp>.json`` with the command.
Run it on a quiet machine: it measures CPU, not latency, but a busy machine still adds cache
misses and scheduler time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from loadtest.monitor import CpuMeter, CpuSnapshot
from loadtest.report import machine_info
from loadtest.system import ROOT
from wavecom.core.constants import NOTIFICATIONS, Channel, Priority, Status
from wavecom.core.messages import DeliveryJob
from wavecom.store import Doc, Outcome, Store
from wavecom.store.documents import job_of, new_notification
from wavecom.store.indexes import INDEXES

RESULTS = ROOT / "loadtest" / "results"
PHASES = ("outbox", "insert", "intake", "claim", "outcome")
DROPPED = {
    "all": (),
    "lean": ("tenant_type_created", "tenant_priority_created"),
    "bare": "*",
    "per-field": (),  # the store's indexes with DocumentDB's default per-field terms
}
MEASURED = ("postgres", "ferretdb", "bench")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.bench_writes",
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--notifications", type=int, default=4000, help="per case")
    p.add_argument("--groups", default="1,20", help="group sizes, comma-separated")
    p.add_argument("--concurrency", type=int, default=8, help="groups in flight at once")
    p.add_argument(
        "--variants", default="all,per-field,lean,bare", help=f"of: {', '.join(DROPPED)}"
    )
    p.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU measured first")
    p.add_argument(
        "--mongodb-url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    )
    p.add_argument("--no-write", action="store_true", help="print the report, do not save it")
    args = p.parse_args(argv)
    args.group_sizes = [int(g) for g in args.groups.split(",") if g.strip()]
    args.variant_names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(args.variant_names) - set(DROPPED)
    if unknown or not args.variant_names:
        p.error(f"--variants: unknown {sorted(unknown)}; choose from {', '.join(DROPPED)}")
    if any(g < 1 for g in args.group_sizes) or not args.group_sizes:
        p.error("--groups: positive sizes")
    return args


def _documents(n: int, now: datetime) -> list[Doc]:
    channels = (Channel.EMAIL, Channel.SMS, Channel.PUSH)
    priorities = (Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.CRITICAL)
    return [
        new_notification(
            tenant_id=f"tenant-{i % 4}",
            channel=channels[i % 3],
            recipient=f"user{i}@example.com",
            subject="Your code",
            message=f"Your one-time code is {100000 + i}",
            priority=priorities[i % 4],
            metadata={"orderId": f"o-{i}"},
            max_retries=3,
            scheduled_at=None,
            now=now,
            recipient_hash=f"h{i}",
        )
        for i in range(n)
    ]


def _outcome(job: DeliveryJob, at: datetime) -> Outcome:
    return Outcome(
        job=job,
        status=Status.SENT,
        started_at=at,
        finished_at=at + timedelta(milliseconds=50),
        message="Delivered by mock",
        provider="mock",
        provider_message_id=uuid.uuid4().hex,
    )


class Meter:
    """CPU of PostgreSQL, FerretDB and this process between two points, idle rate taken off."""

    def __init__(self) -> None:
        self.cpu = CpuMeter({})
        self.idle: dict[str, float] = dict.fromkeys(MEASURED, 0.0)  # percent of a core

    def snapshot(self) -> CpuSnapshot:
        return self.cpu.snapshot()

    def used_ms(self, a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
        """CPU milliseconds per group between a and b, minus what idle would have used."""
        wall = b.wall - a.wall
        pct = self.cpu.percent(a, b)
        return {g: max(0.0, (pct.get(g, 0.0) - self.idle[g]) * 10 * wall) for g in MEASURED}

    async def measure_idle(self, seconds: float) -> None:
        a = self.snapshot()
        await asyncio.sleep(seconds)  # the idle window itself: nothing runs during it
        b = self.snapshot()
        pct = self.cpu.percent(a, b)
        self.idle = {g: pct.get(g, 0.0) for g in MEASURED}


async def _prepare(store: Store, variant: str) -> None:
    await store.ensure_indexes()
    dropped = DROPPED[variant]
    coll = store.db[NOTIFICATIONS]
    if variant == "per-field":  # as they were before composite terms (the same on MongoDB)
        await coll.drop_indexes()
        await coll.create_indexes(INDEXES[NOTIFICATIONS])
        return
    if dropped == "*":
        await coll.drop_indexes()
        return
    for name in dropped:
        await coll.drop_index(name)


async def _phase(
    concurrency: int, groups: Sequence[Any], step: Callable[[Any], Awaitable[None]]
) -> None:
    slots = asyncio.Semaphore(concurrency)

    async def one(g: Any) -> None:
        async with slots:
            await step(g)

    await asyncio.gather(*(one(g) for g in groups))


async def run_case(
    url: str, meter: Meter, variant: str, size: int, n: int, concurrency: int
) -> dict[str, Any]:
    database = f"bench_writes_{uuid.uuid4().hex[:8]}"
    store = Store.connect(url, database)
    try:
        await _prepare(store, variant)
        now = datetime.now(UTC)
        docs = _documents(n, now)
        groups = [docs[i : i + size] for i in range(0, n, size)]
        entries: dict[int, str | None] = {}
        token = uuid.uuid4().hex
        jobs = [[job_of(d) for d in g] for g in groups]

        async def outbox(i: int) -> None:
            entries[i] = await store.outbox.add(groups[i], timedelta(seconds=30))

        async def insert(i: int) -> None:
            await store.notifications.insert(groups[i])

        async def intake(i: int) -> None:
            await store.notifications.count_intake(groups[i])
            await store.outbox.forget(entries[i])

        async def claim(i: int) -> None:
            won = await store.rounds.claim(jobs[i], token)
            if len(won) != len(jobs[i]):
                raise RuntimeError(f"claimed {len(won)} of {len(jobs[i])}")

        async def outcome(i: int) -> None:
            at = datetime.now(UTC)
            await store.rounds.record_outcomes([_outcome(j, at) for j in jobs[i]], token)

        steps = dict(zip(PHASES, (outbox, insert, intake, claim, outcome), strict=True))
        phases: dict[str, Any] = {}
        for name in PHASES:
            a = meter.snapshot()
            t0 = time.perf_counter()
            await _phase(concurrency, range(len(groups)), steps[name])
            wall = time.perf_counter() - t0
            b = meter.snapshot()
            used = meter.used_ms(a, b)
            phases[name] = {
                "wallSeconds": round(wall, 3),
                "notificationsPerSecond": round(n / wall, 1),
                "cpuMsPerNotification": {g: round(used[g] / n, 3) for g in MEASURED},
            }
        sent = await store.db[NOTIFICATIONS].count_documents({"status": Status.SENT.value})
        if sent != n:
            raise RuntimeError(f"{sent} of {n} notifications SENT at the end")
        total = {
            g: round(sum(p["cpuMsPerNotification"][g] for p in phases.values()), 3)
            for g in MEASURED
        }
        return {
            "variant": variant,
            "groupSize": size,
            "notifications": n,
            "concurrency": concurrency,
            "phases": phases,
            "cpuMsPerNotification": total,
        }
    finally:
        await store.client.drop_database(database)
        await store.close()


def _table(cases: list[dict[str, Any]]) -> str:
    head = f"{'variant':<6}{'group':>6}  " + "".join(f"{p:>16}" for p in PHASES) + f"{'total':>16}"
    lines = [head, " " * 14 + "PostgreSQL+FerretDB ms per notification (client ms)"]
    for c in cases:
        cells = []
        for p in (*PHASES, "total"):
            cpu = (
                c["cpuMsPerNotification"]
                if p == "total"
                else c["phases"][p]["cpuMsPerNotification"]
            )
            db = cpu["postgres"] + cpu["ferretdb"]
            cells.append(f"{db:>9.3f} ({cpu['bench']:.2f})")
        lines.append(f"{c['variant']:<6}{c['groupSize']:>6}  " + "".join(f"{x:>16}" for x in cells))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    meter = Meter()
    await meter.measure_idle(args.idle_seconds)
    cases = []
    for variant in args.variant_names:
        for size in args.group_sizes:
            case = await run_case(
                args.mongodb_url, meter, variant, size, args.notifications, args.concurrency
            )
            cases.append(case)
            print(_table([case]).splitlines()[-1], flush=True)
    return report_of("writes", meter, cases)


def report_of(kind: str, meter: Meter, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """A database benchmark's report: its cases, with the command, the idle CPU taken off
    and the machine."""
    return {
        "kind": kind,
        "command": f"python -m loadtest.bench_{kind} " + shlex.join(sys.argv[1:]),
        "startedAt": datetime.now(UTC).isoformat(),
        "idleCpuPercent": meter.idle,
        "machine": machine_info(),
        "cases": cases,
    }


def save(report: dict[str, Any]) -> None:
    """Write ``report`` to ``loadtest/results/<kind>-<UTC timestamp>.json``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{report['kind']}-{stamp}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"report: {path.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = asyncio.run(main_async(args))
    print(_table(report["cases"]))
    if not args.no_write:
        save(report)


if __name__ == "__main__":
    main()
