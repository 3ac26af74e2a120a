"""The open-model driver: vegeta (``--driver vegeta``), a constant arrival rate from Go.

vegeta sends request k at ``k / rate`` seconds whatever happened to the earlier ones (it adds
workers as needed, no cap on requests in flight), which is what the single-request targets of
#16 ask for; the Python generator of ``loadtest/load.py`` needs a connection slot per request
in flight and spends a core of its own at 800 requests/s. vegeta is built from the Go module
proxy into the cache outside the repository (``make vegeta``).

:class:`VegetaGenerator` has the Python generator's interface (``result``, ``in_flight``,
``run(t0)``): the results stream from ``vegeta attack | vegeta encode --to json`` as they
complete, so the benchmark's monitor sees accepted counts live and the report is built the
same way. Singles only: the batch benchmark keeps the Python generator.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import orjson

from loadtest.load import SINGLE_PATH, Bodies, LoadResult, Sent

VERSION = "v12.13.0"
# where `make vegeta` builds it: the project's build cache, like every other build
BINARY = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "wavecom-notify"
    / f"vegeta-{VERSION}"
    / "bin"
    / "vegeta"
)


def binary() -> Path:
    found = BINARY if BINARY.is_file() else shutil.which("vegeta")
    if not found:
        raise SystemExit(f"[bench] vegeta is not built: run `make vegeta` (it goes to {BINARY})")
    return Path(found)


class VegetaGenerator:
    """``rate`` single creates a second for ``duration`` s, spread over ``urls``."""

    def __init__(
        self,
        urls: list[str],
        bodies: Bodies,
        *,
        rate: float,
        duration: float,
        timeout_s: float = 30.0,
        api_key: str = "",
    ) -> None:
        self.urls = urls
        self.bodies = bodies
        self.rate = rate
        self.duration = duration
        self.timeout_s = timeout_s
        self.api_key = api_key
        self.result = LoadResult()
        self._t0 = 0.0
        self._wall0 = 0.0

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet, from the schedule (vegeta keeps to it)."""
        sent = min(self.result.planned, int(max(0.0, time.monotonic() - self._t0) * self.rate))
        return max(0, sent - len(self.result.requests))

    @property
    def in_flight_items(self) -> int:
        return self.in_flight

    async def run(self, t0: float) -> LoadResult:
        self._t0 = t0
        self.result.planned = int(self.rate * self.duration)
        with tempfile.TemporaryDirectory(prefix="wavecom-vegeta-") as tmp:
            targets = Path(tmp) / "targets.jsonl"
            targets.write_bytes(self._targets())
            delay = t0 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # start on the benchmark's clock
            self._wall0 = time.time()
            vegeta = str(binary())
            attack = (
                f"{vegeta} attack -format=json -targets={targets} -rate={self.rate:g}/1s"
                f" -duration={self.duration:g}s -timeout={self.timeout_s:g}s -keepalive=true"
                f" -max-body=4096 | {vegeta} encode --to json"
            )
            proc = await asyncio.create_subprocess_shell(
                attack,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "GOMAXPROCS": "2"},
                limit=1 << 20,
            )
            assert proc.stdout is not None
            assert proc.stderr is not None
            async for line in proc.stdout:
                self._record(orjson.loads(line))
            err = await proc.stderr.read()
            if await proc.wait() != 0:
                raise RuntimeError(f"vegeta failed: {err.decode(errors='replace')[-2000:]}")
        self.result.finished = time.monotonic() - t0
        return self.result

    def _targets(self) -> bytes:
        header = {
            "Content-Type": ["application/json"],
            "Authorization": [f"Bearer {self.api_key}"],
        }
        lines = [
            orjson.dumps(
                {
                    "method": "POST",
                    "url": f"{url.rstrip('/')}{SINGLE_PATH}",
                    "body": base64.b64encode(body).decode(),
                    "header": header,
                }
            )
            for body in self.bodies.singles
            for url in self.urls
        ]
        return b"\n".join(lines) + b"\n"

    def _record(self, r: dict[str, object]) -> None:
        """One vegeta result: its send time, latency (ns), status, error and body."""
        sent_wall = _timestamp(str(r["timestamp"]))
        started = sent_wall - self._wall0
        latency = float(r["latency"]) / 1e9  # type: ignore[arg-type]
        status = int(r["code"])  # type: ignore[call-overload]
        seq = int(r["seq"])  # type: ignore[call-overload]
        accepted, error = 0, str(r.get("error") or "")
        if status == 201:
            body = base64.b64decode(str(r.get("body") or ""))
            try:
                self.result.ids.append(orjson.loads(body)["data"]["_id"])
                accepted = 1
            except (orjson.JSONDecodeError, KeyError, TypeError):
                error = "201 without a notification id in the body"
        elif not error:
            error = f"HTTP {status}"
        finished = started + latency
        self.result.requests.append(
            Sent(
                "single", seq / self.rate, started, finished, status, accepted, 1 - accepted, error
            )
        )
        self.result.last_send = max(self.result.last_send, started)
        if accepted:
            self.result.accepted_by_second[int(finished)] += 1


def _timestamp(text: str) -> float:
    """vegeta's RFC 3339 timestamp with nanoseconds -> Unix seconds."""
    head, _, frac = text.partition(".")
    if not frac:
        return datetime.fromisoformat(text).timestamp()
    digits = "".join(c for c in frac if c.isdigit())
    zone = frac[len(digits) :]
    base = datetime.fromisoformat(f"{head}{zone}").timestamp()
    return base + float(f"0.{digits}")
