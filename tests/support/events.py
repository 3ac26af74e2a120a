"""A reader of the API's server-sent event stream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson


class Stream:
    """Reads one /api/events response in the background: every event, with its arrival time."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.events: list[tuple[float, str, Any]] = []
        self.status = 0
        self.ended = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async with self.http.stream("GET", "/api/events") as r:
                self.status = r.status_code
                assert r.headers["content-type"].startswith("text/event-stream")
                name, data = "message", ""
                async for line in r.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data += line[6:]
                    elif line == "" and data:
                        self.events.append((time.monotonic(), name, orjson.loads(data)))
                        name, data = "message", ""
        finally:
            self.ended.set()

    def named(self, name: str) -> list[Any]:
        return [data for _, n, data in self.events if n == name]

    async def has(self, name: str) -> list[Any]:
        """For ``wait_for``: the events named ``name`` so far (empty: none yet)."""
        return self.named(name)

    def latest(self) -> dict[str, dict[str, Any]]:
        states: dict[str, dict[str, Any]] = {}
        for batch in self.named("notification"):
            for e in batch:
                if e["_id"] not in states or states[e["_id"]]["updatedAt"] <= e["updatedAt"]:
                    states[e["_id"]] = e
        return states

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
