"""A real Prometheus (Debian's ``prometheus`` 2.42) on loopback, scraping the API, the workers
and RabbitMQ, with the alert rules loaded: the tests' and ``make up PROMETHEUS=1``'s.

    python -m tests.observability.prometheus serve   # make up's: ports 9100, 9101, 9104, 15692

``make test`` and ``make up PROMETHEUS=1`` install the package (``make prometheus-bin``); the
packaged service is not used: each run has its own configuration and data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml  # type: ignore[import-untyped]

from tests.observability.rules import ROOT, RULE_FILES

BINARY = "/usr/bin/prometheus"
RABBITMQ_METRICS = "127.0.0.1:15692"


@dataclass(frozen=True)
class Targets:
    """Where the system's metrics are: ``host:port`` of the API and of each worker."""

    api: str
    workers: Sequence[str]
    rabbitmq: str = RABBITMQ_METRICS
    vhost: str | None = None  # only this vhost's queues (tests share one RabbitMQ)
    callbacks: Sequence[str] = ()  # the callbacks process's metrics port, when it runs


def config(targets: Targets, rule_files: Sequence[Path], interval: str) -> dict[str, Any]:
    """A Prometheus configuration: the API's and the workers' metrics ports (/metrics),
    RabbitMQ's per-queue metrics and its aggregated ones, and ``rule_files``. RabbitMQ's
    per-queue endpoint is the one the chart's RabbitMQ ServiceMonitor scrapes (its values)."""
    path, params = rabbitmq_detailed()
    detailed = dict(params)
    if targets.vhost:
        detailed["vhost"] = [targets.vhost]
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": "wavecom-api",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [targets.api]}],
            },
            {
                "job_name": "wavecom-worker",
                "static_configs": [{"targets": list(targets.workers)}],
            },
            *_callbacks_job(targets),
            {
                "job_name": "rabbitmq-queues",
                "metrics_path": path,
                "params": detailed,
                "static_configs": [{"targets": [targets.rabbitmq]}],
            },
            {
                "job_name": "rabbitmq",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [targets.rabbitmq]}],
            },
        ],
    }


def _callbacks_job(targets: Targets) -> list[dict[str, Any]]:
    """The callbacks process's scrape job (docs/callbacks.md), when it runs."""
    if not targets.callbacks:
        return []
    return [
        {"job_name": "wavecom-callbacks", "static_configs": [{"targets": list(targets.callbacks)}]}
    ]


def rabbitmq_detailed() -> tuple[str, dict[str, list[str]]]:
    """The path and parameters of RabbitMQ's per-queue metrics, as the chart ships them
    (``monitoring.rabbitmq`` in its values.yaml): what the dashboards and alerts read."""
    values = yaml.safe_load((ROOT / "charts" / "wavecom-notify" / "values.yaml").read_text())
    rabbitmq = values["monitoring"]["rabbitmq"]
    return str(rabbitmq["detailedPath"]), {k: list(v) for k, v in rabbitmq["params"].items()}


def available() -> bool:
    return Path(BINARY).is_file() and shutil.which("promtool") is not None


def command(config_file: Path, data_dir: Path, port: int) -> list[str]:
    return [
        BINARY,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=7d",
        "--log.level=warn",
    ]


class Prometheus:
    """``async with Prometheus(dir, port, targets) as prom:`` runs one until the block ends."""

    def __init__(
        self,
        directory: Path,
        port: int,
        targets: Targets,
        *,
        rule_files: Sequence[Path] = RULE_FILES,
        interval: str = "1s",
    ) -> None:
        self.directory = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config_file = directory / "prometheus.yml"
        self.log_file = directory / "prometheus.log"
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            yaml.safe_dump(config(targets, rule_files, interval), sort_keys=False)
        )
        self.process: asyncio.subprocess.Process | None = None
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10)

    async def start(self, *, within: float = 60.0) -> None:
        """Start it and wait until it answers ready (deadline ``within``)."""
        with self.log_file.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command(self.config_file, self.directory / "data", self.port),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = asyncio.get_running_loop().time() + within
        while True:
            if self.process.returncode is not None:
                raise RuntimeError(f"prometheus exited: {self.log()}")
            try:
                if (await self.http.get("/-/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"prometheus not ready after {within}s: {self.log()}")
            await asyncio.sleep(0.1)  # polling interval of a deadline-bounded wait

    def log(self) -> str:
        return self.log_file.read_bytes()[-3000:].decode(errors="replace")

    async def api(self, path: str, **params: str | float) -> Any:
        """``/api/v1/<path>``'s data; raises with Prometheus's error when it refuses."""
        r = await self.http.get(f"/api/v1/{path}", params=params)
        body = r.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    async def instant(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def series_over(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        """What Grafana's range query of ``expr`` over [start, end] returns."""
        step = max(1.0, round((end - start) / 200, 1))
        data = await self.api("query_range", query=expr, start=start, end=end, step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def targets_up(self) -> dict[str, str]:
        """Scrape URL -> health of every active target."""
        data = await self.api("targets", state="active")
        return {t["scrapeUrl"]: t["health"] for t in data["activeTargets"]}

    async def stop(self) -> None:
        await self.http.aclose()
        p = self.process
        if p is None or p.returncode is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(p.wait(), 30)
        except TimeoutError:
            p.kill()
            await p.wait()

    async def __aenter__(self) -> Prometheus:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class PrometheusError(Exception):
    """Raised when Prometheus's HTTP API answers with an error (a bad query, say)."""


def serve(argv: Sequence[str]) -> None:
    """``make up``'s Prometheus in the foreground (exec'd: signals go straight to it)."""
    parser = argparse.ArgumentParser(prog="python -m tests.observability.prometheus serve")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PROMETHEUS_PORT", "9095")))
    parser.add_argument("--api", default="127.0.0.1:9100", help="the API's --metrics-port")
    parser.add_argument("--workers", default="127.0.0.1:9101", help="host:port,…")
    parser.add_argument("--callbacks", default="127.0.0.1:9104", help="host:port,… ('' none)")
    parser.add_argument("--interval", default="5s")
    args = parser.parse_args(argv)
    if not available():
        sys.exit("prometheus is not installed: make prometheus-bin")
    directory = ROOT / ".state" / "prometheus"
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "prometheus.yml"
    targets = Targets(
        args.api, args.workers.split(","), callbacks=[c for c in args.callbacks.split(",") if c]
    )
    config_file.write_text(
        yaml.safe_dump(config(targets, RULE_FILES, args.interval), sort_keys=False)
    )
    print(
        f"Prometheus on http://127.0.0.1:{args.port} (alerts at /alerts, data in "
        f"{directory.relative_to(ROOT)}/data)",
        flush=True,
    )
    cmd = command(config_file, directory / "data", args.port)
    os.execv(cmd[0], cmd)  # noqa: S606 - a fixed binary with our own arguments


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        sys.exit("usage: python -m tests.observability.prometheus serve [--port N]")
    serve(sys.argv[2:])
