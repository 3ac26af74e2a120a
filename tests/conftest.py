"""Fixtures on the real RabbitMQ and the real database (``make test`` starts both).

Every test gets its own RabbitMQ virtual host and its own database, so tests never see each
other's messages or documents, and a running ``make up`` is left alone.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aio_pika
import httpx
import orjson
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient, monitoring

from wavecom.api.app import create_app
from wavecom.constants import Channel, Scope
from wavecom.keys import Keys
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.settings import Settings
from wavecom.store import Doc, Store
from wavecom.worker import Worker

T = TypeVar("T")

AMQP_HOST = os.environ.get("TEST_AMQP_HOST", "127.0.0.1:5672")
MANAGEMENT_URL = os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")
MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
GUEST = ("guest", "guest")


def _management() -> httpx.Client:
    return httpx.Client(base_url=MANAGEMENT_URL, auth=GUEST, timeout=10)


def create_vhost(prefix: str = "wavecom-test") -> str:
    """A fresh RabbitMQ virtual host that guest may use; delete it with ``delete_vhost``."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    put_vhost(name)
    return name


def put_vhost(name: str) -> None:
    """Create (or re-create) a virtual host that guest may use."""
    with _management() as m:
        m.put(f"/api/vhosts/{quote(name, safe='')}").raise_for_status()
        m.put(
            f"/api/permissions/{quote(name, safe='')}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()


def delete_vhost(name: str) -> None:
    with _management() as m:
        m.delete(f"/api/vhosts/{quote(name, safe='')}")


def drop_database(name: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(MONGODB_URL, serverSelectionTimeoutMS=5000)
    client.drop_database(name)
    client.close()


def amqp_url(vhost: str) -> str:
    return f"amqp://guest:guest@{AMQP_HOST}/{quote(vhost, safe='')}"


_HANDED_OUT: set[int] = set()
# below the kernel's ephemeral range (32768-60999), which outgoing connections and port-0 binds
# draw from, and clear of the fixed ports of the dev stack and the test clusters
_FREE_PORTS = range(19000, 23000)


def free_port() -> int:
    """A loopback port nothing listens on, never the same twice in one run: two ports asked
    for in a row (an API's and its metrics') once came back equal from the ephemeral range."""
    for _ in range(1000):
        port = random.choice(_FREE_PORTS)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {_FREE_PORTS}")


@pytest.fixture
def vhost() -> Iterator[str]:
    """A fresh RabbitMQ virtual host, deleted afterwards."""
    name = create_vhost()
    yield name
    delete_vhost(name)


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database name, dropped afterwards."""
    name = f"wavecom_test_{uuid.uuid4().hex[:10]}"
    yield name
    drop_database(name)


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    path = tmp_path / "ledger"
    path.mkdir()
    return path


@pytest.fixture
def settings(vhost: str, database: str, ledger_dir: Path) -> Settings:
    """Settings for one test: its own vhost and database, fast retries."""
    return Settings(
        environment="test",
        amqp_url=amqp_url(vhost),
        mongodb_url=MONGODB_URL,
        mongodb_database=database,
        retry_base_delay_ms=250,
        retry_multiplier=2.0,
        retry_jitter=0.1,
        batch_wait_ms=5,
        breaker_reset_s=2.0,
        ledger_dir=str(ledger_dir),
        provider_seed=7,
        scheduler_interval_s=0.2,
        # no shedding on event-loop lag: a busy test machine stalls a process for hundreds of
        # ms; tests/api/test_admission.py tests it with a loop it blocks itself
        admission_max_lag_ms=0,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    s = Store.connect(settings.mongodb_url, settings.mongodb_database)
    await s.ensure_indexes()
    yield s
    await s.close()


@pytest.fixture
def commands() -> Commands:
    """The database commands ``watched_store`` sends."""
    return Commands()


@pytest.fixture
async def watched_store(settings: Settings, commands: Commands) -> AsyncIterator[Store]:
    """A store of the test's database whose client reports every command to ``commands``."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    s = Store(client, settings.mongodb_database)
    yield s
    await s.close()


TENANT = "acme"  # the tenant of the keys the fixtures sign in with
EVERY_SCOPE = frozenset(Scope)


async def new_key(
    settings: Settings, tenant: str = TENANT, scopes: frozenset[Scope] = EVERY_SCOPE
) -> str:
    """A new API key in the test's database."""
    store = Store.connect(settings.mongodb_url, settings.mongodb_database)
    try:
        _, token = await Keys(store).create(tenant, scopes, "tests")
    finally:
        await store.close()
    return token


@asynccontextmanager
async def serve(
    settings: Settings, *, tenant: str = TENANT, scopes: frozenset[Scope] = EVERY_SCOPE
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process (its lifespan connects to the real stack), and a client that signs
    in with a new key of ``tenant`` holding ``scopes``."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        _, token = await app.state.auth.keys.create(tenant, scopes, "tests")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the API in-process, signed in as TENANT with every scope."""
    async with serve(settings) as http:
        yield http


@pytest.fixture
async def queue_depth(settings: Settings) -> AsyncIterator[Callable[[str], Awaitable[int]]]:
    """``await queue_depth(name)``: messages ready in a queue of this test's vhost."""
    connection = await aio_pika.connect(settings.amqp_url)
    channel = await connection.channel()

    async def depth(name: str) -> int:
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)

    yield depth
    await connection.close()


async def queue_empty(depth: Callable[[str], Awaitable[int]], name: str) -> bool:
    """For ``wait_for``: is queue ``name`` empty (``depth`` is the queue_depth fixture)?"""
    return await depth(name) == 0


async def wait_for(
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)  # polling interval of a deadline-bounded wait
    pytest.fail(f"timed out after {within}s waiting for {what} (last: {last!r})")


class Commands(monitoring.CommandListener):
    """Database commands a client sent, by (command, collection): pass it in
    ``event_listeners`` of the client under test."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen[(event.command_name, str(event.command.get(event.command_name)))] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def email(i: int = 0, domain: str = "example.com") -> dict[str, Any]:
    return {
        "type": "EMAIL",
        "recipient": f"user{i}@{domain}",
        "subject": "Your code",
        "message": f"Your one-time code is {100000 + i}",
    }


def sms(i: int = 0) -> dict[str, Any]:
    return {"type": "SMS", "recipient": f"+23480{i:08d}", "message": f"Payment {i} received"}


def push(i: int = 0) -> dict[str, Any]:
    return {"type": "PUSH", "recipient": f"device-token-{i:010d}", "message": f"Parcel {i} out"}


# --- a worker in-process, and helpers to watch notifications ----------------------------------

TWO_PROVIDERS = orjson.dumps(
    [
        {
            "name": "alpha",
            "latencyMs": 5,
            "rules": [
                {"suffix": "@bounce.example", "outcome": "permanent"},
                {"suffix": "@flaky.example", "outcome": "transient"},
                {"suffix": "@alpha-down.example", "outcome": "transient"},
            ],
        },
        {
            "name": "beta",
            "latencyMs": 5,
            "rules": [
                {"suffix": "@bounce.example", "outcome": "permanent"},
                {"suffix": "@flaky.example", "outcome": "transient"},
            ],
        },
    ]
).decode()


async def put_mock_account(
    store: Store,
    name: str,
    channel: Channel = Channel.EMAIL,
    *,
    priority: int = 10,
    enabled: bool = True,
    send_rate: float = 0.0,
    tenants: tuple[str, ...] = (),
    **mock: Any,
) -> accounts.Account:
    """Create or change a mock provider account as the admin CLI does (workers reload it)."""
    spec = accounts.AccountSpec(
        channel=channel,
        driver="mock",
        priority=priority,
        enabled=enabled,
        send_rate_per_second=send_rate,
        tenants=tenants,
        settings=mock,
    )
    return await accounts.apply(
        store, Cipher({}, None), name, spec, None, source="admin", environment="test"
    )


class Workers:
    """Channel workers running in-process: ``await workers(Channel.SMS, batch_size=10)``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: dict[Worker, asyncio.Task[None]] = {}

    async def __call__(self, channel: Channel = Channel.EMAIL, **overrides: Any) -> Worker:
        worker = await Worker.start(self.settings.model_copy(update=overrides), channel)
        self.running[worker] = asyncio.create_task(worker.run())
        return worker

    async def stop(self, worker: Worker) -> None:
        """Stop as SIGTERM does: it finishes and acks what it holds."""
        worker.stop()
        await asyncio.wait_for(self.running.pop(worker), 30)


RunWorker = Workers


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"providers_email": TWO_PROVIDERS, "providers_sms": TWO_PROVIDERS}
    )


@pytest.fixture
async def api(worker_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(worker_settings) as http:
        yield http


@pytest.fixture
async def run_worker(worker_settings: Settings) -> AsyncIterator[Workers]:
    workers = Workers(worker_settings)
    yield workers
    for worker in list(workers.running):
        await workers.stop(worker)


async def create(api: httpx.AsyncClient, items: list[dict[str, Any]]) -> list[str]:
    r = await api.post("/api/notifications/batch", json={"notifications": items})
    assert r.status_code == 201, r.text
    return [x["data"]["_id"] for x in r.json()["data"]["results"]]


async def statuses(store: Store, ids: list[str]) -> dict[str, str]:
    docs = await store.notifications.get_many([ObjectId(i) for i in ids])
    return {str(d["_id"]): d["status"] for d in docs}


def ledger(ledger_dir: Path) -> Counter[str]:
    sent: Counter[str] = Counter()
    for f in ledger_dir.glob("*.jsonl"):
        for line in f.read_bytes().splitlines():
            sent[orjson.loads(line)["notificationId"]] += 1
    return sent


async def all_terminal(store: Store, ids: list[str]) -> dict[str, str] | None:
    s = await statuses(store, ids)
    if len(s) == len(ids) and all(v in {"SENT", "FAILED", "CANCELLED"} for v in s.values()):
        return s
    return None
