"""Starting and stopping a private WaveCom system for a benchmark run.

The local stack (RabbitMQ, FerretDB) is shared and left running; everything else is private to
the run: a fresh RabbitMQ vhost, a fresh database, the API process(es) on free ports and the
channel workers. :meth:`LocalSystem.stop` ends the processes this run started (by pid) and,
unless asked to keep them, deletes the vhost and drops the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import httpx
import orjson
from aiormq.exceptions import AMQPError
from pydantic import SecretStr
from pymongo import MongoClient

from wavecom.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "services" / "devstack" / "stack.sh"
# what LocalSystem.env() sets for each run itself: never an inherited setting
_RUN_OWN = frozenset({"AMQP_URL", "MONGODB_URL", "MONGODB_DATABASE", "API_PORT", "LOG_LEVEL"})
LANE_QUEUES = tuple(
    f"wavecom.{c}.{lane}" for c in ("email", "sms", "push") for lane in ("high", "standard")
)
PROVIDER_NAMES = {
    "email": ("mailgrid", "postbox"),
    "sms": ("textwave", "smsly"),
    "push": ("pushfire", "beamer"),
}


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, never one this process handed out before (the kernel
    may give the same ephemeral port to two binds in a row once the first is closed)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def amqp_url_for(base: str, vhost: str) -> str:
    """``base`` with its vhost replaced by ``vhost`` (percent-encoded)."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def vhost_of(amqp_url: str) -> str:
    path = urlsplit(amqp_url).path
    return "/" if path in ("", "/") else path[1:].replace("%2F", "/").replace("%2f", "/")


def api_answers(url: str, timeout_s: float = 2.0) -> bool:
    """True when an HTTP server answers at ``url`` (any status)."""
    try:
        httpx.get(url.rstrip("/") + "/api/health", timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return True


def settings_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The product's settings that ``environ`` sets, which our processes inherit (a report
    must say so: ``BATCH_WAIT_MS=150 python -m loadtest.steps ...`` is not the shipped
    system); secrets, URLs and what each run sets itself left out."""
    out: dict[str, str] = {}
    for name, f in Settings.model_fields.items():
        key = name.upper()
        if (
            key in environ
            and key not in _RUN_OWN
            and not key.endswith("_URL")
            and f.annotation is not SecretStr
        ):
            out[key] = environ[key]
    return dict(sorted(out.items()))


@dataclass
class Management:
    """The few RabbitMQ management API calls the benchmark needs."""

    url: str
    user: str
    password: str

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(self.user, self.password), timeout=10)

    def create_vhost(self, vhost: str) -> None:
        with self._client() as c:
            c.put(f"/api/vhosts/{quote(vhost, safe='')}", json={}).raise_for_status()
            c.put(
                f"/api/permissions/{quote(vhost, safe='')}/{quote(self.user, safe='')}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
            ).raise_for_status()

    def delete_vhost(self, vhost: str) -> None:
        with self._client() as c:
            r = c.delete(f"/api/vhosts/{quote(vhost, safe='')}")
            if r.status_code not in (204, 404):
                r.raise_for_status()

    def overview(self) -> dict[str, object]:
        try:
            with self._client() as c:
                data: dict[str, object] = c.get("/api/overview").raise_for_status().json()
                return data
        except httpx.HTTPError:
            return {}


@dataclass
class Proc:
    name: str  # e.g. "api-1", "worker-email-1"
    group: str  # CPU accounting group: "api", "worker-email", ...
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# how the workers run: "one" process for every channel (make up's), or "apart", a process per
# channel (the chart's Deployments); the benchmarks' --worker-layout
WORKER_LAYOUTS = ("one", "apart")
WORKER_LAYOUT_HELP = (
    "one worker process for every channel (one, make up's) or one per channel (apart, the "
    "chart's Deployments)"
)


@dataclass
class LocalSystem:
    """API processes and channel workers in a fresh vhost and database."""

    run_id: str
    mgmt: Management
    amqp_base: str
    mongodb_url: str
    workers_per_channel: int = 1
    worker_layout: str = "one"  # one of WORKER_LAYOUTS: see worker_processes()
    api_procs: int = 1
    provider_latency_ms: float = 50.0
    provider_sigma: float = 0.25
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path = ROOT / ".state" / "bench"
    keep: bool = False
    # set: every process runs under loadtest.cpu_profile, its stats to <dir>/<name>.prof
    cpu_profile_dir: Path | None = None
    procs: list[Proc] = field(default_factory=list)
    api_urls: list[str] = field(default_factory=list)
    worker_metrics: list[str] = field(default_factory=list)
    api_metrics: list[str] = field(default_factory=list)
    vhost_created: bool = False

    @property
    def vhost(self) -> str:
        return f"bench-{self.run_id}"

    @property
    def database(self) -> str:
        return f"bench_{self.run_id.replace('-', '_')}"

    @property
    def amqp_url(self) -> str:
        return amqp_url_for(self.amqp_base, self.vhost)

    def stack_up(self) -> None:
        print(f"[bench] {STACK.relative_to(ROOT)} up", flush=True)
        subprocess.run([str(STACK), "up"], check=True, cwd=ROOT)  # noqa: S603

    def create_vhost(self) -> None:
        self.mgmt.create_vhost(self.vhost)
        self.vhost_created = True

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in _RUN_OWN:
            env.pop(key, None)
        env.update(
            {
                "AMQP_URL": self.amqp_url,
                "MONGODB_URL": self.mongodb_url,
                "MONGODB_DATABASE": self.database,
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for channel, names in PROVIDER_NAMES.items():
            env[f"PROVIDERS_{channel.upper()}"] = orjson.dumps(
                [
                    {
                        "name": n,
                        "latencyMs": self.provider_latency_ms,
                        "latencySigma": self.provider_sigma,
                    }
                    for n in names
                ]
            ).decode()
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, group: str, args: list[str], env: dict[str, str]) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        if self.cpu_profile_dir is not None:
            prof = self.cpu_profile_dir / f"{name}.prof"
            args = ["-m", "loadtest.cpu_profile", "--out", str(prof), "--from-signal", "--", *args]
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603
                [sys.executable, *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us
            )
        proc = Proc(name, group, popen, log)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        base = self.env()
        for i in range(self.api_procs):
            port, metrics_port = free_port(), free_port()
            env = {**base, "API_PORT": str(port)}
            self._spawn(
                f"api-{i + 1}",
                "api",
                ["-m", "wavecom.api", "--metrics-port", str(metrics_port)],
                env,
            )
            self.api_urls.append(f"http://127.0.0.1:{port}")
            self.api_metrics.append(f"http://127.0.0.1:{metrics_port}/metrics")
        for channels in self.worker_processes():
            for i in range(self.workers_per_channel):
                port = free_port()
                self._spawn(
                    f"worker-{'-'.join(channels)}-{i + 1}",
                    f"worker-{'-'.join(channels)}",
                    ["-m", "wavecom.worker", "--channel", *channels, "--metrics-port", str(port)],
                    base,
                )
                self.worker_metrics.append(f"http://127.0.0.1:{port}/metrics")

    def worker_processes(self) -> list[list[str]]:
        """The channels of each worker process the layout runs (each ``workers_per_channel``
        times)."""
        if self.worker_layout == "one":
            return [list(PROVIDER_NAMES)]
        return [[channel] for channel in PROVIDER_NAMES]

    def start_profiling(self) -> None:
        """Tell processes run under loadtest.cpu_profile to start profiling (SIGUSR1)."""
        if self.cpu_profile_dir is None:
            return
        for p in self.procs:
            if p.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.popen.send_signal(signal.SIGUSR1)

    def _check_alive(self) -> None:
        for p in self.procs:
            if p.popen.poll() is not None:
                raise RuntimeError(
                    f"{p.name} exited with {p.popen.returncode}; last lines of {p.log}:\n{p.tail()}"
                )

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until every API answers healthy and every lane queue has its consumers."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            for url in self.api_urls:
                while True:
                    self._check_alive()
                    with contextlib.suppress(httpx.HTTPError):
                        r = await client.get(url + "/api/health")
                        if r.status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the API at {url} did not become healthy")
                    await asyncio.sleep(0.25)
        connection = await aio_pika.connect(self.amqp_url)
        try:
            while True:
                self._check_alive()
                counts = await consumer_counts(connection)
                if all(counts.get(q, 0) >= self.workers_per_channel for q in LANE_QUEUES):
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"workers did not start consuming: {counts}")
                await asyncio.sleep(0.25)
        finally:
            await connection.close()

    def pids(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for p in self.procs:
            groups.setdefault(p.group, []).append(p.popen.pid)
        return groups

    def stop(self) -> None:
        """Stop our processes (SIGTERM, then SIGKILL after a grace period); idempotent."""
        for p in self.procs:
            if p.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 25
        for p in self.procs:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"[bench] {p.name} did not stop in time; killing it", flush=True)
                p.popen.kill()
                p.popen.wait()
        self.procs.clear()

    def cleanup(self) -> None:
        """Delete the run's vhost and database unless ``keep``."""
        if self.keep:
            print(f"[bench] keeping vhost {self.vhost!r} and database {self.database!r}")
            return
        if self.vhost_created:
            try:
                self.mgmt.delete_vhost(self.vhost)
                self.vhost_created = False
            except httpx.HTTPError as exc:
                print(f"[bench] could not delete vhost {self.vhost}: {exc}")
        try:
            client: MongoClient[dict[str, object]] = MongoClient(
                self.mongodb_url, serverSelectionTimeoutMS=5000
            )
            with client:
                client.drop_database(self.database)
        except Exception as exc:  # best effort at the end of a run
            print(f"[bench] could not drop database {self.database}: {exc}")


async def consumer_counts(
    connection: aio_pika.abc.AbstractConnection,
) -> dict[str, int]:
    """Consumers per lane queue (passive declares; a missing queue counts as 0)."""
    counts: dict[str, int] = {}
    for name in LANE_QUEUES:
        channel = await connection.channel()
        try:
            q = await channel.declare_queue(name, passive=True)
            counts[name] = int(q.declaration_result.consumer_count or 0)
        except AMQPError:
            counts[name] = 0
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
    return counts
