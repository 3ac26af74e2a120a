"""Request bodies and the paced, open-loop HTTP load generator.

Bodies are built once before the run (a pool of batch bodies and single bodies, serialized to
bytes) so that the generator spends its CPU on sockets, not on JSON. Sends are scheduled on a
fixed clock: send k of a stream is due at ``k * interval`` seconds after the start, whatever
happened to earlier sends. A send waits only for a free connection slot; how late it started
against its due time is recorded as *lag* (the API not keeping up shows there, and a late
stream catches up by sending back to back, as an open-loop client does).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

CHANNELS: tuple[str, ...] = ("EMAIL", "SMS", "PUSH")
PRIORITIES: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
BATCH_PATH = "/api/notifications/batch"
SINGLE_PATH = "/api/notifications"


def parse_mix(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """``"EMAIL=0.5,SMS=0.3,PUSH=0.2"`` -> normalized weights (every name must be known)."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        key = key.strip().upper()
        if key not in names:
            raise ValueError(f"unknown name {key!r} in {text!r} (expected {', '.join(names)})")
        weights[key] = float(value)
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights in {text!r} must be >= 0 and not all 0")
    return {k: w / total for k, w in weights.items()}


def notification(seq: int, channel: str, priority: str) -> dict[str, Any]:
    """One valid notification of the given channel and priority (about 300 bytes as JSON)."""
    item: dict[str, Any] = {
        "type": channel,
        "priority": priority,
        "message": f"Your order #{100000 + seq} has shipped and will arrive within 2 business "
        "days. Track it in the app.",
        "metadata": {"source": "loadtest", "seq": seq, "campaign": "bench"},
    }
    if channel == "EMAIL":
        item["recipient"] = f"user{seq}@example.com"
        item["subject"] = f"Order #{100000 + seq} shipped"
    elif channel == "SMS":
        item["recipient"] = f"+2348{seq % 10**9:09d}"
    else:
        item["recipient"] = f"devtoken_{seq:024x}"
    return item


@dataclass(frozen=True, slots=True)
class Bodies:
    batches: list[bytes]
    singles: list[bytes]
    batch_size: int


def build_bodies(
    batch_size: int,
    channel_mix: dict[str, float],
    priority_mix: dict[str, float],
    seed: int,
    n_batches: int = 32,
    n_singles: int = 256,
) -> Bodies:
    rng = random.Random(seed)
    channels, cw = list(channel_mix), list(channel_mix.values())
    priorities, pw = list(priority_mix), list(priority_mix.values())
    seq = 0

    def item() -> dict[str, Any]:
        nonlocal seq
        seq += 1
        return notification(seq, rng.choices(channels, cw)[0], rng.choices(priorities, pw)[0])

    batches = [
        orjson.dumps({"notifications": [item() for _ in range(batch_size)]})
        for _ in range(n_batches if batch_size > 0 else 0)
    ]
    singles = [orjson.dumps(item()) for _ in range(n_singles)]
    return Bodies(batches=batches, singles=singles, batch_size=batch_size)


@dataclass(slots=True)
class Sent:
    """One HTTP request; times are seconds since the start of the load phase."""

    kind: str  # "batch" or "single"
    due: float
    started: float
    finished: float
    status: int  # HTTP status, 0 when the request failed without one
    accepted: int
    rejected: int
    error: str = ""

    @property
    def latency(self) -> float:
        return self.finished - self.started

    @property
    def lag(self) -> float:
        return self.started - self.due


@dataclass
class LoadResult:
    requests: list[Sent] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    planned: int = 0  # notifications the schedule asked for
    unsent: int = 0  # scheduled notifications never sent (the run ended first)
    accepted_by_second: Counter[int] = field(default_factory=Counter)
    last_send: float = 0.0  # when the last request was started
    finished: float = 0.0  # when the last response arrived

    @property
    def accepted(self) -> int:
        return len(self.ids)


class LoadGenerator:
    """Sends ``rate`` notifications/s for ``duration`` s: batches plus a fraction of singles."""

    def __init__(
        self,
        urls: list[str],
        bodies: Bodies,
        *,
        rate: float,
        duration: float,
        single_fraction: float,
        connections: int,
        grace_s: float = 15.0,
        timeout_s: float = 30.0,
        api_key: str = "",
    ) -> None:
        self.urls = urls
        self.api_key = api_key
        self.bodies = bodies
        self.rate = rate
        self.duration = duration
        self.single_fraction = single_fraction if bodies.batch_size > 0 else 1.0
        self.connections = connections
        self.grace_s = grace_s
        self.timeout_s = timeout_s
        self.result = LoadResult()
        self.in_flight = 0  # requests
        self.in_flight_items = 0  # notifications in those requests
        self._slots = asyncio.Semaphore(connections)
        self._tasks: set[asyncio.Task[None]] = set()
        self._clients: list[httpx.AsyncClient] = []
        self._next_client = 0
        self._t0 = 0.0

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def run(self, t0: float) -> LoadResult:
        """Run the schedule that starts at monotonic time ``t0``; returns when every response
        (or timeout) is in."""
        self._t0 = t0
        limits = httpx.Limits(
            max_connections=self.connections, max_keepalive_connections=self.connections
        )
        self._clients = [
            httpx.AsyncClient(
                base_url=u,
                limits=limits,
                timeout=self.timeout_s,
                headers={
                    "content-type": "application/json",
                    "authorization": f"Bearer {self.api_key}",
                },
            )
            for u in self.urls
        ]
        try:
            streams = []
            single_rate = self.rate * self.single_fraction
            batch_rate = self.rate - single_rate
            if batch_rate > 0:
                interval = self.bodies.batch_size / batch_rate
                streams.append(
                    self._pace(
                        "batch",
                        interval,
                        0.0,
                        self.bodies.batches,
                        self.bodies.batch_size,
                    )
                )
            if single_rate > 0:
                interval = 1.0 / single_rate
                # offset by half an interval so singles fall between batches
                streams.append(self._pace("single", interval, interval / 2, self.bodies.singles, 1))
            await asyncio.gather(*streams)
            if self._tasks:
                await asyncio.wait(self._tasks)
            self.result.finished = self.now()
            return self.result
        finally:
            for c in self._clients:
                await c.aclose()

    async def _pace(
        self,
        kind: str,
        interval: float,
        offset: float,
        bodies: list[bytes],
        per_send: int,
    ) -> None:
        n = int((self.duration - offset) / interval) + 1 if self.duration > offset else 0
        self.result.planned += n * per_send
        for k in range(n):
            due = offset + k * interval
            delay = due - self.now()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._slots.acquire()
            started = self.now()
            if started > self.duration + self.grace_s:
                self._slots.release()
                self.result.unsent += (n - k) * per_send
                return
            self.in_flight += 1
            self.in_flight_items += per_send
            self.result.last_send = max(self.result.last_send, started)
            body = bodies[k % len(bodies)]
            task = asyncio.create_task(self._send(kind, body, per_send, due, started))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _client(self) -> httpx.AsyncClient:
        client = self._clients[self._next_client % len(self._clients)]
        self._next_client += 1
        return client

    async def _send(self, kind: str, body: bytes, items: int, due: float, started: float) -> None:
        status, accepted, rejected, error = 0, 0, 0, ""
        ids = self.result.ids
        try:
            path = BATCH_PATH if kind == "batch" else SINGLE_PATH
            response = await self._client().post(path, content=body)
            status = response.status_code
            if status == 201:
                data = orjson.loads(response.content)["data"]
                if kind == "batch":
                    for r in data["results"]:
                        if r["success"]:
                            ids.append(r["data"]["_id"])
                            accepted += 1
                        else:
                            rejected += 1
                else:
                    ids.append(data["_id"])
                    accepted = 1
            else:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        finally:
            # no await between counting the accepted ids and this: samples stay consistent
            self.in_flight -= 1
            self.in_flight_items -= items
            self._slots.release()
        finished = self.now()
        self.result.requests.append(
            Sent(kind, due, started, finished, status, accepted, rejected, error)
        )
        if accepted:
            self.result.accepted_by_second[int(finished)] += accepted
