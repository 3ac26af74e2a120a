"""Turning a run's raw records into numbers, a verdict, a table, a JSON file and a chart."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from loadtest.load import LoadResult
from loadtest.monitor import Sample, infrastructure_pids
from loadtest.stats import longest_run, mean, rolling_mean, slope, summary_ms
from loadtest.system import ROOT

ROLLING_S = 10  # the delivered rate that must hold the bar is a 10-s trailing mean


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "nprocAvailable": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadAverageAtEnd": [round(x, 2) for x in os.getloadavg()],
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memTotalGiB"] = round(int(line.split()[1]) / 1024 / 1024, 1)
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpuModel"] = line.split(":", 1)[1].strip()
                break
    git = shutil.which("git")
    if git:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            info["git"] = subprocess.run(  # noqa: S603 - fixed arguments
                [git, "describe", "--always", "--dirty"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
    info["productCodeSha256"] = code_hash()
    return info


def code_hash() -> str:
    """Hash of the product's Python sources as they are on disk (the tree may be dirty)."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "services" / "wavecom").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode())
        with contextlib.suppress(OSError):
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def ferretdb_info() -> dict[str, Any]:
    """Which FerretDB binary answers, and whether it was built from the repository's patch
    (``stack.sh up`` reuses a running FerretDB even after the patch changed)."""
    patch = ROOT / "services" / "devstack" / "ferretdb-v1.24.2-sqlite.patch"
    expected = ""
    with contextlib.suppress(OSError):
        expected = hashlib.sha256(patch.read_bytes()).hexdigest()[:12]
    binaries = []
    for pid in infrastructure_pids()["ferretdb"]:
        with contextlib.suppress(OSError):
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            binaries.append(argv0)
    return {
        "binaries": binaries,
        "repoPatchSha12": expected,
        "builtFromRepoPatch": bool(expected) and any(b.endswith(expected) for b in binaries),
    }


def per_second(times: Sequence[float], length: int) -> list[int]:
    counts = [0] * max(length, 0)
    for t in times:
        i = math.floor(t)
        if 0 <= i < length:
            counts[i] += 1
    return counts


def _intake(load: LoadResult, duration: float, warmup: float) -> dict[str, Any]:
    reqs = load.requests
    ok = [r for r in reqs if r.status == 201]
    per_notification: list[float] = []
    for r in ok:
        per_notification.extend([r.latency] * r.accepted)
    steady = sum(c for s, c in load.accepted_by_second.items() if warmup <= s < duration)
    return {
        "planned": load.planned,
        "unsent": load.unsent,
        "requests": len(reqs),
        "httpStatus": dict(Counter(str(r.status) for r in reqs)),
        "errors": dict(Counter(r.error for r in reqs if r.error)),
        "accepted": load.accepted,
        "rejectedItems": sum(r.rejected for r in reqs),
        "acceptedPerSecondOverall": round(load.accepted / duration, 1),
        "acceptedPerSecondSteady": round(steady / max(duration - warmup, 1.0), 1),
        "lastSendAt": round(load.last_send, 2),
        "lastResponseAt": round(load.finished, 2),
        "latencyMs": {
            "batchRequest": summary_ms([r.latency for r in ok if r.kind == "batch"]),
            "singleRequest": summary_ms([r.latency for r in ok if r.kind == "single"]),
            "perNotification": summary_ms(per_notification),
            "perNotificationAmortized": summary_ms(
                [r.latency / r.accepted for r in ok if r.accepted]
            ),
        },
        "scheduleLagMs": summary_ms([max(0.0, r.lag) for r in reqs]),
    }


def _delivery(
    load: LoadResult, docs: list[dict[str, Any]], wall0: float, params: dict[str, Any]
) -> tuple[dict[str, Any], list[int]]:
    """Delivery numbers from the notification documents, and delivered/s per second."""
    duration, warmup, bar = float(params["duration"]), float(params["warmup"]), params["bar"]
    load_len = math.ceil(duration)
    accepted_ids = set(load.ids)
    by_status: Counter[str] = Counter()
    e2e: list[float] = []
    by_type: dict[str, list[float]] = {}
    by_lane: dict[str, list[float]] = {"high": [], "standard": []}
    sent_times: list[float] = []
    unfinished: Counter[str] = Counter()
    seen = 0
    for d in docs:
        if str(d["_id"]) not in accepted_ids:
            continue  # not accepted by a response of this run (e.g. a timed-out request)
        seen += 1
        status = str(d.get("status"))
        by_status[status] += 1
        if status not in ("SENT", "FAILED"):
            unfinished[status] += 1
        sent_at, created = d.get("sentAt"), d.get("createdAt")
        if status == "SENT" and isinstance(sent_at, datetime) and isinstance(created, datetime):
            latency = (sent_at - created).total_seconds()
            e2e.append(latency)
            by_type.setdefault(str(d.get("type")), []).append(latency)
            by_lane["high" if d.get("priority") in ("HIGH", "CRITICAL") else "standard"].append(
                latency
            )
            sent_times.append(sent_at.timestamp() - wall0)
    missing = len(accepted_ids) - seen
    if missing:
        unfinished["MISSING"] = missing
    horizon = math.ceil(max([duration, load.finished, *sent_times])) + 1
    delivered_ps = per_second(sent_times, horizon)
    rolling = rolling_mean([float(x) for x in delivered_ps[:load_len]], ROLLING_S)
    run_len, run_start = longest_run([r >= bar for r in rolling])
    steady = sum(delivered_ps[int(warmup) : load_len]) / max(load_len - int(warmup), 1)
    return {
        "deliveredPerSecondSteady": round(steady, 1),
        "deliveredDuringLoad": sum(delivered_ps[:load_len]),
        "sustainedSecondsAtBar": run_len,
        "sustainedFromSecond": run_start if run_len else None,
        "acceptedToDeliveredMs": summary_ms(e2e),
        "acceptedToDeliveredMsByType": {k: summary_ms(v) for k, v in sorted(by_type.items())},
        "acceptedToDeliveredMsByLane": {k: summary_ms(v) for k, v in by_lane.items()},
        "finalStatus": dict(by_status),
        "lost": sum(unfinished.values()),
        "lostByStatus": dict(unfinished),
        "inDatabaseNotAcceptedByResponse": len(docs) - seen,
    }, delivered_ps


def _backlog(samples: list[Sample], duration: float, rate: float) -> dict[str, Any]:
    """Is the backlog (stats document) trending upward during the load phase?"""
    load_samples = [s for s in samples if s.t <= duration + 0.5 and s.backlog is not None]
    n = len(load_samples)
    mid = [float(s.backlog or 0) for s in load_samples[n // 3 : 2 * n // 3]]
    last = [float(s.backlog or 0) for s in load_samples[2 * n // 3 :]]
    tail = load_samples[n // 3 :]
    trend = slope([s.t for s in tail], [float(s.backlog or 0) for s in tail])
    slope_limit = 0.02 * rate  # msgs/s per s: a deficit of 2% of the rate
    growth_limit = max(200.0, 0.5 * rate)  # msgs: half a second of load
    growing = n >= 6 and trend > slope_limit and mean(last) - mean(mid) > growth_limit
    end = load_samples[-1] if load_samples else None
    return {
        "source": "accepted + in HTTP requests in flight - SENT - FAILED (worker counters, "
        "else stats)",
        "samples": n,
        "midThirdMean": round(mean(mid), 1) if mid else None,
        "lastThirdMean": round(mean(last), 1) if last else None,
        "slopePerSecond": round(trend, 2),
        "slopeLimit": slope_limit,
        "growthLimit": growth_limit,
        "atLoadEnd": end.backlog if end else None,
        "queuedAtLoadEnd": end.queued if end else None,
        "max": max((s.backlog or 0 for s in load_samples), default=None),
        "growing": growing,
    }


def analyse(
    *,
    load: LoadResult,
    samples: list[Sample],
    docs: list[dict[str, Any]],
    wall0: float,
    params: dict[str, Any],
    drain: dict[str, Any],
    cpu_load: dict[str, float],
) -> dict[str, Any]:
    """Every number of the report (JSON-ready)."""
    duration = float(params["duration"])
    bar, bar_seconds = float(params["bar"]), float(params["barSeconds"])
    intake = _intake(load, duration, float(params["warmup"]))
    intake["secondsAtConnectionLimit"] = sum(
        1 for s in samples if s.t <= load.finished and s.in_flight >= int(params["connections"])
    )
    delivery, delivered_ps = _delivery(load, docs, wall0, params)
    delivery["drain"] = drain
    backlog = _backlog(samples, duration, float(params["rate"]))
    run_len, lost = delivery["sustainedSecondsAtBar"], delivery["lost"]
    sustained_ok = run_len >= bar_seconds
    reasons = []
    if not sustained_ok:
        reasons.append(
            f"the {ROLLING_S}-s delivered rate held >= {bar:g}/s for {run_len} s, "
            f"not {bar_seconds:g} s"
        )
    if backlog["growing"]:
        reasons.append("the backlog grew during the load phase")
    if backlog["samples"] < 6:
        reasons.append("too few backlog samples")
    if lost:
        reasons.append(f"{lost} accepted notifications are neither SENT nor FAILED")
    horizon = len(delivered_ps)
    return {
        "parameters": params,
        "intake": intake,
        "delivery": delivery,
        "backlog": backlog,
        "cpuDuringLoadPercentOfOneCore": cpu_load,
        "verdict": {
            "pass": not reasons,
            "bar": f">= {bar:g} delivered/s ({ROLLING_S}-s mean) for >= {bar_seconds:g} s, "
            "backlog not growing, 0 lost",
            "sustainedSeconds": run_len,
            "backlogGrowing": backlog["growing"],
            "lost": lost,
            "reasons": reasons,
        },
        "series": {
            "acceptedPerSecond": [load.accepted_by_second.get(i, 0) for i in range(horizon)],
            "deliveredPerSecond": delivered_ps,
            "samples": [s.as_dict() for s in samples],
        },
    }


def _fmt_lat(s: dict[str, Any]) -> str:
    if not s.get("count"):
        return "n/a"
    return f"p50 {s['p50']:.0f}  p95 {s['p95']:.0f}  p99 {s['p99']:.0f}  max {s['max']:.0f} ms"


def table(report: dict[str, Any]) -> str:
    p = report["parameters"]
    i = report.get("intake", {})
    d = report.get("delivery", {})
    b = report.get("backlog", {})
    v = report.get("verdict", {})
    m = report["machine"]
    ceiling = report.get("brokerCeiling") or {}
    lines: list[tuple[str, str]] = []

    def add(key: str, value: str) -> None:
        lines.append((key, value))

    add("machine", f"{m.get('nproc')} CPUs, {m.get('memTotalGiB')} GiB, {m.get('cpuModel', '')}")
    add(
        "system",
        f"{p['mode']}: {p['apiProcs']} API, {p['workersPerChannel']} worker(s) per "
        f"channel, providers {p['providerLatencyMs']} ms median",
    )
    if ceiling:
        add(
            "broker ceiling",
            f"{ceiling['ceiling']:.0f} msgs/s through (publish "
            f"{ceiling['publishRate']:.0f}/s confirmed, consume {ceiling['consumeRate']:.0f}/s "
            f"acked; persistent {ceiling['messageBytes']} B)",
        )
    if i:
        add(
            "offered",
            f"{p['rate']:g}/s for {p['duration']:g} s, batches of {p['batchSize']}, "
            f"{100 * p['singleFraction']:g}% singles ({i['planned']} planned, "
            f"{i['unsent']} unsent)",
        )
        add(
            "accepted",
            f"{i['accepted']} ({i['acceptedPerSecondSteady']:.0f}/s steady, "
            f"{i['acceptedPerSecondOverall']:.0f}/s overall); HTTP {i['httpStatus']}",
        )
        lat = i["latencyMs"]
        add("accept latency, batch req", _fmt_lat(lat["batchRequest"]))
        add("accept latency, single req", _fmt_lat(lat["singleRequest"]))
        add("accept latency, per notif.", _fmt_lat(lat["perNotification"]))
        add("schedule lag", _fmt_lat(i["scheduleLagMs"]))
        if i.get("secondsAtConnectionLimit", 0) > 0.1 * p["duration"]:
            add(
                "client limit",
                f"all {p['connections']} connections busy in "
                f"{i['secondsAtConnectionLimit']} of the sampled seconds: the API did not "
                "keep up at this concurrency (more --connections help only if its latency "
                "stays flat)",
            )
        add(
            "delivered",
            f"{d['deliveredPerSecondSteady']:.0f}/s steady (after "
            f"{p['warmup']:g} s warm-up); {ROLLING_S}-s rate >= {p['bar']:g}/s for "
            f"{d['sustainedSecondsAtBar']} s",
        )
        if ceiling.get("ceiling"):
            frac = d["deliveredPerSecondSteady"] / ceiling["ceiling"]
            add("delivered / ceiling", f"{100 * frac:.1f}% of the broker's ceiling")
        add("accepted->delivered", _fmt_lat(d["acceptedToDeliveredMs"]))
        add(
            "backlog",
            f"mid third {b['midThirdMean']}, last third {b['lastThirdMean']}, "
            f"slope {b['slopePerSecond']}/s, max {b['max']}, at load end {b['atLoadEnd']} -> "
            f"{'GROWING' if b['growing'] else 'not growing'}",
        )
        add("drain", f"{d['drain']['seconds']:.1f} s ({d['drain']['reason']})")
        add("final status", str(d["finalStatus"]))
        add("lost", f"{d['lost']} {d['lostByStatus'] or ''}")
        cpu = report.get("cpuDuringLoadPercentOfOneCore", {})
        ranked = sorted(cpu.items(), key=lambda kv: -kv[1])
        add("cpu during load", ", ".join(f"{k} {val:.0f}%" for k, val in ranked))
        outcome = "PASS" if v["pass"] else "FAIL: " + "; ".join(v["reasons"])
        add("VERDICT", f"{outcome}  (bar: {v['bar']})")
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"  {k:<{width}}  {val}" for k, val in lines)


def write_json(path: Path, report: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    tmp.replace(path)


def chart(path: Path, report: dict[str, Any]) -> None:
    """accepted/s, delivered/s, backlog and CPU over time (PNG, Agg backend)."""
    p = report["parameters"]
    series = report["series"]
    acc = series["acceptedPerSecond"]
    dlv = series["deliveredPerSecond"]
    samples = series["samples"]
    fig = Figure(figsize=(12, 10))
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
    xs = list(range(len(acc)))
    ax1.plot(xs, acc, label="accepted/s", color="tab:blue", linewidth=0.8, alpha=0.6)
    ax1.plot(
        xs,
        rolling_mean([float(x) for x in dlv], 1),
        label="delivered/s",
        color="tab:green",
        linewidth=0.8,
        alpha=0.6,
    )
    ax1.plot(
        xs,
        rolling_mean([float(x) for x in dlv], ROLLING_S),
        label=f"delivered/s ({ROLLING_S}-s mean)",
        color="darkgreen",
        linewidth=2,
    )
    ax1.axhline(p["rate"], color="tab:blue", linestyle="--", linewidth=0.8, label="offered")
    ax1.axhline(p["bar"], color="tab:red", linestyle=":", linewidth=1.2, label="bar")
    for ax in (ax1, ax2, ax3):
        ax.axvline(p["duration"], color="grey", linestyle="--", linewidth=0.8)
    ax1.set_ylabel("notifications/s")
    ax1.legend(loc="lower right", fontsize=8)
    verdict = report["verdict"]
    ax1.set_title(
        f"WaveCom bench {report['startedAt']}: offered {p['rate']:g}/s, delivered "
        f"{report['delivery']['deliveredPerSecondSteady']:.0f}/s steady - "
        f"{'PASS' if verdict['pass'] else 'FAIL'}"
    )
    ts = [s["t"] for s in samples]
    ax2.plot(
        ts,
        [s["backlog"] if s["backlog"] is not None else math.nan for s in samples],
        label="backlog: submitted (accepted or in flight), not yet SENT/FAILED",
        color="tab:orange",
    )
    ax2.plot(
        ts,
        [s["queued"] if s["queued"] is not None else math.nan for s in samples],
        label="in lane queues (ready + unacked, management API)",
        color="tab:purple",
        linewidth=0.8,
    )
    ax2.set_ylabel("notifications")
    ax2.legend(loc="upper left", fontsize=8)
    groups = sorted({g for s in samples for g in s["cpu"] if g != "total"})
    if groups:
        stacks = [[s["cpu"].get(g, 0.0) for s in samples] for g in groups]
        ax3.stackplot(ts, *stacks, labels=groups, alpha=0.8)
        ax3.set_ylabel("CPU % of one core")
        ax3.legend(loc="upper left", fontsize=7, ncol=4)
    ax3.set_xlabel("seconds since the start of the load")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp")
    fig.savefig(tmp, dpi=100, format="png")
    tmp.replace(path)
