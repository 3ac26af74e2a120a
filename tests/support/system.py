"""The API and the workers as real processes, started as the deployment starts them.

``async with System(settings) as system:`` stops (and reaps) every process it started, even when
the test fails half-way; each process's output is in ``system.log_dir``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.processes import new_key
from tests.support.services import free_port
from tests.support.wait import wait_for
from wavecom.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _providers(a: str, b: str, *, bounce: str, flaky: str) -> str:
    rules = [{"suffix": bounce, "outcome": "permanent"}, {"suffix": flaky, "outcome": "transient"}]
    return orjson.dumps(
        [
            {"name": a, "latencyMs": 20, "rules": rules},
            {"name": b, "latencyMs": 20, "rules": rules},
        ]
    ).decode()


class System:
    """The API and one worker per channel, started as the deployment starts them."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # the API's Prometheus metrics, on their own port as in a pod (--metrics-port)
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}"
        self.env = {
            **os.environ,
            "AMQP_URL": settings.amqp_url,
            "MONGODB_URL": settings.mongodb_url,
            "MONGODB_DATABASE": settings.mongodb_database,
            "LEDGER_DIR": settings.ledger_dir,
            "RETRY_BASE_DELAY_MS": "200",
            "RETRY_MULTIPLIER": "2",
            # the always-failing recipients must not trip the breakers here (tested elsewhere)
            "BREAKER_FAIL_MAX": "1000",
            # a busy test machine stalls processes for hundreds of ms: shedding on event-loop
            # lag is tested on its own (tests/api/test_admission.py), not in every system test
            "ADMISSION_MAX_LAG_MS": str(settings.admission_max_lag_ms),
            "ADMISSION_QUEUE_DEADLINE_S": str(settings.admission_queue_deadline_s),
            # counters settle as soon as the documents are written (the tests read the stats
            # then); the linger is tested by tests/test_stats_after_kills.py and
            # tests/store/test_settling.py
            "SETTLE_LINGER_MS": str(settings.settle_linger_ms),
            "PROVIDERS_EMAIL": _providers(
                "mailgrid", "postbox", bounce="@bounce.example", flaky="@flaky.example"
            ),
            "PROVIDERS_SMS": _providers("textwave", "smsly", bounce="555000", flaky="555999"),
            "PROVIDERS_PUSH": _providers("pushfire", "beamer", bounce="-bounce", flaky="-flaky"),
        }
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.log_dir = Path(tempfile.mkdtemp(prefix="wavecom-system-"))
        self.settings = settings
        self.key = ""

    async def start(self) -> None:
        for channel in ("email", "sms", "push"):
            await self.spawn_worker(channel)
        await self.spawn_api()

    def client(self, **options: Any) -> httpx.AsyncClient:
        """An HTTP client of the API process, signed in with an every-scope key of TENANT."""
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, **options
        )

    async def spawn_worker(self, channel: str, **env: str) -> None:
        await self.spawn(channel, ["-m", "wavecom.worker", "--channel", channel], env)

    async def spawn_callbacks(
        self, name: str = "callbacks", *, metrics_port: int = 0, **env: str
    ) -> None:
        """The status callbacks process (``python -m wavecom.callbacks``), with retries fast
        enough for a test (a backoff from 0.2 s up to 1 s, a 2 s timeout); ``env`` overrides;
        ``metrics_port``: its /metrics, /healthz and /readyz."""
        fast = {
            "CALLBACK_BACKOFF_BASE_S": "0.2",
            "CALLBACK_BACKOFF_MAX_S": "1",
            "CALLBACK_TIMEOUT_S": "2",
            "CALLBACK_POLL_S": "0.2",
            "CALLBACK_REPAIR_S": "2",
        }
        args = ["-m", "wavecom.callbacks"]
        if metrics_port:
            args += ["--metrics-port", str(metrics_port)]
        await self.spawn(name, args, {**fast, **env})

    async def spawn_api(
        self, name: str = "api", *, port: int | None = None, wait: bool = True, **env: str
    ) -> str:
        """Start an API process (on ``port``, else the system's, then with its metrics on
        ``metrics_port``) and return its URL."""
        if not self.key:  # the key its clients sign in with
            self.key = await new_key(self.settings)
        args = ["-m", "wavecom.api"]
        if port is None:
            args += ["--metrics-port", str(self.metrics_port)]
        port = port or self.port
        await self.spawn(name, args, {"API_PORT": str(port), **env})
        url = f"http://127.0.0.1:{port}"
        if wait:
            await self.wait_healthy(name, url)
        return url

    async def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        """Start a process; its output goes to a file, never to a pipe nobody drains (a full
        pipe blocks a chatty process mid-test)."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as out:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                env={**self.env, **env},
                cwd=ROOT,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def wait_healthy(self, api: str = "api", url: str = "") -> None:
        async def healthy() -> bool:
            p = self.procs[api]
            assert p.returncode is None, f"{api} exited: {await self._stderr(api)}"
            try:
                async with httpx.AsyncClient() as c:
                    return (await c.get(f"{url or self.url}/api/health")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(healthy, within=30, interval=0.2, what="the API to answer")

    async def _stderr(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_bytes()[-2000:].decode(errors="replace") if path.exists() else ""

    async def stop(self) -> dict[str, int | None]:
        """SIGTERM every process, wait for each (SIGKILL after 30 s); return the exit codes,
        None for a process that had to be killed. Every process is reaped before this returns,
        so no subprocess transport outlives the test's event loop."""
        for p in self.procs.values():
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, p in self.procs.items():
            try:
                codes[name] = await asyncio.wait_for(p.wait(), 30)
            except TimeoutError:
                p.kill()
                await p.wait()
                codes[name] = None
        return codes

    async def __aenter__(self) -> System:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
