"""Once-a-second samples while the load runs: delivered counts (the workers' Prometheus
counters, or the tenant's stats document), queue depths (management API) and CPU use per
component (read from /proc, so no agent is needed)."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from loadtest.system import LANE_QUEUES, Management

BACKLOG_STATUSES = ("PENDING", "QUEUED", "PROCESSING", "RETRYING")
_TICK = os.sysconf("SC_CLK_TCK")


# --- CPU ------------------------------------------------------------------------------------------


def _proc_ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _system_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return total - idle, total


def find_pids(match: Callable[[str, list[str]], bool]) -> list[int]:
    """Pids whose (comm, argv) satisfy ``match`` (read-only scan of /proc)."""
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if match(comm, [a.decode(errors="replace") for a in argv if a]):
            pids.append(int(entry.name))
    return pids


# the broker's and the database's listening ports; bench.py sets them from the URLs
INFRA_PORTS = {"rabbitmq": 5672, "ferretdb": 27017}
_listener_cache: dict[int, list[int]] = {}


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(f"socket:[{f[9]}]")
    return inodes


def listener_pids(port: int) -> list[int]:
    """Pids of the processes listening on ``port`` (cached while they live)."""
    cached = _listener_cache.get(port)
    if cached and all(Path(f"/proc/{p}").exists() for p in cached):
        return cached
    targets = _listening_inodes(port)
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not targets:
            continue
        try:
            if any(os.readlink(fd) in targets for fd in (entry / "fd").iterdir()):
                pids.append(int(entry.name))
        except OSError:
            continue
    _listener_cache[port] = pids
    return pids


def infrastructure_pids() -> dict[str, list[int]]:
    """The RabbitMQ and FerretDB processes that serve the benchmark (by listening port, so a
    second FerretDB of another session is not counted as ours), PostgreSQL's processes (the
    development database's storage: FerretDB v2 runs every command in a backend) and the
    vegeta load generator, when they run."""
    pids = {name: listener_pids(port) for name, port in INFRA_PORTS.items()}
    pids["postgres"] = find_pids(lambda comm, argv: comm == "postgres")
    pids["vegeta"] = find_pids(lambda comm, argv: comm == "vegeta")
    return pids


def process_group(argv: list[str]) -> str | None:
    """The CPU group of one of our processes by its command line: ``api``, ``worker-<channel>``
    (``worker-email-sms-push`` for one serving several), or None for another process."""
    line = " ".join(argv)
    if "wavecom.api" in line:
        return "api"
    if "wavecom.worker" in line:
        if "--channel" in argv:  # one channel or several (--channel email sms push)
            rest = argv[argv.index("--channel") + 1 :]
            channels = list(itertools.takewhile(lambda a: not a.startswith("-"), rest))
            if channels:
                return "worker-" + "-".join(channels)
        return "worker"
    return None


def wavecom_pids() -> dict[str, list[int]]:
    """API and worker processes of an already running system (for a run against --url)."""
    me = os.getpid()
    groups: dict[str, list[int]] = {}
    for pid in find_pids(lambda comm, argv: process_group(argv) is not None):
        if pid == me:
            continue
        try:
            argv = [
                a.decode(errors="replace")
                for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if a
            ]
        except OSError:
            continue
        group = process_group(argv)
        if group:
            groups.setdefault(group, []).append(pid)
    return groups


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    ticks: dict[str, dict[int, int]]  # group -> pid -> utime + stime
    busy: int
    total: int
    wall: float


class CpuMeter:
    """CPU use per group of processes, in percent of one core (200% = both cores of 2).

    RabbitMQ and FerretDB are looked up again at every snapshot (another session may restart
    the stack); a process counts only over intervals in which it existed at both ends.
    """

    def __init__(self, groups: dict[str, list[int]]) -> None:
        infra = ("rabbitmq", "ferretdb", "postgres", "vegeta")
        self.groups = {g: p for g, p in groups.items() if g not in infra}
        self.groups["bench"] = [os.getpid()]
        self.names = [*self.groups, *infra]
        self.ncpu = os.cpu_count() or 1
        self._last = self.snapshot()

    def snapshot(self) -> CpuSnapshot:
        groups = {**self.groups, **infrastructure_pids()}
        ticks: dict[str, dict[int, int]] = {}
        for g, pids in groups.items():
            ticks[g] = {}
            for pid in pids:
                t = _proc_ticks(pid)
                if t is not None:
                    ticks[g][pid] = t
        busy, total = _system_ticks()
        return CpuSnapshot(ticks, busy, total, time.monotonic())

    def percent(self, a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
        """Percent of one core per group between two snapshots, plus 'other' and 'total'."""
        wall_s = b.wall - a.wall
        if wall_s <= 0:
            return {}
        out: dict[str, float] = {}
        for g in self.names:
            before, after = a.ticks.get(g, {}), b.ticks.get(g, {})
            used = sum(after[p] - before[p] for p in after if p in before)
            out[g] = round(100 * used / _TICK / wall_s, 1)
        total_ticks = b.total - a.total
        busy = (b.busy - a.busy) / total_ticks * self.ncpu * 100 if total_ticks else 0.0
        out["total"] = round(busy, 1)
        out["other"] = round(max(0.0, busy - sum(out[g] for g in self.names)), 1)
        return out

    def tick(self) -> dict[str, float]:
        now = self.snapshot()
        pct = self.percent(self._last, now)
        self._last = now
        return pct


# --- samples --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    """One second of the run. ``sent``/``failed`` are cumulative since the load started."""

    t: float  # seconds since the start of the load phase
    accepted_client: int  # accepted by the responses our generator got so far
    in_flight: int  # HTTP requests in flight
    in_flight_items: int  # notifications in those requests
    source: str  # where sent/failed come from: "workers" (their metrics) or "stats"
    sent: int | None = None
    failed: int | None = None
    # submitted (accepted + in requests in flight) - sent - failed: handed to the system and
    # not yet delivered or failed
    backlog: int | None = None
    stats_total: int | None = None  # the tenant's stats document, for comparison
    stats_sent: int | None = None
    stats_backlog: int | None = None
    queued: int | None = None  # management API: messages in the lane queues (ready + unacked)
    ready: int | None = None
    unacked: int | None = None
    delayed: int | None = None  # messages waiting in the retry delay queues
    dlq: int | None = None
    cpu: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 2),
            "acceptedClient": self.accepted_client,
            "inFlight": self.in_flight,
            "inFlightItems": self.in_flight_items,
            "source": self.source,
            "sent": self.sent,
            "failed": self.failed,
            "backlog": self.backlog,
            "statsTotal": self.stats_total,
            "statsSent": self.stats_sent,
            "statsBacklog": self.stats_backlog,
            "queued": self.queued,
            "ready": self.ready,
            "unacked": self.unacked,
            "delayed": self.delayed,
            "dlq": self.dlq,
            "cpu": self.cpu,
        }


def parse_counters(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """Sum every sample of the named Prometheus counters (``name{labels} value`` lines)."""
    out = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        for name in names:
            if line.startswith(name) and line[len(name)] in "{ ":
                out[name] += float(line.rsplit(" ", 1)[1])
    return out


class Monitor:
    """Samples once a second (on a fixed clock) until cancelled; prints a line every 5 s.

    Delivered and failed counts come from the workers' Prometheus counters when their metrics
    ports are known (exact), otherwise from the tenant's stats document.
    """

    def __init__(
        self,
        *,
        stats: AsyncCollection[dict[str, Any]],
        tenant: str,
        mgmt: Management,
        vhost: str,
        worker_metrics: list[str],
        cpu: CpuMeter,
        accepted: Callable[[], int],
        in_flight: Callable[[], int],
        in_flight_items: Callable[[], int],
    ) -> None:
        self.stats = stats
        self.tenant = tenant
        self.mgmt = mgmt
        self.vhost = vhost
        self.worker_metrics = worker_metrics
        self.cpu = cpu
        self.accepted = accepted
        self.in_flight = in_flight
        self.in_flight_items = in_flight_items
        self.baseline: dict[str, int] = {}
        self.metrics_baseline = (0, 0)
        self.samples: list[Sample] = []
        self.phase = "load"
        self.t0 = 0.0
        self._http = httpx.AsyncClient(timeout=2)

    async def close(self) -> None:
        await self._http.aclose()

    async def read_stats(self) -> dict[str, int] | None:
        """The tenant's counters: one document ``{_id: tenant}`` or, in the per-process layout,
        the sum of every document with ``tenantId: tenant``."""
        try:
            docs = await self.stats.find({"tenantId": self.tenant}).to_list()
            if not docs:
                one = await self.stats.find_one({"_id": self.tenant})
                docs = [one] if one else []
        except PyMongoError:
            return None
        out = dict.fromkeys(("total", "SENT", "FAILED", "CANCELLED", *BACKLOG_STATUSES), 0)
        for doc in docs:
            out["total"] += int(doc.get("total", 0))
            by_status = doc.get("byStatus") or {}
            for s in ("SENT", "FAILED", "CANCELLED", *BACKLOG_STATUSES):
                out[s] += int(by_status.get(s, 0))
        return out

    async def read_workers(self) -> tuple[int, int] | None:
        """(sent, failed) summed over every worker, or None if one does not answer."""
        if not self.worker_metrics:
            return None
        names = ("notifications_sent_total", "notifications_failed_total")
        try:
            pages = await asyncio.gather(*(self._http.get(u) for u in self.worker_metrics))
        except httpx.HTTPError:
            return None
        sent = failed = 0
        for page in pages:
            c = parse_counters(page.text, names)
            sent += int(c[names[0]])
            failed += int(c[names[1]])
        return sent, failed

    async def read_queues(self) -> dict[str, int] | None:
        """Lane queue, delay queue and DLQ depths from the management API (refreshed by the
        broker every few seconds)."""
        try:
            r = await self._http.get(
                f"{self.mgmt.url}/api/queues/{quote(self.vhost, safe='')}",
                params={"columns": "name,messages,messages_ready,messages_unacknowledged"},
                auth=(self.mgmt.user, self.mgmt.password),
            )
            r.raise_for_status()
        except httpx.HTTPError:
            return None
        out = {"queued": 0, "ready": 0, "unacked": 0, "delayed": 0, "dlq": 0}
        for q in r.json():
            name, messages = q.get("name", ""), int(q.get("messages") or 0)
            if name in LANE_QUEUES:
                out["queued"] += messages
                out["ready"] += int(q.get("messages_ready") or 0)
                out["unacked"] += int(q.get("messages_unacknowledged") or 0)
            elif name.startswith("wavecom.delay."):
                out["delayed"] += messages
            elif name == "wavecom.dlq":
                out["dlq"] += messages
        return out

    async def start(self) -> None:
        """Read the baselines (counts before the load) of every source."""
        self.baseline = await self.read_stats() or {}
        self.metrics_baseline = await self.read_workers() or (0, 0)

    async def sample(self) -> Sample:
        stats, workers, queues = await asyncio.gather(
            self.read_stats(), self.read_workers(), self.read_queues()
        )
        accepted = self.accepted()
        s = Sample(
            time.monotonic() - self.t0,
            accepted,
            self.in_flight(),
            self.in_flight_items(),
            "workers" if self.worker_metrics else "stats",
        )
        b = self.baseline
        if stats is not None:
            s.stats_total = stats["total"] - b.get("total", 0)
            s.stats_sent = stats["SENT"] - b.get("SENT", 0)
            s.stats_backlog = sum(stats[k] for k in BACKLOG_STATUSES)
        if workers is not None:
            s.sent = workers[0] - self.metrics_baseline[0]
            s.failed = workers[1] - self.metrics_baseline[1]
        elif stats is not None and not self.worker_metrics:
            s.sent = s.stats_sent
            s.failed = stats["FAILED"] - b.get("FAILED", 0)
        if s.sent is not None and s.failed is not None:
            s.backlog = accepted + s.in_flight_items - s.sent - s.failed
        if queues is not None:
            s.queued, s.ready, s.unacked = queues["queued"], queues["ready"], queues["unacked"]
            s.delayed, s.dlq = queues["delayed"], queues["dlq"]
        s.cpu = self.cpu.tick()
        return s

    async def run(self, t0: float) -> None:
        self.t0 = t0
        k = 0
        while True:
            k += 1
            delay = t0 + k - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            s = await self.sample()
            self.samples.append(s)
            if k % 5 == 0:
                self.progress(s)

    def rate_over(self, seconds: int, attr: str) -> float | None:
        """Per-second rate of a cumulative sample field over the last ``seconds`` samples."""
        if len(self.samples) < 2:
            return None
        a = self.samples[max(0, len(self.samples) - 1 - seconds)]
        b = self.samples[-1]
        va, vb = getattr(a, attr), getattr(b, attr)
        if va is None or vb is None or b.t <= a.t:
            return None
        return float((vb - va) / (b.t - a.t))

    def progress(self, s: Sample) -> None:
        acc = self.rate_over(5, "accepted_client")
        dlv = self.rate_over(5, "sent")
        cpu = s.cpu
        top = sorted(((v, g) for g, v in cpu.items() if g != "total"), reverse=True)[:5]
        cpu_text = " ".join(f"{g} {v:.0f}%" for v, g in top)
        print(
            f"[{self.phase:5}] t={s.t:6.1f}s  accepted {_num(acc):>5}/s  delivered "
            f"{_num(dlv):>5}/s  backlog {_num(s.backlog):>6} (queued {_num(s.queued)}, "
            f"ready {_num(s.ready)})  http in flight {s.in_flight}  cpu {cpu.get('total', 0):.0f}%"
            f": {cpu_text}",
            flush=True,
        )


def _num(v: float | None) -> str:
    return "?" if v is None else f"{v:.0f}"
