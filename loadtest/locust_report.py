"""The locust run's report: the same JSON + PNG as ``make bench``, through ``loadtest/report.py``.

The locustfile's records (create requests, accepted ids, once-a-second samples) become the
benchmark's ``LoadResult`` and ``Sample``s; every notification of the run is read once from the
database, and ``report.analyse`` / ``report.chart`` / ``report.table`` do the rest. The gate's
verdict replaces the benchmark's (which is kept as ``benchVerdict``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient

from loadtest import report as rep
from loadtest.load import LoadResult, Sent
from loadtest.monitor import CpuMeter, Sample, infrastructure_pids, wavecom_pids
from loadtest.system import ROOT, Management

if TYPE_CHECKING:
    from locust.env import Environment

    from loadtest.locustfile import Config, Record, Run

RESULTS = ROOT / "loadtest" / "results"


def cpu_ticker() -> Callable[[], dict[str, float]]:
    """CPU per component since the previous call (% of one core), as `make bench` samples it;
    the API and workers are found by their command lines."""
    meter = CpuMeter({**wavecom_pids(), **infrastructure_pids()})
    meter.groups["locust"] = meter.groups.pop("bench")
    meter.names = [n if n != "bench" else "locust" for n in meter.names]
    return meter.tick


def load_result(record: Record, wall0: float, load_end: float) -> LoadResult:
    """The create requests as the benchmark's records (a closed model: no schedule lag)."""
    out = LoadResult()
    for kind, started, finished, status, accepted, rejected, error in record.requests:
        s, f = started - wall0, finished - wall0
        out.requests.append(Sent(kind, s, s, f, status, accepted, rejected, error))
        if accepted:
            out.accepted_by_second[int(f)] += accepted
        out.last_send = max(out.last_send, s)
        out.finished = max(out.finished, f)
    out.ids = list(record.ids)
    out.planned = sum(r.accepted + r.rejected for r in out.requests)
    out.finished = max(out.finished, load_end)
    return out


def samples(run: Run) -> list[Sample]:
    return [
        Sample(
            t=s["t"],
            accepted_client=s["acceptedClient"],
            in_flight=s["inFlight"],
            in_flight_items=s["inFlightItems"],
            source=s["source"],
            sent=s["sent"],
            failed=s["failed"],
            backlog=s["backlog"],
            stats_total=s["statsTotal"],
            stats_sent=s["statsSent"],
            stats_backlog=s["statsBacklog"],
            queued=s["queued"],
            delayed=s["delayed"],
            dlq=s["dlq"],
            cpu=s.get("cpu") or {},
        )
        for s in run.samples
    ]


def _docs(config: Config, wall0: float) -> list[dict[str, Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        config.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    with client:
        return list(
            client[config.database]["notifications"].find(
                {"createdAt": {"$gte": datetime.fromtimestamp(wall0 - 1, UTC)}},
                {"createdAt": 1, "sentAt": 1, "status": 1, "type": 1, "priority": 1},
                batch_size=10_000,
            )
        )


def _cpu_over_load(run: Run) -> dict[str, float]:
    """Mean CPU per component over the load phase (each sample covers one second)."""
    load = [s["cpu"] for s in run.samples if s["t"] <= (run.load_end or 0) and s.get("cpu")]
    totals: Counter[str] = Counter()
    for cpu in load:
        totals.update(cpu)
    return {k: round(v / len(load), 1) for k, v in totals.items()} if load else {}


def write(
    run: Run, record: Record, config: Config, verdict: dict[str, Any], env: Environment
) -> str:
    """Analyse, write ``locust-<shape>-<stamp>.json`` and ``.png``, print the table; returns
    what was written."""
    load_end = run.load_end or 0.0
    load = load_result(record, run.wall0, load_end)
    docs = _docs(config, run.wall0)
    started = datetime.fromtimestamp(run.wall0, UTC)
    params: dict[str, Any] = {
        "mode": "locust " + config.shape,
        "driver": "locust",
        "shape": config.shape,
        "rate": verdict["targetPerSecond"],
        "targetRate": config.rate,
        "duration": round(load_end, 1),
        "batchSize": config.batch_size,
        "singleFraction": round(
            (config.task_weights[1] + config.task_weights[2])
            / (config.notifications_per_task * sum(config.task_weights)),
            4,
        ),
        "taskWeights": dict(
            zip(
                ("batch", "single", "idempotent", "status", "list"),
                config.task_weights,
                strict=True,
            )
        ),
        "users": config.users,
        "peakUsers": run.peak_users,
        "userTasksPerSecond": round(config.user_tps, 4),
        "connections": max(run.peak_users, 1),
        "warmup": config.warmup,
        "drainLimit": config.drain,
        "bar": config.rate,
        "barSeconds": min(120.0, max(load_end - config.warmup - 10, 1.0)),
        "workersPerChannel": len(config.worker_metrics) // 3 or None,
        "apiProcs": 1,
        "providerLatencyMs": None,
        "providerSigma": None,
        "urls": [run.host],
        "database": config.database,
        "spike": {
            "at": config.spike_at,
            "factor": config.spike_factor,
            "seconds": config.spike_seconds,
        }
        if config.shape == "spike"
        else None,
        "steps": {
            "fraction": config.step_fraction,
            "seconds": config.step_seconds,
            "n": config.steps,
        }
        if config.shape == "knee"
        else None,
        "command": os.environ.get("WAVECOM_COMMAND", ""),
    }
    report: dict[str, Any] = {
        "startedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runId": f"locust-{config.shape}-{started.strftime('%Y%m%dT%H%M%SZ')}",
        "label": config.run_label,
        "machine": rep.machine_info(),
        "versions": {
            "rabbitmq": Management("http://127.0.0.1:15672", "guest", "guest")
            .overview()
            .get("rabbitmq_version"),
            "ferretdb": rep.ferretdb_info(),
            "locust": _locust_version(),
        },
        "brokerCeiling": run.ceiling,
    }
    result = rep.analyse(
        load=load,
        samples=samples(run),
        docs=docs,
        wall0=run.wall0,
        params=params,
        drain=run.drain or {"seconds": 0, "reason": "none"},
        cpu_load=_cpu_over_load(run),
    )
    result["benchVerdict"] = result.pop("verdict")
    lost = result["delivery"]["lost"]
    if lost and verdict["notFinalAfterDrain"] < lost:
        # the documents know better than the counters: an accepted id that is not final
        verdict["reasons"].append(f"{lost} accepted notifications are not final (documents)")
        verdict["pass"] = False
    result["verdict"] = {**verdict, "bar": _bar(config, verdict)}
    ceiling = run.ceiling or {}
    if ceiling.get("ceiling"):
        result["delivery"]["fractionOfBrokerCeiling"] = round(
            result["delivery"]["deliveredPerSecondSteady"] / ceiling["ceiling"], 4
        )
    s = env.stats.total
    result["locust"] = {
        "requests": s.num_requests,
        "failures": s.num_failures,
        "byName": {
            f"{e.method} {e.name}": {
                "requests": e.num_requests,
                "failures": e.num_failures,
                "p50": e.get_response_time_percentile(0.5),
                "p95": e.get_response_time_percentile(0.95),
                "p99": e.get_response_time_percentile(0.99),
            }
            for e in env.stats.entries.values()
        },
        "samplerErrors": run.errors[-20:],
    }
    report.update(result)
    out = Path(config.results_dir) if config.results_dir else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stem = out / report["runId"]
    json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
    rep.write_json(json_path, report)
    rep.chart(png_path, report)
    print()
    print(rep.table(report))
    print()
    return f"wrote {json_path} and {png_path}"


def _bar(config: Config, verdict: dict[str, Any]) -> str:
    return (
        f"delivered >= {config.min_delivered_ratio:g} x {verdict['targetPerSecond']:g}/s, all "
        f"final within {config.drain:g} s, backlog not growing, failures <= "
        f"{config.max_failure_ratio:.0%}, accept p95 <= {config.max_accept_p95_ms:g} ms"
    )


def _locust_version() -> str:
    from locust import __version__  # noqa: PLC0415

    return str(__version__)
