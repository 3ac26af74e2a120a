"""Locust load test of WaveCom Notify, gated on what the system delivered (see loadtest/README.md).

``locust -f loadtest/locustfile.py --headless -u 5 -r 5 -t 10s --host http://127.0.0.1:8000``
runs as locust's documentation says: ``-u``/``-r``/``-t`` set the users, the spawn rate and the
time, no gate is applied and the exit code is locust's own. A load profile and the
delivered-rate gate are chosen explicitly with ``WAVECOM_SHAPE`` (as ``make loadtest`` and
k8s/loadtest do): ``steady`` (``WAVECOM_RATE`` notifications/s for ``WAVECOM_DURATION`` s),
``spike`` (the rate, then ``WAVECOM_SPIKE_FACTOR`` x for ``WAVECOM_SPIKE_SECONDS``, then
back) or ``knee`` (steps of ``WAVECOM_STEP_FRACTION`` x the rate until the delivered rate
stops following); ``none``, the default, is locust's own. Every setting is an environment
variable (``Config`` below lists them with their defaults).

Each user runs the weighted tasks (batches, single creates, creates with an Idempotency-Key,
status reads, list reads) in a shuffled fixed cycle, paced by ``constant_throughput`` so that
``WAVECOM_USERS`` users offer ``WAVECOM_RATE`` notifications/s; the shapes change the number of
users. A sampler reads ``GET /api/notifications/stats/system`` (and the workers' ``/metrics``
when ``WAVECOM_WORKER_METRICS`` names them) once a second; after the load it waits up to
``WAVECOM_DRAIN_S`` for every accepted notification to be final, and on ``quitting`` sets the
exit code to 1 with the reasons when the gate fails. Where the ``loadtest`` package and the
database are reachable (on this machine, not in the cluster's ConfigMap), it also writes the
same JSON + PNG report as ``make bench`` (``loadtest/report.py``).

This file stands alone (locust and the standard library only): the cluster runs it from a
ConfigMap (k8s/loadtest/).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, LoadTestShape, TaskSet, constant_throughput, events, tag, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "loadtest" / "report.py").exists() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the report code, when this file is in its checkout

LANES = ("email", "sms", "push")
FINAL = ("SENT", "FAILED", "CANCELLED")
WAITING = ("PENDING", "QUEUED", "PROCESSING", "RETRYING")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _api_key() -> str:
    key = os.environ.get("WAVECOM_API_KEY", "").strip()
    path = ROOT / ".state" / "api-key"
    if not key and path.exists():  # what `make up` leaves
        key = path.read_text().strip()
    return key


@dataclass(frozen=True)
class Config:
    """Every setting, from the environment (name: default)."""

    api_key: str = field(default_factory=_api_key)  # WAVECOM_API_KEY, else .state/api-key
    # none: locust's -u/-r/-t and no gate; a shape brings the drain and the gate with it
    shape: str = field(default_factory=lambda: _env("WAVECOM_SHAPE", "none"))
    rate: float = field(default_factory=lambda: float(_env("WAVECOM_RATE", "833")))
    duration: float = field(default_factory=lambda: float(_env("WAVECOM_DURATION", "150")))
    users: int = field(default_factory=lambda: int(_env("WAVECOM_USERS", "100")))
    batch_size: int = field(default_factory=lambda: int(_env("WAVECOM_BATCH_SIZE", "100")))
    # task weights: batch, single, idempotent single, status read, list read
    weights: str = field(default_factory=lambda: _env("WAVECOM_WEIGHTS", "4,4,4,6,2"))
    spike_at: float = field(default_factory=lambda: float(_env("WAVECOM_SPIKE_AT", "30")))
    spike_factor: float = field(default_factory=lambda: float(_env("WAVECOM_SPIKE_FACTOR", "3")))
    spike_seconds: float = field(default_factory=lambda: float(_env("WAVECOM_SPIKE_SECONDS", "60")))
    step_fraction: float = field(
        default_factory=lambda: float(_env("WAVECOM_STEP_FRACTION", "0.25"))
    )
    step_seconds: float = field(default_factory=lambda: float(_env("WAVECOM_STEP_SECONDS", "30")))
    steps: int = field(default_factory=lambda: int(_env("WAVECOM_STEPS", "8")))
    warmup: float = field(default_factory=lambda: float(_env("WAVECOM_WARMUP_S", "10")))
    drain: float = field(default_factory=lambda: float(_env("WAVECOM_DRAIN_S", "60")))
    # the gate's limits
    min_delivered_ratio: float = field(
        default_factory=lambda: float(_env("WAVECOM_MIN_DELIVERED_RATIO", "0.95"))
    )
    max_failure_ratio: float = field(
        default_factory=lambda: float(_env("WAVECOM_MAX_FAILURE_RATIO", "0.01"))
    )
    max_accept_p95_ms: float = field(
        default_factory=lambda: float(_env("WAVECOM_MAX_ACCEPT_P95_MS", "2000"))
    )
    worker_metrics: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            u.strip() for u in os.environ.get("WAVECOM_WORKER_METRICS", "").split(",") if u.strip()
        )
    )
    # the report (on this machine): the database to read every notification from
    report: bool = field(default_factory=lambda: _env("WAVECOM_REPORT", "1") != "0")
    mongodb_url: str = field(
        default_factory=lambda: _env("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    )
    database: str = field(default_factory=lambda: _env("MONGODB_DATABASE", "wavecom"))
    results_dir: str = field(default_factory=lambda: _env("WAVECOM_RESULTS_DIR", ""))
    broker_seconds: float = field(
        default_factory=lambda: float(_env("WAVECOM_BROKER_SECONDS", "0"))
    )
    amqp_url: str = field(
        default_factory=lambda: _env("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    run_label: str = field(default_factory=lambda: _env("WAVECOM_RUN_LABEL", ""))

    @property
    def task_weights(self) -> tuple[int, int, int, int, int]:
        w = [int(x) for x in self.weights.split(",")]
        if len(w) != 5 or min(w) < 0 or sum(w[:3]) == 0:
            raise ValueError(f"WAVECOM_WEIGHTS wants 5 weights >= 0, creates > 0: {self.weights}")
        return w[0], w[1], w[2], w[3], w[4]

    @property
    def notifications_per_task(self) -> float:
        """Mean notifications one task creates."""
        b, s, i, st, li = self.task_weights
        return (b * self.batch_size + s + i) / (b + s + i + st + li)

    @property
    def user_tps(self) -> float:
        """Tasks per second per user, so that ``users`` users offer ``rate``."""
        return self.rate / (self.users * self.notifications_per_task)

    @property
    def user_rate(self) -> float:
        return self.rate / self.users


CONFIG = Config()


# --- request bodies -------------------------------------------------------------------------------


def _notification(rng: random.Random, seq: int) -> dict[str, Any]:
    """One valid notification (about 300 bytes), the channel and priority mix of `make bench`."""
    channel = rng.choices(("EMAIL", "SMS", "PUSH"), (0.5, 0.3, 0.2))[0]
    priority = rng.choices(("LOW", "MEDIUM", "HIGH", "CRITICAL"), (0.2, 0.5, 0.2, 0.1))[0]
    item: dict[str, Any] = {
        "type": channel,
        "priority": priority,
        "message": f"Your order #{100000 + seq} has shipped and will arrive within 2 business "
        "days. Track it in the app.",
        "metadata": {"source": "locust", "seq": seq},
    }
    if channel == "EMAIL":
        item["recipient"] = f"user{seq}@example.com"
        item["subject"] = f"Order #{100000 + seq} shipped"
    elif channel == "SMS":
        item["recipient"] = f"+2348{seq % 10**9:09d}"
    else:
        item["recipient"] = f"devtoken_{seq:024x}"
    return item


def _bodies(seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    seq = itertools.count(seed * 1_000_000)
    batches = [
        json.dumps(
            {"notifications": [_notification(rng, next(seq)) for _ in range(CONFIG.batch_size)]}
        )
        for _ in range(8)
    ]
    singles = [json.dumps(_notification(rng, next(seq))) for _ in range(64)]
    return batches, singles


# --- what this process saw ------------------------------------------------------------------------


@dataclass
class Record:
    """The create requests and accepted ids this process saw (wall-clock times), the requests in
    flight; a locust worker sends what is new to the master with each stats report."""

    requests: list[tuple[str, float, float, int, int, int, str]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    in_flight: int = 0
    in_flight_items: int = 0
    sent_upto: tuple[int, int] = (0, 0)  # what a worker has reported already
    workers_in_flight: dict[str, tuple[int, int]] = field(default_factory=dict)

    def reset(self) -> None:
        self.requests.clear()
        self.ids.clear()
        self.sent_upto = (0, 0)
        self.workers_in_flight.clear()


RECORD = Record()


def _create(
    user: NotifyUser, kind: str, path: str, body: str, items: int, headers: dict[str, str]
) -> None:
    """One create request; its accepted ids and timings go to RECORD."""
    RECORD.in_flight += 1
    RECORD.in_flight_items += items
    started = time.time()
    status, accepted, rejected, error = 0, 0, 0, ""
    try:
        with user.client.post(
            path, data=body, headers=headers, name=path, catch_response=True
        ) as response:
            status = response.status_code or 0
            if status == 201:
                data = json.loads(response.content or b"{}")["data"]
                if kind == "batch":
                    for r in data["results"]:
                        if r["success"]:
                            RECORD.ids.append(r["data"]["_id"])
                            accepted += 1
                        else:
                            rejected += 1
                else:
                    RECORD.ids.append(data["_id"])
                    accepted = 1
                if accepted:
                    user.recent.append(RECORD.ids[-1])
                    del user.recent[:-50]
                response.success()
            else:
                error = f"HTTP {status}" if status else (str(response.error) or "no answer")[:80]
                response.failure(error)
    finally:
        RECORD.in_flight -= 1
        RECORD.in_flight_items -= items
    RECORD.requests.append((kind, started, time.time(), status, accepted, rejected, error))


_USER_INDEX = itertools.count()


class Mix(TaskSet):
    """The weighted tasks in one shuffled fixed cycle, each user starting at its own place in it,
    so that at any moment the users together run (nearly) the exact mix and even a short run
    offers its planned rate; ``--tags write`` / ``--tags read`` select a part."""

    user: NotifyUser

    def on_start(self) -> None:
        n = len(self.tasks)
        order = [self.tasks[i] for i in random.Random(7).sample(range(n), n)]
        # k x the golden ratio, mod 1: the first m users are spread evenly for every m (the
        # knee's first step has a quarter of them, a spike three times as many)
        start = int(n * (next(_USER_INDEX) * 0.6180339887498949 % 1.0))
        self._cycle = itertools.islice(itertools.cycle(order), start, None)

    def get_next_task(self) -> TaskSet | Callable[..., Any]:
        return next(self._cycle)

    @tag("write")
    @task(CONFIG.task_weights[0])
    def batch(self) -> None:
        u = self.user
        body = u.batches[next(u.seq) % len(u.batches)]
        _create(u, "batch", "/api/notifications/batch", body, CONFIG.batch_size, {})

    @tag("write")
    @task(CONFIG.task_weights[1])
    def single(self) -> None:
        u = self.user
        _create(u, "single", "/api/notifications", u.singles[next(u.seq) % len(u.singles)], 1, {})

    @tag("write")
    @task(CONFIG.task_weights[2])
    def single_idempotent(self) -> None:
        u = self.user
        body = u.singles[next(u.seq) % len(u.singles)]
        key = {"Idempotency-Key": uuid.uuid4().hex}
        _create(u, "single", "/api/notifications", body, 1, key)

    @tag("read")
    @task(CONFIG.task_weights[3])
    def status(self) -> None:
        u = self.user
        if u.recent:
            u.client.get(
                f"/api/notifications/{random.choice(u.recent)}", name="/api/notifications/[id]"
            )
        else:  # nothing of ours accepted yet: the newest one instead
            u.client.get("/api/notifications?page=1&limit=1", name="/api/notifications?list")

    @tag("read")
    @task(CONFIG.task_weights[4])
    def page(self) -> None:
        status = random.choice(("", "&status=SENT", "&status=QUEUED"))
        self.user.client.get(
            f"/api/notifications?page=1&limit=20{status}", name="/api/notifications?list"
        )


class NotifyUser(FastHttpUser):
    """A tenant's client: ``WAVECOM_USERS`` of them offer ``WAVECOM_RATE`` notifications/s."""

    tasks = [Mix]
    wait_time = constant_throughput(CONFIG.user_tps)
    network_timeout = 30.0
    connection_timeout = 10.0
    default_headers = {
        "Authorization": f"Bearer {CONFIG.api_key}",
        "Content-Type": "application/json",
    }

    def on_start(self) -> None:
        self.seq = itertools.count(random.randrange(1000))
        self.batches, self.singles = BODIES
        self.recent: list[str] = []
        # independent clients are not in step: each begins at its own point of one period
        # (users started together send together, every 1 / user_tps s: at 833/s, 2.4 s of
        # notifications in one burst, and `steady` would test bursts)
        gevent.sleep(random.uniform(0.0, 1.0 / CONFIG.user_tps))


BODIES = _bodies(int(_env("WAVECOM_SEED", "7")))


# --- load shapes ----------------------------------------------------------------------------------


def planned_users(t: float) -> int | None:
    """Users the shape wants at ``t`` s into the run (None: the run is over)."""
    c, u = CONFIG, CONFIG.users
    if c.shape == "steady":
        return u if t < c.duration else None
    if c.shape == "spike":
        end = c.spike_at + c.spike_seconds
        if t < c.spike_at:
            return u
        if t < end:
            return max(1, round(u * c.spike_factor))
        return u if t < c.duration else None
    if c.shape == "knee":
        step = int(t // c.step_seconds) + 1
        return max(1, round(u * c.step_fraction * step)) if step <= c.steps else None
    raise ValueError(f"unknown WAVECOM_SHAPE {c.shape!r} (steady, spike, knee, none)")


def load_seconds() -> float:
    c = CONFIG
    if c.shape == "knee":
        return c.steps * c.step_seconds
    if c.shape == "spike":
        return max(c.duration, c.spike_at + c.spike_seconds)
    return c.duration


if CONFIG.shape != "none":

    class WaveComShape(LoadTestShape):
        """The profile ``WAVECOM_SHAPE`` names; users are spawned at once (spawn rate =
        users) and each begins within one period of its tasks (``NotifyUser.on_start``)."""

        def tick(self) -> tuple[int, float] | None:
            users = planned_users(time.perf_counter() - self.start_time)
            return None if users is None else (users, float(max(users, 1)))


# --- sampler, drain, gate -------------------------------------------------------------------------


def _get_json(url: str, headers: dict[str, str]) -> Any:
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - the API's own URL
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310
        return json.loads(r.read())


def _counter_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Run:
    """What the sampler sees: one sample a second, from the start of the load to the drain's
    end, all relative to the baseline read before the load."""

    host: str
    wall0: float = 0.0
    load_end: float | None = None  # seconds since wall0 when the load stopped
    samples: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, float] = field(default_factory=dict)
    ceiling: dict[str, Any] | None = None
    drain: dict[str, Any] = field(default_factory=dict)
    peak_users: int = 0
    greenlet: gevent.Greenlet | None = None
    stats_greenlet: gevent.Greenlet | None = None
    stats_now: dict[str, float] | None = None  # the API's latest answer
    errors: list[str] = field(default_factory=list)
    cpu: Callable[[], dict[str, float]] | None = None  # CPU per component, on this machine
    verdict: dict[str, Any] | None = None

    def reset(self) -> None:
        """A new run (the web UI starts several in one process)."""
        self.load_end, self.samples, self.drain, self.peak_users = None, [], {}, 0
        self.errors, self.verdict = [], None

    def read_stats(self) -> dict[str, float] | None:
        """The tenant's counters and the queue depths, from the API."""
        try:
            stats = _get_json(
                f"{self.host.rstrip('/')}/api/notifications/stats/system",
                {"Authorization": f"Bearer {CONFIG.api_key}"},
            )["data"]
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            self.errors.append(f"stats: {exc}")
            return None
        by_status = stats["byStatus"]
        out = {"total": float(stats["total"])}
        for s in (*FINAL, *WAITING):
            out[s] = float(by_status.get(s, 0))
        depth = stats.get("queueDepth") or {}
        out["queued"] = float(sum(v for k, v in depth.items() if k not in ("retry", "wavecom.dlq")))
        out["delayed"] = float(depth.get("retry", 0))
        out["dlq"] = float(depth.get("wavecom.dlq", 0))
        return out

    def read_workers(self) -> dict[str, float] | None:
        """The workers' delivered and failed counters (exact), when their URLs are known."""
        sent = failed = 0.0
        try:
            for url in CONFIG.worker_metrics:
                with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310
                    text = r.read().decode()
                sent += _counter_sum(text, "notifications_sent_total")
                failed += _counter_sum(text, "notifications_failed_total")
        except (urllib.error.URLError, OSError) as exc:
            self.errors.append(f"worker metrics: {exc}")
            return None
        return {"workerSent": sent, "workerFailed": failed}

    def read(self) -> dict[str, float] | None:
        """Both sources at once (the baseline)."""
        stats = self.read_stats()
        workers = self.read_workers() if CONFIG.worker_metrics else {}
        return None if stats is None or workers is None else {**stats, **workers}

    def stats_loop(self) -> None:
        """The API's stats as often as it answers (at most once a second): under load it can
        take seconds, and the once-a-second samples must not wait for it."""
        while True:
            started = time.time()
            stats = self.read_stats()
            if stats is not None:
                self.stats_now = stats
            gevent.sleep(max(0.0, started + 1 - time.time()))

    def sample(self, runner_users: int) -> None:
        workers = self.read_workers() if CONFIG.worker_metrics else {}
        if self.stats_now is None or workers is None:
            return
        now = {**self.stats_now, **workers}
        b = self.baseline
        exact = "workerSent" in now
        sent = now["workerSent"] - b["workerSent"] if exact else now["SENT"] - b["SENT"]
        failed = now["workerFailed"] - b["workerFailed"] if exact else now["FAILED"] - b["FAILED"]
        accepted = len(RECORD.ids)
        in_flight, items = RECORD.in_flight, RECORD.in_flight_items
        for f, i in RECORD.workers_in_flight.values():
            in_flight, items = in_flight + f, items + i
        self.samples.append(
            {
                "t": round(time.time() - self.wall0, 2),
                "acceptedClient": accepted,
                "inFlight": in_flight,
                "inFlightItems": items,
                "source": "workers" if exact else "stats",
                "sent": int(sent),
                "failed": int(failed),
                "backlog": int(accepted + items - sent - failed),
                "statsTotal": int(now["total"] - b["total"]),
                "statsSent": int(now["SENT"] - b["SENT"]),
                "statsFinal": int(sum(now[s] - b[s] for s in FINAL)),
                "statsBacklog": int(sum(now[s] for s in WAITING)),
                "queued": int(now["queued"]),
                "delayed": int(now["delayed"]),
                "dlq": int(now["dlq"]),
                "users": runner_users,
                "cpu": self.cpu() if self.cpu else {},
            }
        )

    def loop(self, env: Environment) -> None:
        k = 0
        while True:
            k += 1
            gevent.sleep(max(0.0, self.wall0 + k - time.time()))
            users = env.runner.user_count if env.runner else 0
            self.peak_users = max(self.peak_users, users)
            self.sample(users)
            if k % 5 == 0 and self.samples:
                self.progress()

    def rate(self, key: str, seconds: int = 5) -> float:
        if len(self.samples) < 2:
            return 0.0
        a, b = self.samples[max(0, len(self.samples) - 1 - seconds)], self.samples[-1]
        return float(b[key] - a[key]) / max(float(b["t"] - a["t"]), 1e-9)

    def progress(self) -> None:
        s = self.samples[-1]
        phase = "drain" if self.load_end is not None else "load"
        print(
            f"[{phase:5}] t={s['t']:6.1f}s users {s['users']:4}  accepted "
            f"{self.rate('acceptedClient'):6.0f}/s  delivered {self.rate('sent'):6.0f}/s  "
            f"backlog {s['backlog']:6} (queued {s['queued']})  in flight {s['inFlight']}",
            flush=True,
        )


RUN: Run | None = None


def _broker_ceiling() -> dict[str, Any] | None:
    """The broker's ceiling on this machine (`make bench`'s measurement, in a child process)."""
    if CONFIG.broker_seconds <= 0 or not (ROOT / "loadtest" / "broker_ceiling.py").exists():
        return None
    print(f"[locust] broker ceiling: {CONFIG.broker_seconds:g} s ...", flush=True)
    out = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "loadtest.broker_ceiling",
            "both",
            "--amqp-url",
            CONFIG.amqp_url,
            "--seconds",
            str(CONFIG.broker_seconds),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CONFIG.broker_seconds + 120,
        check=False,
    )
    if out.returncode != 0:
        print(f"[locust] broker ceiling failed: {out.stderr[-500:]}", flush=True)
        return None
    ceiling: dict[str, Any] = json.loads(out.stdout[out.stdout.index("{") :])
    print(f"[locust] broker ceiling: {ceiling['ceiling']:.0f} msgs/s", flush=True)
    return ceiling


def _is_worker(env: Environment) -> bool:
    return isinstance(env.runner, WorkerRunner)


def _on_init(environment: Environment, **_: Any) -> None:
    global RUN
    if not environment.stop_timeout:
        environment.stop_timeout = 30.0  # let a user finish its request: its ids are counted
    if _is_worker(environment):
        return
    if not CONFIG.api_key:
        raise SystemExit("[locust] no API key: set WAVECOM_API_KEY (or run `make up` first)")
    RUN = Run(host=environment.host or "http://127.0.0.1:8000")
    RUN.ceiling = _broker_ceiling()
    try:
        from loadtest import locust_report  # noqa: PLC0415 - only in a checkout

        RUN.cpu = locust_report.cpu_ticker()
    except ImportError:
        pass


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    r, i = RECORD.sent_upto
    data["wavecom"] = {
        "requests": RECORD.requests[r:],
        "ids": RECORD.ids[i:],
        "inFlight": [RECORD.in_flight, RECORD.in_flight_items],
    }
    RECORD.sent_upto = (len(RECORD.requests), len(RECORD.ids))


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    part = data.get("wavecom")
    if part:
        RECORD.requests.extend(tuple(r) for r in part["requests"])
        RECORD.ids.extend(part["ids"])
        RECORD.workers_in_flight[client_id] = (part["inFlight"][0], part["inFlight"][1])


def _on_test_start(environment: Environment, **_: Any) -> None:
    RECORD.reset()
    if RUN is None or _is_worker(environment):
        return
    RUN.reset()
    base = RUN.read()
    if base is None:
        raise SystemExit(f"[locust] cannot read the API's stats at {RUN.host}: {RUN.errors[-1:]}")
    RUN.baseline = base
    RUN.wall0 = time.time()
    users = CONFIG.users
    if CONFIG.shape == "none" and environment.parsed_options is not None:
        users = environment.parsed_options.num_users
    print(
        f"[locust] {CONFIG.shape}: {CONFIG.rate:g} notifications/s by {CONFIG.users} users "
        f"({CONFIG.user_tps:.3f} tasks/s each, {CONFIG.notifications_per_task:.1f} "
        f"notifications a task), {users} users now; "
        + (f"gate after a drain of up to {CONFIG.drain:g} s" if gated() else "no gate"),
        flush=True,
    )
    RUN.stats_now = {k: v for k, v in base.items() if not k.startswith("worker")}
    RUN.stats_greenlet = gevent.spawn(RUN.stats_loop)
    RUN.greenlet = gevent.spawn(RUN.loop, environment)


def gated() -> bool:
    """A shape was chosen: the run drains and is judged (``none`` is locust's own run)."""
    return CONFIG.shape != "none"


def _on_test_stop(environment: Environment, **_: Any) -> None:
    """The load is over: wait (bounded) until every accepted notification is final."""
    if RUN is None or _is_worker(environment) or RUN.load_end is not None or not RUN.wall0:
        return
    if not gated():
        RUN.load_end = time.time() - RUN.wall0
        return
    RUN.load_end = time.time() - RUN.wall0
    if isinstance(environment.runner, MasterRunner):
        gevent.sleep(4)  # the workers' last stats reports (every 3 s) carry their last ids
    start = time.time()
    reason = "time limit"
    last, last_change = -1, start
    # final on samples 2 s apart: a create answered after the users stopped (a commit under
    # way at the load's end) is counted by the next sample, not the first (on 2026-12-07 a
    # drain ended after 0.5 s and the gate's last sample then had 406 not final)
    final_since: float | None = None
    while time.time() - start < CONFIG.drain:
        gevent.sleep(0.5)
        if not RUN.samples:
            continue
        s = RUN.samples[-1]
        done = s["sent"] + s["failed"]
        if done >= s["acceptedClient"] and s["statsFinal"] >= s["statsTotal"]:
            final_since = s["t"] if final_since is None else final_since
            if s["t"] - final_since >= 2.0:
                reason = "every accepted notification is final"
                break
            continue
        final_since = None
        if done != last:
            last, last_change = done, time.time()
        elif time.time() - last_change > 15 and not s["queued"] and not s["delayed"]:
            reason = "no progress for 15 s and the queues are empty"
            break
    RUN.drain = {"seconds": round(time.time() - start, 1), "reason": reason}
    gevent.sleep(max(0.0, RUN.wall0 + len(RUN.samples) + 1.2 - time.time()))
    for greenlet in (RUN.greenlet, RUN.stats_greenlet):
        if greenlet is not None:
            greenlet.kill()
    print(f"[locust] drain: {reason} after {RUN.drain['seconds']} s", flush=True)
    _finish(environment)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def _growing(samples: list[dict[str, Any]], rate: float) -> bool:
    """`make bench`'s rule: least-squares slope over the last two thirds of the load above 2 %
    of the rate per second, and the last third's mean above the middle third's by more than
    max(200, half a second of load)."""
    n = len(samples)
    if n < 6:
        return False
    tail = samples[n // 3 :]
    xs, ys = [s["t"] for s in tail], [float(s["backlog"]) for s in tail]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    trend = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    mid = [float(s["backlog"]) for s in samples[n // 3 : 2 * n // 3]]
    last = [float(s["backlog"]) for s in samples[2 * n // 3 :]]
    grew = sum(last) / len(last) - sum(mid) / len(mid) > max(200.0, 0.5 * rate)
    return trend > 0.02 * rate and grew


def _knee(run: Run) -> dict[str, Any]:
    """Per step: offered (planned), accepted and delivered/s over the step's second half; the
    knee is the last step whose delivered rate kept within the ratio of its offered rate."""
    steps = []
    for k in range(1, CONFIG.steps + 1):
        lo, hi = (k - 0.5) * CONFIG.step_seconds, k * CONFIG.step_seconds
        window = [s for s in run.samples if lo <= s["t"] <= hi]
        if len(window) < 2:
            break
        span = window[-1]["t"] - window[0]["t"]
        users = planned_users((k - 1) * CONFIG.step_seconds) or 0
        steps.append(
            {
                "step": k,
                "offered": round(users * CONFIG.user_rate, 1),
                "accepted": round(
                    (window[-1]["acceptedClient"] - window[0]["acceptedClient"]) / span, 1
                ),
                "delivered": round((window[-1]["sent"] - window[0]["sent"]) / span, 1),
            }
        )
    knee = None
    for s in steps:
        if s["delivered"] >= CONFIG.min_delivered_ratio * s["offered"]:
            knee = s
        else:
            break
    return {"steps": steps, "knee": knee}


def _rates(run: Run, steady: list[dict[str, Any]]) -> dict[str, Any]:
    """Delivered and accepted/s after the warm-up, and what the shape offered meanwhile."""
    if len(steady) < 2:
        return {"deliveredPerSecond": 0.0, "acceptedPerSecond": 0.0, "targetPerSecond": CONFIG.rate}
    a, b = steady[0], steady[-1]
    span = b["t"] - a["t"]
    if CONFIG.shape == "none":
        offered = run.peak_users * CONFIG.user_rate
    else:
        users = [planned_users(t) or 0 for t in range(int(a["t"]), int(b["t"]))]
        offered = (sum(users) / len(users) if users else 0) * CONFIG.user_rate
    return {
        "deliveredPerSecond": round((b["sent"] - a["sent"]) / span, 1),
        "acceptedPerSecond": round((b["acceptedClient"] - a["acceptedClient"]) / span, 1),
        "targetPerSecond": round(offered, 1),
    }


def gate(run: Run, failure_ratio: float) -> dict[str, Any]:
    """The verdict on what the system did; ``reasons`` is empty when it passed."""
    c = CONFIG
    load_end = run.load_end or 0.0
    load = [s for s in run.samples if s["t"] <= load_end + 0.5]
    # the rates' window: after the warm-up, until the shape's end (the users stop after it)
    end = load_end if c.shape == "none" else min(load_end, load_seconds())
    steady = [s for s in load if c.warmup <= s["t"] < end - 0.1]
    reasons: list[str] = []
    out: dict[str, Any] = _rates(run, steady)
    if len(steady) < 2:
        reasons.append(f"too few samples after the {c.warmup:g}-s warm-up ({len(steady)})")
    if c.shape == "knee":
        knee = _knee(run)
        out["knee"] = knee
        rate = knee["knee"]["delivered"] if knee["knee"] else 0.0
        if rate < c.min_delivered_ratio * c.rate:
            reasons.append(
                f"the knee is at {rate:g} delivered/s, below the target {c.rate:g}/s "
                f"(steps: {[(s['offered'], s['delivered']) for s in knee['steps']]})"
            )
    elif out["deliveredPerSecond"] < c.min_delivered_ratio * out["targetPerSecond"]:
        reasons.append(
            f"delivered {out['deliveredPerSecond']:g}/s, below {c.min_delivered_ratio:g} x the "
            f"target {out['targetPerSecond']:g}/s (accepted {out.get('acceptedPerSecond', 0):g}/s)"
        )
    last = run.samples[-1] if run.samples else None
    unfinished = 0
    if last is not None:
        unfinished = max(
            last["acceptedClient"] - last["sent"] - last["failed"],
            last["statsTotal"] - last["statsFinal"],
        )
    out["notFinalAfterDrain"] = unfinished
    if last is None or unfinished > 0:
        reasons.append(
            f"{unfinished} accepted notifications are not final after the drain "
            f"({run.drain.get('reason', 'no samples')}, {run.drain.get('seconds', 0)} s)"
        )
    out["backlogGrowing"] = c.shape != "knee" and _growing(load, out["targetPerSecond"])
    if out["backlogGrowing"]:
        reasons.append(
            f"the backlog kept growing during the load (at its end: {load[-1]['backlog']})"
        )
    # of the creates answered 201: a fast refusal must not make the accept path look fast
    latencies = [1000 * (r[2] - r[1]) for r in RECORD.requests if r[3] == 201]
    p95 = _percentile(latencies, 0.95)
    out["acceptP95Ms"] = round(p95, 1) if latencies else None
    if not latencies:
        reasons.append("no create request was accepted")
    elif p95 > c.max_accept_p95_ms:
        reasons.append(f"accept p95 {p95:.0f} ms is over {c.max_accept_p95_ms:g} ms")
    out["failureRatio"] = round(failure_ratio, 4)
    if failure_ratio > c.max_failure_ratio:
        reasons.append(f"failure ratio {failure_ratio:.2%} is over {c.max_failure_ratio:.2%}")
    out["limits"] = {
        "minDeliveredRatio": c.min_delivered_ratio,
        "maxFailureRatio": c.max_failure_ratio,
        "maxAcceptP95Ms": c.max_accept_p95_ms,
        "drainS": c.drain,
    }
    out["reasons"] = reasons
    out["pass"] = not reasons
    return out


def _finish(environment: Environment) -> None:
    """After the drain: the gate's verdict, the report where it can be written, both printed."""
    assert RUN is not None
    total = environment.stats.total
    ratio = total.num_failures / total.num_requests if total.num_requests else 0.0
    verdict = gate(RUN, ratio)
    if CONFIG.report:
        try:
            from loadtest import locust_report  # noqa: PLC0415 - only in a checkout

            note = locust_report.write(RUN, RECORD, CONFIG, verdict, environment)
        except ImportError:
            note = "no report: the loadtest package is not here"
        except Exception as exc:  # the gate's verdict stands without the report
            note = f"no report: {type(exc).__name__}: {exc}"
        print(f"[locust] {note}", flush=True)
    print(
        f"[locust] gate: delivered {verdict['deliveredPerSecond']:g}/s (target "
        f"{verdict['targetPerSecond']:g}/s), not final after the drain "
        f"{verdict['notFinalAfterDrain']}, backlog growing {verdict['backlogGrowing']}, accept "
        f"p95 {verdict['acceptP95Ms']} ms, failures {verdict['failureRatio']:.2%}",
        flush=True,
    )
    if verdict["pass"]:
        print("[locust] GATE PASS", flush=True)
    else:
        print("[locust] GATE FAIL: " + "; ".join(verdict["reasons"]), flush=True)
    RUN.verdict = verdict


def _on_quitting(environment: Environment, **_: Any) -> None:
    """The exit code is the gate's when a shape was chosen: 1 when the last run failed it;
    without one it stays locust's own."""
    if RUN is None or _is_worker(environment) or not RUN.wall0 or not gated():
        return
    if RUN.load_end is None:  # stopped before test_stop ran (Ctrl-C)
        _on_test_stop(environment)
    environment.process_exit_code = 0 if RUN.verdict and RUN.verdict["pass"] else 1


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)


_listen(events.init, _on_init)
_listen(events.report_to_master, _on_report_to_master)
_listen(events.worker_report, _on_worker_report)
_listen(events.test_start, _on_test_start)
_listen(events.test_stop, _on_test_stop)
_listen(events.quitting, _on_quitting)
