"""The locust run against real API and worker processes: a short run at a low rate passes its
gate and writes the benchmark's report, and a run against a system whose workers were never
started fails its gate and says why."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.services import free_port
from tests.support.system import ROOT, System
from wavecom.core.settings import Settings

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


async def locust(url: str, env: dict[str, str], *args: str, cwd: Path = ROOT) -> tuple[int, str]:
    """``locust --headless`` as a child process, bounded in time; (exit code, output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        *args,
        "--host",
        url,
        "--only-summary",
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 240)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def run_locust(
    url: str, key: str, settings: Settings, results: Path, **env: str
) -> tuple[int, str]:
    """A shaped, gated run (``WAVECOM_SHAPE=steady`` at 20/s unless ``env`` says otherwise)."""
    return await locust(
        url,
        {
            **os.environ,
            "WAVECOM_API_KEY": key,
            "MONGODB_URL": settings.mongodb_url,
            "MONGODB_DATABASE": settings.mongodb_database,
            "WAVECOM_RESULTS_DIR": str(results),
            "WAVECOM_SHAPE": "steady",
            "WAVECOM_RATE": "20",
            "WAVECOM_USERS": "8",
            "WAVECOM_BATCH_SIZE": "5",
            "WAVECOM_WARMUP_S": "3",
            "WAVECOM_BROKER_SECONDS": "0",
            **env,
        },
    )


def said(out: str) -> str:
    """What the locustfile printed (the gate's lines), for an assertion's message."""
    return "\n".join(line for line in out.splitlines() if "[locust]" in line or "rror" in line)


@pytest.fixture
async def api_only(settings: Settings) -> AsyncIterator[System]:
    """The API without any worker: nothing it accepts is ever delivered."""
    async with System(settings) as s:
        await s.spawn_api()
        yield s


@pytest.fixture
async def whole(settings: Settings) -> AsyncIterator[tuple[System, str]]:
    """The API and a worker per channel serving Prometheus metrics; and their URLs."""
    async with System(settings) as s:
        urls = []
        for channel in ("email", "sms", "push"):
            port = free_port()
            args = ["-m", "wavecom.worker", "--channel", channel, "--metrics-port", str(port)]
            await s.spawn(channel, args, {})
            urls.append(f"http://127.0.0.1:{port}/metrics")
        await s.spawn_api()
        yield s, ",".join(urls)


async def test_a_run_against_a_system_without_workers_fails_its_gate_and_says_why(
    api_only: System, settings: Settings, tmp_path: Path
) -> None:
    code, out = await run_locust(
        api_only.url,
        api_only.key,
        settings,
        tmp_path,
        WAVECOM_DURATION="8",
        WAVECOM_DRAIN_S="3",
    )
    assert code == 1, said(out)
    verdict = out[out.index("GATE FAIL") :]
    assert "delivered 0/s, below 0.95 x the target 20/s" in verdict, verdict
    assert "accepted notifications are not final after the drain" in verdict, verdict
    report = _report(tmp_path)
    assert report["verdict"]["pass"] is False
    assert report["intake"]["accepted"] > 0
    assert report["delivery"]["finalStatus"] == {"QUEUED": report["intake"]["accepted"]}
    assert report["delivery"]["lost"] == report["intake"]["accepted"]


async def test_a_short_run_at_20_a_second_passes_its_gate_with_the_benchmarks_report(
    whole: tuple[System, str], settings: Settings, tmp_path: Path
) -> None:
    system, metrics = whole
    code, out = await run_locust(
        system.url,
        system.key,
        settings,
        tmp_path,
        WAVECOM_DURATION="15",
        WAVECOM_DRAIN_S="60",
        WAVECOM_WORKER_METRICS=metrics,
        # 11 s between the warm-up and the end: a batch more or less in the window is 5 %
        WAVECOM_MIN_DELIVERED_RATIO="0.9",
        # the gate's mechanics are tested here, not this machine's latency: a busy one may
        # answer a batch in over 2 s
        WAVECOM_MAX_ACCEPT_P95_MS="10000",
    )
    assert code == 0, said(out)
    assert "GATE PASS" in out
    report = _report(tmp_path)
    accepted = report["intake"]["accepted"]
    assert accepted >= 0.9 * 20 * 15  # the planned rate was offered
    assert report["delivery"]["finalStatus"] == {"SENT": accepted}
    assert report["delivery"]["lost"] == 0
    assert report["verdict"]["pass"] is True
    assert report["verdict"]["deliveredPerSecond"] >= 18
    assert {s["source"] for s in report["series"]["samples"]} == {"workers"}  # exact counts
    # every task ran: batches, singles (with and without a key), status and list reads
    names = set(report["locust"]["byName"])
    assert {
        "POST /api/notifications/batch",
        "POST /api/notifications",
        "GET /api/notifications/[id]",
        "GET /api/notifications?list",
    } <= names
    # the same report as `make bench`: a chart beside the JSON
    assert report["chart"].endswith(".png")


def _report(results: Path) -> dict[str, Any]:
    """The run's JSON report, with the path of its chart (which must exist) as ``chart``."""
    (path,) = results.glob("locust-steady-*.json")
    report: dict[str, Any] = orjson.loads(path.read_bytes())
    (chart,) = results.glob("locust-steady-*.png")
    assert chart.stat().st_size > 10_000
    return {**report, "chart": str(chart)}


async def test_a_plain_locust_command_honours_users_rate_and_time_and_exits_0(
    whole: tuple[System, str], settings: Settings, tmp_path: Path
) -> None:
    """``locust -f loadtest/locustfile.py --headless -u 5 -r 5 -t 10s --host …`` as locust's
    documentation has it: no WAVECOM_SHAPE, so no shape class, no drain and no gate."""
    system, _ = whole
    plain = {k: v for k, v in os.environ.items() if not k.startswith("WAVECOM_")}
    code, out = await locust(
        system.url,
        {**plain, "WAVECOM_API_KEY": system.key, "WAVECOM_REPORT": "0"},
        *("-u", "5", "-r", "5", "-t", "10s"),
        cwd=tmp_path,
    )
    assert code == 0, said(out)
    assert "[locust] none:" in out, said(out)
    assert "5 users now; no gate" in out, said(out)
    assert "GATE" not in out  # nobody asked for a gate
    # the run lasted its -t, not the 150 s of a shape (the summary names the requests made)
    assert "POST" in out, out[-2000:]
    assert "Aggregated" in out, out[-2000:]
