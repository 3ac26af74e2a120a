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

from tests.system import ROOT, System
from wavecom.settings import Settings

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


async def run_locust(
    url: str, key: str, settings: Settings, results: Path, **env: str
) -> tuple[int, str]:
    """``locust --headless`` as a child process, bounded in time; (exit code, output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        url,
        "--only-summary",
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WAVECOM_API_KEY": key,
            "MONGODB_URL": settings.mongodb_url,
            "MONGODB_DATABASE": settings.mongodb_database,
            "WAVECOM_RESULTS_DIR": str(results),
            "WAVECOM_SHAPE": "steady",
            "WAVECOM_RATE": "20",
            "WAVECOM_USERS": "8",
            "WAVECOM_BATCH_SIZE": "10",
            "WAVECOM_WARMUP_S": "3",
            "WAVECOM_BROKER_SECONDS": "0",
            **env,
        },
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


@pytest.fixture
async def api_only(settings: Settings) -> AsyncIterator[System]:
    """The API without any worker: nothing it accepts is ever delivered."""
    async with System(settings) as s:
        await s.spawn_api()
        yield s


@pytest.fixture
async def whole(settings: Settings) -> AsyncIterator[System]:
    async with System(settings) as s:
        await s.start()
        yield s


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
    assert code == 1, out[-3000:]
    verdict = out[out.index("GATE FAIL") :]
    assert "delivered 0/s, below 0.95 x the target 20/s" in verdict, verdict
    assert "accepted notifications are not final after the drain" in verdict, verdict
    report = _report(tmp_path)
    assert report["verdict"]["pass"] is False
    assert report["intake"]["accepted"] > 0
    assert report["delivery"]["finalStatus"] == {"QUEUED": report["intake"]["accepted"]}
    assert report["delivery"]["lost"] == report["intake"]["accepted"]


async def test_a_short_run_at_20_a_second_passes_its_gate_with_the_benchmarks_report(
    whole: System, settings: Settings, tmp_path: Path
) -> None:
    code, out = await run_locust(
        whole.url, whole.key, settings, tmp_path, WAVECOM_DURATION="15", WAVECOM_DRAIN_S="60"
    )
    assert code == 0, out[-3000:]
    assert "GATE PASS" in out
    report = _report(tmp_path)
    accepted = report["intake"]["accepted"]
    assert accepted >= 0.9 * 20 * 15  # the planned rate was offered
    assert report["delivery"]["finalStatus"] == {"SENT": accepted}
    assert report["delivery"]["lost"] == 0
    assert report["verdict"]["pass"] is True
    assert report["verdict"]["deliveredPerSecond"] >= 19
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
