"""End to end: the API and the three workers as real processes, a mixed batch, the ledger."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from bson import ObjectId

from tests.conftest import all_terminal, email, free_port, ledger, new_key, push, sms, wait_for
from wavecom.settings import Settings
from wavecom.store import Store

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


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
            "PROVIDERS_EMAIL": _providers(
                "mailgrid", "postbox", bounce="@bounce.example", flaky="@flaky.example"
            ),
            "PROVIDERS_SMS": _providers("textwave", "smsly", bounce="555000", flaky="555999"),
            "PROVIDERS_PUSH": _providers("pushfire", "beamer", bounce="-bounce", flaky="-flaky"),
        }
        self.procs: dict[str, asyncio.subprocess.Process] = {}
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

    async def spawn_api(
        self, name: str = "api", *, port: int | None = None, wait: bool = True, **env: str
    ) -> str:
        """Start an API process (on ``port``, else the system's) and return its URL."""
        if not self.key:  # the key its clients sign in with
            self.key = await new_key(self.settings)
        port = port or self.port
        await self.spawn(name, ["-m", "wavecom.api"], {"API_PORT": str(port), **env})
        url = f"http://127.0.0.1:{port}"
        if wait:
            await self.wait_healthy(name, url)
        return url

    async def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.procs[name] = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env={**self.env, **env},
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
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
        p = self.procs[name]
        return (await p.stderr.read()).decode()[-2000:] if p.stderr else ""

    async def stop(self) -> dict[str, int | None]:
        for p in self.procs.values():
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, p in self.procs.items():
            try:
                codes[name] = await asyncio.wait_for(p.wait(), 30)
            except TimeoutError:
                p.kill()
                codes[name] = None
        return codes


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    s = System(settings)
    await s.start()
    yield s
    await s.stop()


async def test_a_mixed_batch_ends_exactly_as_the_providers_dictate(
    system: System, store: Store, ledger_dir: Path
) -> None:
    items: list[dict[str, Any]] = []
    expect: list[str] = []

    def add(item: dict[str, Any], outcome: str) -> None:
        items.append(item)
        expect.append(outcome)

    priorities = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    for i in range(40):
        add({**email(i), "priority": priorities[i % 4]}, "SENT")
    for i in range(4):
        add(email(100 + i, domain="bounce.example"), "FAILED-permanent")
        add(email(200 + i, domain="flaky.example"), "FAILED-retried")
    for i in range(30):
        add({**sms(i), "priority": priorities[i % 4]}, "SENT")
    add({**sms(0), "recipient": "+234801555000"}, "FAILED-permanent")
    add({**sms(0), "recipient": "+234801555999"}, "FAILED-retried")
    for i in range(20):
        add({**push(i), "priority": priorities[i % 4]}, "SENT")
    add({**push(0), "recipient": "device-token-bounce"}, "FAILED-permanent")
    add({**push(0), "recipient": "device-token-flaky"}, "FAILED-retried")

    async with system.client(timeout=30) as http:
        r = await http.post("/api/notifications/batch", json={"notifications": items})
        assert r.status_code == 201, r.text
        ids = [x["data"]["_id"] for x in r.json()["data"]["results"]]
        single = await http.post("/api/notifications", json={**email(999), "priority": "HIGH"})
        assert single.status_code == 201
        ids.append(single.json()["data"]["_id"])
        expect.append("SENT")

        final = await wait_for(
            lambda: all_terminal(store, ids),
            within=60,
            what=f"{len(ids)} notifications to reach a final state",
        )
        docs = {str(d["_id"]): d for d in await store.get_many([ObjectId(i) for i in ids])}
        for nid, outcome in zip(ids, expect, strict=True):
            doc = docs[nid]
            if outcome == "SENT":
                assert final[nid] == "SENT", doc
                assert doc["retryCount"] == 0
                assert doc["providerMessageId"]
            elif outcome == "FAILED-permanent":
                assert final[nid] == "FAILED", doc
                assert doc["retryCount"] == 0
            else:
                assert final[nid] == "FAILED", doc
                assert doc["retryCount"] == 3

        sent_ids = {nid for nid, o in zip(ids, expect, strict=True) if o == "SENT"}
        assert ledger(ledger_dir) == Counter(dict.fromkeys(sent_ids, 1))

        async def settled() -> dict[str, Any] | None:
            # counters are written just after the statuses: give them their moment
            data: dict[str, Any] = (await http.get("/api/notifications/stats/system")).json()[
                "data"
            ]
            done = data["byStatus"]["SENT"] + data["byStatus"]["FAILED"] == len(ids)
            return (
                data
                if done and data["queueDepth"]["wavecom.dlq"] == len(ids) - len(sent_ids)
                else None
            )

        stats = await wait_for(settled, what="the counters to settle")
        assert stats["byStatus"]["SENT"] == len(sent_ids)
        assert stats["byStatus"]["FAILED"] == len(ids) - len(sent_ids)
        assert stats["queueDepth"]["wavecom.dlq"] == len(ids) - len(sent_ids)
        assert sum(v for k, v in stats["queueDepth"].items() if k != "wavecom.dlq") == 0

    codes = await system.stop()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so its exit status names the signal
    assert codes == {"api": -signal.SIGTERM, "email": 0, "sms": 0, "push": 0}
