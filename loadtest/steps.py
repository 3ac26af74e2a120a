"""``make bench-steps`` / ``python -m loadtest.steps``: ours against the seed-style peer, step by
step, in the same session (issue 25's table).

One system at a time (the peer of ``loadtest/peer/``, then WaveCom Notify as ``make up`` ships it:
one API process and one worker process for the three channels), each in its own RabbitMQ vhost and
database on the shared local stack. For every offered rate, vegeta sends single creates at a
constant rate for ``--seconds`` (open model: ``loadtest/vegeta.py``) and the step records

- offered/s, accepted/s (2xx), refusals by status code (0: no answer), p50/p99 of every answer;
- how busy the machine was (``/proc/stat``, all CPUs, whatever ran) and the machine's CPU per
  accepted notification, over the load window, split by process group: API, workers,
  PostgreSQL, FerretDB, RabbitMQ (beam.smp), load generator (vegeta and this process), other;
- then it waits (up to ``--drain`` s) until every accepted notification is final and reads the
  database: the peer's must all be SENT, ours SENT or FAILED (what ``loadtest.bench`` counts);
  anything else, or missing, is lost.

A system's *sustained rate* is issue 25's: the highest offered rate whose step answered
>= 99.9 % of its requests with 2xx and with a p99 within 250 ms. The report goes to
``loadtest/results/steps-<UTC timestamp>.json`` with the command that made it; a markdown
table goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aio_pika
import httpx
import uvloop
from aiormq.exceptions import AMQPError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from loadtest import bench, commands, cpu_profile, monitor
from loadtest import report as rep
from loadtest.load import CHANNELS, PRIORITIES, Bodies, LoadResult, Sent, build_bodies, parse_mix
from loadtest.monitor import CpuMeter, CpuSnapshot, listener_pids
from loadtest.profile import Profiler
from loadtest.stats import percentile, summary_ms
from loadtest.system import (
    ROOT,
    STACK,
    WORKER_LAYOUT_HELP,
    WORKER_LAYOUTS,
    LocalSystem,
    Management,
    Proc,
    free_port,
    settings_overrides,
)
from loadtest.vegeta import VegetaGenerator

RESULTS = ROOT / "loadtest" / "results"
PEER_DIR = ROOT / "loadtest" / "peer"
PEER_QUEUE = "notifications"  # loadtest/peer/config.js
NOTIFICATIONS = "notifications"  # the collection of both systems
TIMELINE_SECONDS = 10.0  # a step's timeline in slices this long
SYSTEMS = ("peer", "ours")
# the process groups of the CPU split, in the report's order
SPLIT = ("api", "workers", "postgres", "ferretdb", "rabbitmq", "loadgen", "other")
SPLIT_NAMES = {
    "api": "API",
    "workers": "workers",
    "postgres": "PostgreSQL",
    "ferretdb": "FerretDB",
    "rabbitmq": "RabbitMQ",
    "loadgen": "load gen",
    "other": "other",
}


def _p(msg: str) -> None:
    print(f"[steps] {msg}", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.steps",
        description="Ours against the seed-style peer (loadtest/peer/), rate by rate, one "
        "system at a time (issue 25).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--systems", default="peer,ours", help="which systems, in this order")
    p.add_argument("--rates", default="50,100,200,300,400,600", help="offered creates/s")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of load per step")
    p.add_argument(
        "--drain",
        type=float,
        default=120.0,
        help="after each step, seconds to wait at most for every accepted notification to be final",
    )
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        help="before the steps, seconds of the system up and idle whose CPU is measured (0: no)",
    )
    p.add_argument("--min-2xx", type=float, default=99.9, help="sustained: percent 2xx at least")
    p.add_argument("--max-p99-ms", type=float, default=250.0, help="sustained: p99 at most")
    p.add_argument("--timeout", type=float, default=30.0, help="vegeta's request timeout (s)")
    p.add_argument("--mix", default="EMAIL=0.5,SMS=0.3,PUSH=0.2", help="channel mix")
    p.add_argument(
        "--priorities", default="LOW=0.2,MEDIUM=0.5,HIGH=0.2,CRITICAL=0.1", help="priority mix"
    )
    p.add_argument("--seed", type=int, default=7, help="seed of the request bodies")
    p.add_argument(
        "--profile-rate",
        type=float,
        default=None,
        help="sample our API and workers with py-spy during the step at this rate "
        "(loadtest/profile.py): where each process's ms per notification go",
    )
    p.add_argument(
        "--cpu-profile",
        action="store_true",
        help="run our API and workers under cProfile timing their CPU (loadtest/cpu_profile.py) "
        "from the first step on; the report gets each process's CPU by package. The profiler "
        "triples their CPU: the run's other figures are not the build's",
    )
    g = p.add_argument_group("ours")
    g.add_argument("--api-procs", type=int, default=1, help="our API processes (make up runs 1)")
    g.add_argument(
        "--workers", type=int, default=1, help="our worker processes per channel (make up: 1)"
    )
    g.add_argument(
        "--worker-layout", choices=WORKER_LAYOUTS, default="one", help=WORKER_LAYOUT_HELP
    )
    g.add_argument(
        "--code",
        default="",
        metavar="REV",
        help="run our API and workers from `git archive REV services/wavecom` instead of the "
        "working tree (which may hold unfinished edits)",
    )
    g = p.add_argument_group("connections")
    g.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    g.add_argument("--mongodb-url", default="mongodb://127.0.0.1:27017/")
    g.add_argument("--mgmt-url", default="http://127.0.0.1:15672")
    g.add_argument("--mgmt-user", default="guest")
    g.add_argument("--mgmt-password", default="guest")
    g.add_argument("--results-dir", type=Path, default=RESULTS)
    g.add_argument(
        "--keep", action="store_true", help="keep each system's vhost and database afterwards"
    )
    g.add_argument(
        "--run-id",
        default="",
        help="names the vhosts and databases (peer-ID / peer_ID, bench-ID / bench_ID); "
        "default: the start time and a random suffix",
    )
    a = p.parse_args(argv)
    a.system_names = [s.strip() for s in a.systems.split(",") if s.strip()]
    if not a.system_names or any(s not in SYSTEMS for s in a.system_names):
        p.error(f"--systems takes {', '.join(SYSTEMS)}")
    try:
        a.rate_list = [float(r) for r in a.rates.split(",") if r.strip()]
    except ValueError:
        p.error("--rates takes numbers, e.g. 50,100,200")
    if not a.rate_list or min(a.rate_list) <= 0 or a.seconds <= 0 or a.drain <= 0:
        p.error("--rates, --seconds and --drain must be positive")
    a.argv = list(sys.argv[1:] if argv is None else argv)
    return a


# --- the systems ----------------------------------------------------------------------------------


class System(Protocol):
    """What a step needs of a system under test."""

    @property
    def name(self) -> str: ...
    @property
    def urls(self) -> list[str]: ...
    @property
    def api_key(self) -> str: ...
    @property
    def database(self) -> str: ...
    @property
    def final(self) -> tuple[str, ...]:
        """The statuses an accepted notification may end in."""

    async def up(self) -> None:
        """Start the processes and return when they serve."""

    def groups(self) -> dict[str, list[int]]:
        """The CPU accounting groups of the processes started (pids)."""

    def describe(self) -> dict[str, Any]: ...
    def stop(self) -> None:
        """Stop what start started and delete the vhost and database (unless kept)."""


@dataclass
class PeerSystem(LocalSystem):
    """The peer's API (``node api.js``) and worker (``node worker.js``) in a vhost and database
    of their own; stopping, cleaning up and the CPU groups are :class:`LocalSystem`'s."""

    name: str = "peer"
    api_key: str = ""  # the peer has no keys (vegeta sends an empty bearer it ignores)
    final: tuple[str, ...] = ("SENT",)

    @property
    def vhost(self) -> str:
        return f"peer-{self.run_id}"

    @property
    def database(self) -> str:
        return f"peer_{self.run_id.replace('-', '_')}"

    @property
    def urls(self) -> list[str]:
        return self.api_urls

    async def up(self) -> None:
        self.spawn()
        await self.wait_ready()

    def spawn(self) -> None:
        """The API and the worker, in the peer's vhost and database."""
        node = shutil.which("node")
        if node is None or not (PEER_DIR / "node_modules").is_dir():
            raise SystemExit("[steps] the peer needs Node 20 and its packages: run `make peer`")
        self.create_vhost()
        port = free_port()
        env = {
            **self.env(),
            "AMQP_URL": self.amqp_url,
            "PEER_DATABASE": self.database,
            "PORT": str(port),
        }
        for name, group in (("api", "api"), ("worker", "workers")):
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / f"peer-{name}.log"
            with log.open("wb") as out:
                popen = subprocess.Popen(  # noqa: S603 - fixed arguments
                    [node, f"{name}.js"],
                    cwd=PEER_DIR,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.procs.append(Proc(f"peer-{name}", group, popen, log))
        self.api_urls.append(f"http://127.0.0.1:{port}")

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the API answers its health check and the worker consumes the queue."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                self._check_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.api_urls[0] + "/api/health")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("the peer's API did not answer its health check")
                await asyncio.sleep(0.2)
        connection = await aio_pika.connect(self.amqp_url)
        try:
            while True:
                self._check_alive()
                with contextlib.suppress(AMQPError):
                    channel = await connection.channel()
                    try:
                        q = await channel.declare_queue(PEER_QUEUE, passive=True)
                        if q.declaration_result.consumer_count:
                            return
                    finally:
                        with contextlib.suppress(Exception):
                            await channel.close()
                if time.monotonic() > deadline:
                    raise TimeoutError("the peer's worker did not start consuming")
                await asyncio.sleep(0.2)
        finally:
            await connection.close()

    def groups(self) -> dict[str, list[int]]:
        return self.pids()

    def stop(self) -> None:
        super().stop()
        self.cleanup()

    def describe(self) -> dict[str, Any]:
        return {
            "what": "loadtest/peer/: Express + mongodb + amqplib; one insert and one confirmed "
            "persistent publish to a durable quorum queue per request, a worker (prefetch 100) "
            "that sets SENT and acks; no tenants, keys, idempotency, outbox, timeline, "
            "counters or provider call",
            "processes": {"api": 1, "workers": 1},
            "vhost": self.vhost,
            "database": self.database,
            "logs": str(self.log_dir.relative_to(ROOT)),
        }


class Ours:
    """WaveCom Notify started the way ``loadtest.bench --start`` starts it (its private vhost,
    database, tenant key and mock providers), one API process and one worker process for the three
    channels unless told."""

    name = "ours"
    final = ("SENT", "FAILED")  # what loadtest.bench counts as not lost

    def __init__(self, a: argparse.Namespace, run_id: str, started: datetime) -> None:
        self.code_dir: tempfile.TemporaryDirectory[str] | None = None
        env = []
        if a.code:
            self.code_dir = tempfile.TemporaryDirectory(prefix="wavecom-steps-code-")
            _export_code(a.code, Path(self.code_dir.name))
            env = [
                f"PYTHONPATH={Path(self.code_dir.name) / 'services'}",
                f"DASHBOARD_DIR={ROOT / 'frontend' / 'out'}",
            ]
        args = bench.parse_args(
            [
                "--start",
                "--driver", "vegeta",
                "--single-fraction", "1",
                "--rate", f"{max(a.rate_list):g}",
                "--api-procs", str(a.api_procs),
                "--workers", str(a.workers),
                "--worker-layout", a.worker_layout,
                "--amqp-url", a.amqp_url,
                "--mongodb-url", a.mongodb_url,
                "--mgmt-url", a.mgmt_url,
                "--mgmt-user", a.mgmt_user,
                "--mgmt-password", a.mgmt_password,
                *[x for kv in env for x in ("--env", kv)],
                *(["--keep"] if a.keep else []),
            ]
        )  # fmt: skip
        self.bench = bench.Bench(args, run_id, started)
        self.code = a.code
        self.api_key = ""
        self.cpu_profile_dir = (
            ROOT / ".state" / "bench" / f"cpu-profile-{run_id}" if a.cpu_profile else None
        )
        self.cpu_profile: dict[str, Any] = {}

    @property
    def system(self) -> LocalSystem:
        assert self.bench.system is not None, "up() first"
        return self.bench.system

    @property
    def urls(self) -> list[str]:
        return self.system.api_urls

    @property
    def database(self) -> str:
        return self.system.database

    async def up(self) -> None:
        await asyncio.to_thread(self.bench.prepare)  # stack up (reused), vhost
        self.api_key = await self.bench._bench_key()
        self.system.cpu_profile_dir = self.cpu_profile_dir
        self.system.start()
        await self.system.wait_ready()

    def groups(self) -> dict[str, list[int]]:
        return self.system.pids()

    def describe(self) -> dict[str, Any]:
        s = self.system
        return {
            "what": "WaveCom Notify started by loadtest.bench's private system (make up, "
            "services/devstack/run.py, runs one API process and one worker process for the "
            "three channels; see processes): mock providers with their default latency, a "
            "tenant key limited above the rate",
            "code": _describe_code(self.code),
            "processes": {
                "api": s.api_procs,
                "workers": len(s.worker_processes()) * s.workers_per_channel,
                "workerLayout": s.worker_layout,
            },
            "vhost": s.vhost,
            "database": s.database,
            "logs": str(s.log_dir.relative_to(ROOT)),
        }

    def stop(self) -> None:
        if self.bench.system is not None:
            self.bench.system.stop()  # the profiled processes write their stats as they exit
            self.bench.system.cleanup()
        if self.cpu_profile_dir is not None and self.cpu_profile_dir.exists():
            self.cpu_profile = {
                "what": "each process's CPU time by package, cProfile timing by the process's "
                "CPU clock from the first step to the end (loadtest/cpu_profile.py): it triples "
                "the processes' CPU, so this run's other figures are not the build's",
                "statsDir": str(self.cpu_profile_dir.relative_to(ROOT)),
                "processes": cpu_profile.summarize(self.cpu_profile_dir),
            }
        if self.code_dir is not None:
            self.code_dir.cleanup()


def _git(*args: str) -> bytes:
    return subprocess.run(  # noqa: S603 - fixed arguments
        [shutil.which("git") or "/usr/bin/git", *args],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout


def _export_code(rev: str, into: Path) -> None:
    """``services/wavecom`` as committed at ``rev``, unpacked under ``into``."""
    with tarfile.open(fileobj=BytesIO(_git("archive", rev, "services/wavecom"))) as tar:
        tar.extractall(into, filter="data")


def _describe_code(rev: str) -> dict[str, Any]:
    if rev:
        sha = _git("rev-parse", rev).decode().strip()
        return {"from": f"git archive {rev} services/wavecom", "commit": sha}
    dirty = _git("status", "--porcelain", "--", "services/wavecom").decode().splitlines()
    return {
        "from": "the working tree",
        "commit": _git("rev-parse", "HEAD").decode().strip(),
        "uncommittedFiles": [line[3:] for line in dirty],
    }


# --- one step -------------------------------------------------------------------------------------


def _children_cpu_s() -> float:
    """CPU seconds of this process's reaped children: vegeta's shell pipeline, once it ends
    (it starts and ends inside the window, so /proc never sees it at both ends)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_split(pct: dict[str, float], loadgen_children_pct: float) -> dict[str, float]:
    """CpuMeter's per-process-group percentages folded into :data:`SPLIT` (percent of one core);
    'other' is whatever the machine did beyond the named groups."""
    out = {
        "api": pct.get("api", 0.0),
        "workers": sum(v for g, v in pct.items() if g.startswith("worker")),
        "postgres": pct.get("postgres", 0.0),
        "ferretdb": pct.get("ferretdb", 0.0),
        "rabbitmq": pct.get("rabbitmq", 0.0),
        "loadgen": pct.get("vegeta", 0.0) + pct.get("bench", 0.0) + loadgen_children_pct,
    }
    out["other"] = max(0.0, pct.get("total", 0.0) - sum(out.values()))
    return {g: round(out[g], 1) for g in SPLIT}


async def _unfinished(
    coll: AsyncCollection[dict[str, Any]], ids: set[str], final: tuple[str, ...]
) -> set[str]:
    docs = await coll.find({"status": {"$nin": list(final)}}, {"_id": 1}).to_list()
    return {str(d["_id"]) for d in docs} & ids


async def drain(
    coll: AsyncCollection[dict[str, Any]],
    ids: set[str],
    final: tuple[str, ...],
    deadline_s: float,
) -> dict[str, Any]:
    """Wait until no accepted notification is short of a final status, or the deadline."""
    start = time.monotonic()
    pending = await _unfinished(coll, ids, final)
    at_load_end = len(pending)
    while pending and time.monotonic() - start < deadline_s:
        await asyncio.sleep(0.5)
        pending = await _unfinished(coll, ids, final)
    return {
        "unfinishedAtLoadEnd": at_load_end,
        "seconds": round(time.monotonic() - start, 1),
        "reason": "deadline" if pending else "every accepted notification is final",
    }


async def verify(
    coll: AsyncCollection[dict[str, Any]], ids: set[str], final: tuple[str, ...]
) -> dict[str, Any]:
    """The status of every accepted id, read from the database; lost = not final or missing."""
    statuses = {
        str(d["_id"]): str(d.get("status"))
        for d in await coll.find({}, {"status": 1}, batch_size=10_000).to_list()
    }
    by_status = Counter(statuses.get(i, "MISSING") for i in ids)
    lost = {s: n for s, n in by_status.items() if s not in final}
    return {"finalStatus": dict(by_status), "lost": sum(lost.values()), "lostByStatus": lost}


@dataclass(frozen=True, slots=True)
class Cpu:
    """The machine's CPU over one window, and its split by process group (percent of a core)."""

    seconds: float
    busy_pct: float
    split: dict[str, float]

    def ms_each(self, pct: float, accepted: int) -> float | None:
        """``pct`` of a core over the window, in ms per accepted notification."""
        return round(pct / 100 * self.seconds * 1000 / accepted, 2) if accepted else None


@dataclass(frozen=True, slots=True)
class Window:
    """Opened at a /proc snapshot; closing it takes the second one."""

    meter: CpuMeter
    start: CpuSnapshot
    children0: float

    @classmethod
    def open(cls, meter: CpuMeter) -> Window:
        return cls(meter, meter.snapshot(), _children_cpu_s())

    def close(self) -> Cpu:
        end = self.meter.snapshot()
        seconds = end.wall - self.start.wall
        children_pct = 100 * (_children_cpu_s() - self.children0) / seconds if seconds else 0.0
        pct = self.meter.percent(self.start, end)
        return Cpu(seconds, pct.get("total", 0.0), cpu_split(pct, children_pct))


def step_report(rate: float, seconds: float, load: LoadResult, cpu: Cpu) -> dict[str, Any]:
    """The figures of one step (before the drain)."""
    reqs = load.requests
    sent = max(load.planned, len(reqs))
    ok = sum(1 for r in reqs if 200 <= r.status < 300)
    refused = Counter(str(r.status) for r in reqs if not 200 <= r.status < 300)
    accepted = load.accepted
    return {
        "offeredPerSecond": rate,
        "seconds": seconds,
        "requests": sent,
        "answered2xx": ok,
        "percent2xx": round(100 * ok / sent, 3) if sent else 0.0,
        "accepted": accepted,
        "acceptedPerSecond": round(accepted / seconds, 1),
        "refusedByStatus": dict(sorted(refused.items())),
        "errors": dict(Counter(r.error for r in reqs if r.error and r.status == 0)),
        "latencyMs": summary_ms([r.latency for r in reqs]),
        "acceptedLatencyMs": summary_ms([r.latency for r in reqs if 200 <= r.status < 300]),
        "timeline": timeline(reqs),
        "cpu": {
            "windowSeconds": round(cpu.seconds, 2),
            "machineBusyPercent": cpu.busy_pct,
            "machineMsPerAccepted": cpu.ms_each(cpu.busy_pct, accepted),
            "percentByGroup": cpu.split,
            "msPerAcceptedByGroup": {g: cpu.ms_each(v, accepted) for g, v in cpu.split.items()},
        },
    }


def timeline(reqs: Sequence[Sent], every_s: float = TIMELINE_SECONDS) -> list[dict[str, Any]]:
    """The step in slices of ``every_s`` seconds by send time: requests sent, refused and the
    p99 of their answers, to see when in a long step a stall came."""
    slices: dict[int, list[Sent]] = {}
    for r in reqs:
        slices.setdefault(int(r.started // every_s), []).append(r)
    return [
        {
            "fromSecond": round(i * every_s),
            "requests": len(sent),
            "not2xx": sum(1 for r in sent if not 200 <= r.status < 300),
            "p99Ms": round(1000 * percentile(sorted(r.latency for r in sent), 99), 1),
        }
        for i, sent in sorted(slices.items())
    ]


def _metrics_urls(system: System) -> dict[str, list[str]]:
    """Our processes' /metrics (each counts its database commands); none for the peer."""
    if not isinstance(system, Ours):
        return {}
    return {"api": system.system.api_metrics, "workers": system.system.worker_metrics}


def _profiler(system: System, a: argparse.Namespace, rate: float) -> Profiler | None:
    """py-spy on our API and workers during the step at ``--profile-rate`` (started here)."""
    if not isinstance(system, Ours) or a.profile_rate != rate:
        return None
    groups: dict[str, list[int]] = {}
    for group, pids in system.groups().items():
        key = "workers" if group.startswith("worker") else group
        if key in ("api", "workers"):
            groups.setdefault(key, []).extend(pids)
    out = ROOT / ".state" / "bench" / f"profile-{system.system.run_id}-{rate:g}"
    profiler = Profiler(groups, a.seconds, out)
    profiler.start()
    return profiler


async def run_step(
    system: System,
    meter: CpuMeter,
    coll: AsyncCollection[dict[str, Any]],
    bodies: Bodies,
    a: argparse.Namespace,
    rate: float,
) -> dict[str, Any]:
    gen = VegetaGenerator(
        system.urls,
        bodies,
        rate=rate,
        duration=a.seconds,
        timeout_s=a.timeout,
        api_key=system.api_key,
    )
    profiler = _profiler(system, a, rate)
    urls = _metrics_urls(system)
    before = await commands.scrape(urls) if urls else None
    window = Window.open(meter)
    load = await gen.run(time.monotonic())
    cpu = window.close()
    result = step_report(rate, a.seconds, load, cpu)
    if profiler is not None:
        samples = await asyncio.to_thread(profiler.finish)
        ms = result["cpu"]["msPerAcceptedByGroup"]
        result["profile"] = {
            "what": "py-spy samples over the load window, by category (loadtest/profile.py); "
            "msEach = the category's share of the process group's ms per accepted notification",
            "samplesDir": str(profiler.out_dir.relative_to(ROOT)),
            **{g: s.breakdown(ms.get(g)) for g, s in samples.items()},
        }
    ids = set(load.ids)
    window = Window.open(meter)
    result["drain"] = await drain(coll, ids, system.final, a.drain)
    after = window.close()
    # what the backlog left after the window cost too (plus the drain's own polling)
    both_ms = cpu.busy_pct * cpu.seconds + after.busy_pct * after.seconds
    result["cpu"]["drain"] = {
        "windowSeconds": round(after.seconds, 2),
        "machineBusyPercent": after.busy_pct,
        "machineMsPerAcceptedWithDrain": round(both_ms * 10 / load.accepted, 2)
        if load.accepted
        else None,
    }
    if before is not None:
        result.update(_read_metrics(before, await commands.scrape(urls), load.accepted))
    result.update(await verify(coll, ids, system.final))
    result["loadAverage"] = [round(x, 2) for x in _loadavg()]
    return result


def _read_metrics(
    before: commands.Reading, after: commands.Reading, accepted: int
) -> dict[str, Any]:
    """What our processes' /metrics say about a step, read before it and after its drain."""
    ran, done = before[commands.COMMANDS], after[commands.COMMANDS]
    refused = after[commands.REFUSED].get("api", Counter())
    delivered = after[commands.DELIVERY].get("workers", Counter())
    return {
        "databaseCommandsPerAccepted": commands.per_notification(ran, done, accepted),
        "databaseCommandsPerAcceptedByCollection": commands.per_notification(
            ran, done, accepted, by_collection=True
        ),
        "admissionRefusedByReason": dict(refused - before[commands.REFUSED].get("api", Counter())),
        # acceptance to the provider's answer, of what the workers delivered meanwhile
        "deliveryLatencyMs": commands.latency_ms(
            before[commands.DELIVERY].get("workers", Counter()), delivered
        ),
    }


def _loadavg() -> tuple[float, float, float]:
    with open("/proc/loadavg") as f:
        one, five, fifteen = (float(x) for x in f.read().split()[:3])
    return one, five, fifteen


# --- the run --------------------------------------------------------------------------------------


def sustained(steps: list[dict[str, Any]], min_2xx: float, max_p99_ms: float) -> dict[str, Any]:
    """Issue 25's sustained rate: the highest offered rate with >= ``min_2xx`` % answered 2xx
    and a p99 of every answer within ``max_p99_ms``."""
    passing = [
        s
        for s in steps
        if s["percent2xx"] >= min_2xx and s["latencyMs"].get("p99", float("inf")) <= max_p99_ms
    ]
    best = max(passing, key=lambda s: s["offeredPerSecond"], default=None)
    return {
        "rate": best["offeredPerSecond"] if best else None,
        "p99Ms": best["latencyMs"]["p99"] if best else None,
        "machineMsPerAccepted": best["cpu"]["machineMsPerAccepted"] if best else None,
        "passingRates": [s["offeredPerSecond"] for s in passing],
    }


async def run_system(system: System, a: argparse.Namespace, bodies: Bodies) -> dict[str, Any]:
    _p(f"{system.name}: starting")
    await system.up()
    out: dict[str, Any] = {**system.describe(), "steps": []}
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        a.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    try:
        coll = client[system.database][NOTIFICATIONS]
        meter = CpuMeter(system.groups())
        if a.idle_seconds > 0:
            urls = _metrics_urls(system)
            before = await commands.scrape(urls) if urls else None
            window = Window.open(meter)
            await asyncio.sleep(a.idle_seconds)  # a measurement window, not a wait for work
            idle = window.close()
            out["idle"] = {
                "windowSeconds": round(idle.seconds, 2),
                "machineBusyPercent": idle.busy_pct,
                "percentByGroup": idle.split,
            }
            if before is not None:
                ran = before[commands.COMMANDS]
                done = (await commands.scrape(urls))[commands.COMMANDS]
                out["idle"]["databaseCommandsPerSecond"] = {
                    g: round(sum((done[g] - ran.get(g, Counter())).values()) / idle.seconds, 1)
                    for g in done
                }
            _p(f"{system.name}: idle, the machine is {idle.busy_pct} % busy")
        if isinstance(system, Ours):
            system.system.start_profiling()  # --cpu-profile: from the first step on
        for rate in a.rate_list:
            _p(f"{system.name}: {rate:g}/s for {a.seconds:g} s")
            s = await run_step(system, meter, coll, bodies, a, rate)
            out["steps"].append(s)
            _p(
                f"{system.name}: {rate:g}/s -> accepted {s['acceptedPerSecond']:g}/s, "
                f"p99 {s['latencyMs'].get('p99')} ms, busy {s['cpu']['machineBusyPercent']} %, "
                f"{s['cpu']['machineMsPerAccepted']} ms each; drained in "
                f"{s['drain']['seconds']} s, lost {s['lost']}"
            )
    finally:
        await client.close()
    out["sustained"] = sustained(out["steps"], a.min_2xx, a.max_p99_ms)
    return out


def _make(a: argparse.Namespace, name: str, run_id: str, started: datetime) -> System:
    mgmt = Management(a.mgmt_url, a.mgmt_user, a.mgmt_password)
    if name == "peer":
        return PeerSystem(
            run_id=run_id,
            mgmt=mgmt,
            amqp_base=a.amqp_url,
            mongodb_url=a.mongodb_url,
            log_dir=ROOT / ".state" / "bench" / f"steps-{run_id}",
            keep=a.keep,
        )
    return Ours(a, run_id, started)


def _rabbitmq_flags() -> list[str]:
    """The scheduler flags of the broker that answers (issue 25 names +sbwt)."""
    for pid in listener_pids(monitor.INFRA_PORTS["rabbitmq"]):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            return [f"{x} {y}" for x, y in itertools.pairwise(argv) if x.startswith("-sbwt")]
    return []


async def run(a: argparse.Namespace) -> dict[str, Any]:
    """Every system in turn, every rate in turn; returns the report (and writes it)."""
    started = datetime.now(UTC)
    run_id = a.run_id or started.strftime("%Y%m%dt%H%M%S").lower() + "-" + uuid.uuid4().hex[:4]
    monitor.INFRA_PORTS.update(
        rabbitmq=urlsplit(a.amqp_url).port or 5672,
        ferretdb=urlsplit(a.mongodb_url.split(",")[0]).port or 27017,
    )
    _p(f"{STACK.relative_to(ROOT)} up (reuses what answers)")
    await asyncio.to_thread(subprocess.run, [str(STACK), "up"], check=True, cwd=ROOT)
    bodies = build_bodies(
        0, parse_mix(a.mix, CHANNELS), parse_mix(a.priorities, PRIORITIES), a.seed
    )
    mgmt = Management(a.mgmt_url, a.mgmt_user, a.mgmt_password)
    overview = mgmt.overview()
    report: dict[str, Any] = {
        "kind": "steps",
        "command": "python -m loadtest.steps " + shlex.join(a.argv),
        # our settings set in the environment the command ran in (ours' processes inherit them)
        "settingsFromEnvironment": settings_overrides(os.environ),
        "startedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runId": run_id,
        "parameters": {
            "systems": a.system_names,
            "rates": a.rate_list,
            "secondsPerStep": a.seconds,
            "drainLimitSeconds": a.drain,
            "driver": "vegeta (constant rate, open model), single creates",
            "channelMix": _rounded(parse_mix(a.mix, CHANNELS)),
            "priorityMix": _rounded(parse_mix(a.priorities, PRIORITIES)),
        },
        "definitions": {
            "sustained": f"the highest offered rate with >= {a.min_2xx:g} % of requests "
            f"answered 2xx and a p99 of every answer <= {a.max_p99_ms:g} ms (issue 25)",
            "machineBusyPercent": "/proc/stat over the load window, all CPUs (200 = two cores "
            "busy), whatever ran on the machine",
            "machineMsPerAccepted": "machine CPU over the load window / notifications accepted",
            "machineMsPerAcceptedWithDrain": "machine CPU over the load window and the drain "
            "after it (the backlog delivered late, plus the drain's own polling of the database) "
            "/ notifications accepted",
            "idle": "the machine's CPU with the system started and no load, before the steps",
            "percentByGroup": "percent of one core per process group over the load window; "
            "loadgen is vegeta (reaped children) plus this process; other is the rest of the "
            "machine",
            "lost": "accepted (201 with an id) and, after the drain, not in a final status or "
            "missing: the peer's final status is SENT, ours SENT or FAILED",
            "databaseCommandsPerAccepted": "ours: the database commands each process group "
            "sent over the step and its drain (database_commands_total) / notifications "
            "accepted, by command; ...ByCollection: by command and the collection it names",
            "admissionRefusedByReason": "ours: the API's 503 OVERLOADED refusals over the step "
            "by reason (api_admission_refused_total): in_flight, loop_lag, queue_deadline",
        },
        "versions": {
            "rabbitmq": overview.get("rabbitmq_version"),
            "erlang": overview.get("erlang_version"),
            "rabbitmqSchedulerFlags": _rabbitmq_flags(),
            "ferretdb": rep.ferretdb_info(),
            "node": _node_version(),
        },
        "systems": {},
    }
    for name in a.system_names:
        system = _make(a, name, run_id, started)
        try:
            report["systems"][name] = await run_system(system, a, bodies)
        finally:
            _p(f"{name}: stopping the processes this run started")
            await asyncio.to_thread(system.stop)
        if isinstance(system, Ours) and system.cpu_profile:
            report["systems"][name]["cpuProfile"] = system.cpu_profile
    sus = {n: s["sustained"]["rate"] for n, s in report["systems"].items()}
    if sus.get("ours") and sus.get("peer"):
        report["oursOverPeerSustained"] = round(sus["ours"] / sus["peer"], 2)
    report["finishedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report["machine"] = rep.machine_info()
    path = Path(a.results_dir) / f"steps-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    await asyncio.to_thread(_write, path, report)
    report["path"] = str(path)
    return report


def _rounded(mix: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in mix.items()}


def _write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rep.write_json(path, report)


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return ""
    version = subprocess.run(  # noqa: S603 - fixed arguments
        [node, "--version"], capture_output=True, text=True, check=False
    )
    return version.stdout.strip()


# --- the tables -----------------------------------------------------------------------------------


def _cell(step: dict[str, Any] | None) -> tuple[str, str]:
    if step is None:
        return "—", "—"
    refused = ", ".join(f"{n} x {c}" for c, n in step["refusedByStatus"].items())
    p99 = step["latencyMs"].get("p99")
    answer = f"{step['acceptedPerSecond']:g}{f' ({refused})' if refused else ''}, {p99:g} ms"
    cpu = step["cpu"]
    ms = cpu["machineMsPerAccepted"]
    return answer, f"{cpu['machineBusyPercent']:g} %, {'—' if ms is None else f'{ms:g}'}"


def table(report: dict[str, Any]) -> str:
    """Issue 25's table (accepted/s, p99; busy, ms per notification, side by side), then the
    CPU split per system in ms of CPU per accepted notification."""
    systems = report["systems"]
    names = list(systems)
    rates = sorted({s["offeredPerSecond"] for n in names for s in systems[n]["steps"]})
    head = ["offered/s"]
    for n in names:
        head += [f"{n}: accepted/s, p99", f"{n}: machine busy, ms per notification"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for rate in rates:
        row = [f"{rate:g}"]
        for n in names:
            step = next((s for s in systems[n]["steps"] if s["offeredPerSecond"] == rate), None)
            row += list(_cell(step))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for n in names:
        sus = systems[n]["sustained"]
        lost = sum(s["lost"] for s in systems[n]["steps"])
        rate = "none" if sus["rate"] is None else f"{sus['rate']:g}/s"
        idle = systems[n].get("idle")
        idle_text = f"; idle, the machine {idle['machineBusyPercent']:g} % busy" if idle else ""
        lines.append(f"- {n}: sustained {rate} (p99 {sus['p99Ms']} ms); lost {lost}{idle_text}")
    if "oursOverPeerSustained" in report:
        lines.append(f"- ours / peer, sustained: {report['oursOverPeerSustained']:g}x")
    lines.append("")
    head = ["system", "offered/s", *(SPLIT_NAMES[g] for g in SPLIT), "drain s", "lost"]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for n in names:
        for s in systems[n]["steps"]:
            ms = s["cpu"]["msPerAcceptedByGroup"]
            cells = ["—" if ms[g] is None else f"{ms[g]:.2f}" for g in SPLIT]
            row = [n, f"{s['offeredPerSecond']:g}", *cells, f"{s['drain']['seconds']:g}"]
            lines.append("| " + " | ".join([*row, str(s["lost"])]) + " |")
    lines.append("(ms of CPU per accepted notification, by process group, over the load window)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:

        async def guarded() -> dict[str, Any]:
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
            return await run(a)

        try:
            report = runner.run(guarded())
        except (KeyboardInterrupt, asyncio.CancelledError):
            _p("interrupted")
            return 130
    print()
    print(table(report))
    print()
    _p(f"wrote {report['path']}")
    lost = sum(s["lost"] for sys_ in report["systems"].values() for s in sys_["steps"])
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
