"""``make bench`` / ``python -m loadtest.bench``: throughput and latency of the whole pipeline.

If nothing answers at ``--url`` (or with ``--start``), the benchmark starts its own system: the
local stack (``services/devstack/stack.sh up``), a fresh RabbitMQ vhost and database, the API and
the workers (one process for the three channels as ``make up`` runs them, or one per channel with
``--worker-layout apart``; ``--workers`` of each) with mock providers, and stops it all at the end.
It measures the broker's own ceiling first, then drives paced, open-loop load through the HTTP API,
drains the backlog and reads every notification of the run once to compute delivery latency and
losses. See loadtest/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvloop
from pymongo import AsyncMongoClient

from loadtest import monitor as monitor_mod
from loadtest import report as rep
from loadtest.broker_ceiling import measure as measure_ceiling
from loadtest.load import CHANNELS, PRIORITIES, LoadGenerator, build_bodies, parse_mix
from loadtest.monitor import CpuMeter, Monitor, infrastructure_pids, wavecom_pids
from loadtest.system import (
    ROOT,
    WORKER_LAYOUT_HELP,
    WORKER_LAYOUTS,
    LocalSystem,
    Management,
    amqp_url_for,
    api_answers,
    vhost_of,
)
from loadtest.vegeta import VegetaGenerator
from wavecom.core.constants import Scope
from wavecom.core.keys import Keys
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.store import Store

RESULTS = ROOT / "loadtest" / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.bench",
        description="Benchmark WaveCom Notify end to end (see loadtest/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("load")
    g.add_argument("--rate", type=float, default=900.0, help="notifications per second offered")
    g.add_argument("--duration", type=float, default=150.0, help="seconds of load")
    g.add_argument("--batch-size", type=int, default=100, help="notifications per batch request")
    g.add_argument(
        "--single-fraction",
        type=float,
        default=0.02,
        help="fraction of notifications sent as single POST /api/notifications",
    )
    g.add_argument(
        "--connections",
        type=int,
        default=32,
        help="concurrent HTTP connections (requests in flight at most)",
    )
    g.add_argument("--mix", default="EMAIL=0.5,SMS=0.3,PUSH=0.2", help="channel mix")
    g.add_argument(
        "--priorities",
        default="LOW=0.2,MEDIUM=0.5,HIGH=0.2,CRITICAL=0.1",
        help="priority mix",
    )
    g.add_argument("--seed", type=int, default=7, help="seed of the request bodies")
    g.add_argument(
        "--driver",
        choices=("python", "vegeta"),
        default="python",
        help="load generator: this package's (batches and singles, a connection slot per "
        "request in flight) or vegeta (singles only, a pure open model: `make vegeta`)",
    )
    g = p.add_argument_group("measurement")
    g.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds at the start left out of the steady-state rates",
    )
    g.add_argument(
        "--drain",
        type=float,
        default=60.0,
        help="seconds to wait after the load for the backlog to drain",
    )
    g.add_argument("--bar", type=float, default=833.0, help="delivered/s the verdict requires")
    g.add_argument(
        "--bar-seconds",
        type=float,
        default=120.0,
        help="seconds the delivered rate must hold the bar",
    )
    g.add_argument(
        "--broker-seconds",
        type=float,
        default=15.0,
        help="seconds of the broker ceiling measurement",
    )
    g.add_argument("--skip-broker", action="store_true", help="skip the broker ceiling")
    g.add_argument("--broker-only", action="store_true", help="measure only the broker ceiling")
    g = p.add_argument_group("system under test")
    g.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="API to load (comma-separated for several); if nothing answers, the "
        "benchmark starts its own system",
    )
    g.add_argument(
        "--start",
        action="store_true",
        help="start a private system even if something answers at --url",
    )
    g.add_argument("--workers", type=int, default=1, help="worker processes per channel")
    g.add_argument(
        "--worker-layout", choices=WORKER_LAYOUTS, default="one", help=WORKER_LAYOUT_HELP
    )
    g.add_argument(
        "--api-procs",
        type=int,
        default=1,
        help="API processes (requests are spread over them)",
    )
    g.add_argument(
        "--provider-latency-ms",
        type=float,
        default=50.0,
        help="median latency of the mock providers",
    )
    g.add_argument(
        "--provider-sigma",
        type=float,
        default=0.25,
        help="lognormal spread of the mock providers' latency",
    )
    g.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra setting for the started API and workers (repeatable), e.g. --env PREFETCH=800",
    )
    g.add_argument(
        "--keep",
        action="store_true",
        help="keep the run's vhost and database (default: delete them)",
    )
    g = p.add_argument_group("connections")
    g.add_argument(
        "--amqp-url",
        default="amqp://guest:guest@127.0.0.1:5672/",
        help="broker; with a running system (--url), its vhost is the one measured",
    )
    g.add_argument(
        "--mongodb-url",
        default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"),
    )
    g.add_argument(
        "--database",
        default=os.environ.get("MONGODB_DATABASE", "wavecom"),
        help="database of a running system (--url)",
    )
    g.add_argument(
        "--tenant",
        default="bench",
        help="a private system's tenant (it gets a send+read key and a limit above --rate)",
    )
    g.add_argument(
        "--api-key",
        default=os.environ.get("WAVECOM_API_KEY", ""),
        help="key for a running system (default: WAVECOM_API_KEY, else .state/api-key)",
    )
    g.add_argument(
        "--worker-metrics",
        default="",
        help="Prometheus URLs of the workers of a running system (comma-separated); "
        "without them delivered counts come from the stats document",
    )
    g.add_argument("--mgmt-url", default="http://127.0.0.1:15672")
    g.add_argument("--mgmt-user", default="guest")
    g.add_argument("--mgmt-password", default="guest")
    g.add_argument("--results-dir", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    if a.rate <= 0 or a.duration <= 0 or a.batch_size < 0 or a.connections < 1:
        p.error("--rate, --duration and --connections must be positive")
    if not 0 <= a.single_fraction <= 1:
        p.error("--single-fraction must be within 0..1")
    if a.driver == "vegeta" and a.single_fraction != 1:
        p.error("--driver vegeta sends single requests only: add --single-fraction 1")
    for kv in a.env:
        if "=" not in kv:
            p.error(f"--env wants KEY=VALUE, got {kv!r}")
    return a


def _local_key() -> str:
    path = ROOT / ".state" / "api-key"
    if not path.exists():
        raise SystemExit("[bench] no --api-key and no .state/api-key (make up writes it)")
    return path.read_text().strip()


def api_tenant(url: str, key: str) -> str:
    """The tenant a key belongs to (its stats are the ones the monitor reads)."""
    r = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    if r.status_code != 200:
        raise SystemExit(f"[bench] the API refused the key: {r.status_code} {r.text[:200]}")
    tenant: str = r.json()["data"]["tenantId"]
    return tenant


def _p(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, run_id: str, started: datetime) -> None:
        self.a = args
        self.run_id = run_id
        self.started = started
        self.system: LocalSystem | None = None
        self.mgmt = Management(args.mgmt_url, args.mgmt_user, args.mgmt_password)
        self.api_key = ""

    # --- phases ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Decide between a running system and our own; start the stack for our own."""
        a = self.a
        urls = [u.strip() for u in a.url.split(",") if u.strip()]
        if a.start or a.broker_only or not any(api_answers(u) for u in urls):
            if not a.start and not a.broker_only:
                _p(f"nothing answers at {a.url}: starting a private system")
            self.system = LocalSystem(
                run_id=self.run_id,
                mgmt=self.mgmt,
                amqp_base=a.amqp_url,
                mongodb_url=a.mongodb_url,
                workers_per_channel=a.workers,
                worker_layout=a.worker_layout,
                api_procs=a.api_procs,
                provider_latency_ms=a.provider_latency_ms,
                provider_sigma=a.provider_sigma,
                extra_env=dict(kv.split("=", 1) for kv in a.env),
                log_dir=ROOT / ".state" / "bench" / self.run_id,
                keep=a.keep,
            )
            self.system.stack_up()
            self.system.create_vhost()
            _p(
                f"vhost {self.system.vhost!r}, database {self.system.database!r}, "
                f"logs in {self.system.log_dir.relative_to(ROOT)}/"
            )
        else:
            _p(
                f"using the system that answers at {a.url} "
                f"(vhost {vhost_of(a.amqp_url)!r}, database {a.database!r})"
            )

    @property
    def amqp_url(self) -> str:
        return (
            self.system.amqp_url
            if self.system
            else amqp_url_for(self.a.amqp_url, vhost_of(self.a.amqp_url))
        )

    @property
    def database(self) -> str:
        return self.system.database if self.system else str(self.a.database)

    def params(self) -> dict[str, Any]:
        a = self.a
        return {
            "mode": "private system" if self.system else "running system",
            "rate": a.rate,
            "duration": a.duration,
            "batchSize": a.batch_size,
            "singleFraction": a.single_fraction,
            "connections": a.connections,
            "channelMix": parse_mix(a.mix, CHANNELS),
            "priorityMix": parse_mix(a.priorities, PRIORITIES),
            "warmup": a.warmup,
            "drainLimit": a.drain,
            "bar": a.bar,
            "barSeconds": a.bar_seconds,
            "workersPerChannel": a.workers if self.system else None,
            "apiProcs": a.api_procs if self.system else len(a.url.split(",")),
            "providerLatencyMs": a.provider_latency_ms if self.system else None,
            "providerSigma": a.provider_sigma if self.system else None,
            "env": dict(kv.split("=", 1) for kv in a.env) if self.system else {},
            "urls": self.system.api_urls if self.system else a.url.split(","),
            "vhost": vhost_of(self.amqp_url),
            "database": self.database,
            "tenant": a.tenant,
        }

    async def ceiling(self) -> dict[str, Any] | None:
        if self.a.skip_broker:
            return None
        _p(
            f"broker ceiling: publisher + consumer through aio-pika for "
            f"{self.a.broker_seconds:g} s ..."
        )
        result = await measure_ceiling(self.amqp_url, seconds=self.a.broker_seconds)
        _p(
            f"broker ceiling: {result.ceiling:.0f} msgs/s through (publish "
            f"{result.publish_rate:.0f}/s confirmed, consume {result.consume_rate:.0f}/s acked)"
        )
        return result.as_dict()

    async def run(self) -> dict[str, Any]:
        a = self.a
        report: dict[str, Any] = {
            "startedAt": self.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "runId": self.run_id,
            "machine": rep.machine_info(),
        }
        monitor_mod.INFRA_PORTS.update(
            rabbitmq=urlsplit(self.amqp_url).port or 5672,
            ferretdb=urlsplit(a.mongodb_url.split(",")[0]).port or 27017,
        )
        overview = self.mgmt.overview()
        report["versions"] = {
            "rabbitmq": overview.get("rabbitmq_version"),
            "erlang": overview.get("erlang_version"),
            "ferretdb": rep.ferretdb_info(),
        }
        if not report["versions"]["ferretdb"]["builtFromRepoPatch"]:
            _p(
                "WARNING: the FerretDB that answers was not built from the repository's "
                "patch (stack.sh up reuses a running one): "
                f"{report['versions']['ferretdb']}"
            )
        report["brokerCeiling"] = await self.ceiling()
        report["parameters"] = self.params()
        if a.broker_only:
            return report

        if self.system:
            self.api_key = await self._bench_key()
            self.system.start()
            _p(f"started {len(self.system.procs)} processes; waiting until they are ready")
            await self.system.wait_ready()
            report["parameters"]["urls"] = self.system.api_urls
            groups = {**self.system.pids(), **infrastructure_pids()}
            urls = self.system.api_urls
            metrics = self.system.worker_metrics
        else:
            groups = {**wavecom_pids(), **infrastructure_pids()}
            urls = [u.strip() for u in a.url.split(",") if u.strip()]
            self.api_key = a.api_key or _local_key()
            a.tenant = api_tenant(urls[0], self.api_key)
            metrics = [u.strip() for u in a.worker_metrics.split(",") if u.strip()]
        _p("CPU accounting: " + ", ".join(f"{g} {len(p)} proc" for g, p in groups.items()))

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            a.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000
        )
        try:
            return await self._load(report, client, groups, urls, metrics)
        finally:
            await client.close()

    async def _bench_key(self) -> str:
        """A send+read key of the private system's tenant, limited well above the offered rate
        (the benchmark measures the pipeline, not the rate limit)."""
        store = Store.connect(self.a.mongodb_url, self.database)
        try:
            limit = RateLimit(max(2.0 * self.a.rate, 2000.0), max(20 * self.a.batch_size, 20_000))
            await Tenants(store, limit).set_limit(self.a.tenant, limit)
            _, token = await Keys(store).create(self.a.tenant, {Scope.SEND, Scope.READ}, "bench")
        finally:
            await store.close()
        return token

    async def _load(
        self,
        report: dict[str, Any],
        client: AsyncMongoClient[dict[str, Any]],
        groups: dict[str, list[int]],
        urls: list[str],
        metrics: list[str],
    ) -> dict[str, Any]:
        a = self.a
        db = client[self.database]
        build_start = time.perf_counter()
        bodies = build_bodies(
            a.batch_size,
            parse_mix(a.mix, CHANNELS),
            parse_mix(a.priorities, PRIORITIES),
            a.seed,
        )
        _p(
            f"built {len(bodies.batches)} batch and {len(bodies.singles)} single bodies in "
            f"{time.perf_counter() - build_start:.2f} s"
        )
        gen: LoadGenerator | VegetaGenerator
        if a.driver == "vegeta":
            gen = VegetaGenerator(
                urls, bodies, rate=a.rate, duration=a.duration, api_key=self.api_key
            )
        else:
            gen = LoadGenerator(
                urls,
                bodies,
                rate=a.rate,
                duration=a.duration,
                single_fraction=a.single_fraction,
                connections=a.connections,
                api_key=self.api_key,
            )
        cpu = CpuMeter(groups)
        monitor = Monitor(
            stats=db["stats"],
            tenant=a.tenant,
            mgmt=self.mgmt,
            vhost=vhost_of(self.amqp_url),
            worker_metrics=metrics,
            cpu=cpu,
            accepted=lambda: gen.result.accepted,
            in_flight=lambda: gen.in_flight,
            in_flight_items=lambda: gen.in_flight_items,
        )
        await monitor.start()
        if not metrics:
            _p(
                "no worker metrics (--worker-metrics): live delivered counts come from the "
                "stats document, which can drift under concurrent writers"
            )

        t0 = time.monotonic() + 0.5
        wall0 = time.time() - time.monotonic() + t0
        monitor_task = asyncio.create_task(monitor.run(t0))
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        _p(
            f"load: {a.rate:g}/s for {a.duration:g} s over {len(urls)} API process(es), "
            f"{a.connections} connections"
        )
        cpu_start = cpu.snapshot()
        load = await gen.run(t0)
        cpu_load = cpu.percent(cpu_start, cpu.snapshot())
        monitor.phase = "drain"
        _p(
            f"load done: {load.accepted} accepted in {len(load.requests)} requests; draining "
            f"(up to {a.drain:g} s)"
        )
        drain = await self._drain(monitor, load.accepted)
        monitor_task.cancel()
        await asyncio.wait([monitor_task])
        await monitor.close()
        _p(f"drain: {drain['reason']} after {drain['seconds']:.1f} s")
        if self.system is not None:
            # the workers would keep writing (and slow the final read down): stop them first
            _p("stopping the API and the workers before the final read")
            await asyncio.to_thread(self.system.stop)
        stats_end = await monitor.read_stats() or {}

        scan_start = time.perf_counter()
        query: dict[str, Any] = {}
        if self.system is None:
            query = {"createdAt": {"$gte": datetime.fromtimestamp(wall0 - 1, UTC)}}
        docs = (
            await db["notifications"]
            .find(
                query,
                {"createdAt": 1, "sentAt": 1, "status": 1, "type": 1, "priority": 1},
                batch_size=10_000,
            )
            .to_list()
        )
        scan_s = time.perf_counter() - scan_start
        _p(f"read {len(docs)} notifications in {scan_s:.1f} s")

        result = rep.analyse(
            load=load,
            samples=monitor.samples,
            docs=docs,
            wall0=wall0,
            params=report["parameters"],
            drain=drain,
            cpu_load=cpu_load,
        )
        result["delivery"]["finalScanSeconds"] = round(scan_s, 1)
        b = monitor.baseline
        result["statsDocument"] = {
            "note": "the tenant's counters (GET /api/notifications/stats/system) after the "
            "drain, against what the notification documents say",
            "total": stats_end.get("total", 0) - b.get("total", 0),
            "SENT": stats_end.get("SENT", 0) - b.get("SENT", 0),
            "actualAccepted": load.accepted,
            "actualSent": result["delivery"]["finalStatus"].get("SENT", 0),
        }
        ceiling = report.get("brokerCeiling")
        if ceiling and ceiling.get("ceiling"):
            result["delivery"]["fractionOfBrokerCeiling"] = round(
                result["delivery"]["deliveredPerSecondSteady"] / ceiling["ceiling"], 4
            )
        report.update(result)
        return report

    async def _drain(self, monitor: Monitor, accepted: int) -> dict[str, Any]:
        """Wait (the monitor keeps sampling) until every accepted notification is SENT or
        FAILED, nothing progressed for 15 s while the queues are empty, or the limit passes."""
        start = time.monotonic()
        last_done, last_change = -1, start
        reason = "time limit"
        while time.monotonic() - start < self.a.drain:
            s = monitor.samples[-1] if monitor.samples else None
            if s is not None and s.sent is not None and s.failed is not None:
                done = s.sent + s.failed
                if done >= accepted:
                    reason = "every accepted notification is SENT or FAILED"
                    break
                if done != last_done:
                    last_done, last_change = done, time.monotonic()
                elif time.monotonic() - last_change >= 15 and not s.queued and not s.delayed:
                    reason = "no progress for 15 s and the queues are empty"
                    break
            await asyncio.sleep(0.5)
        return {"seconds": round(time.monotonic() - start, 1), "reason": reason}

    # --- output ---------------------------------------------------------------------------------

    def write(self, report: dict[str, Any]) -> None:
        out = Path(self.a.results_dir)
        out.mkdir(parents=True, exist_ok=True)
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        if self.a.broker_only:
            path = out / f"broker-{stamp}.json"
            rep.write_json(path, report)
            _p(f"wrote {path}")
            return
        json_path, png_path = out / f"bench-{stamp}.json", out / f"bench-{stamp}.png"
        rep.write_json(json_path, report)
        rep.chart(png_path, report)
        rep.write_json(out / "latest.json", report)
        (out / "latest.png").write_bytes(png_path.read_bytes())
        _p(f"wrote {json_path}, {png_path} (and latest.json / latest.png)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dt%H%M%S").lower() + "-" + uuid.uuid4().hex[:4]
    bench = Bench(args, run_id, started)
    code = 0
    try:
        bench.prepare()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:

            async def guarded() -> dict[str, Any]:
                task = asyncio.current_task()
                assert task is not None
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
                return await bench.run()

            report = runner.run(guarded())
        bench.write(report)
        print()
        print(rep.table(report))
        print()
        if not args.broker_only:
            code = 0 if report["verdict"]["pass"] else 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        _p("interrupted")
        code = 130
    finally:
        if bench.system is not None:
            _p("stopping the processes this run started")
            bench.system.stop()
            bench.system.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
