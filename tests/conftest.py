"""Fixtures on the real RabbitMQ and the real database (``make test`` starts both).

Every test gets its own RabbitMQ virtual host and its own database, so tests never see each
other's messages or documents, and a running ``make up`` is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.support.commands import Commands
from tests.support.notifications import TWO_PROVIDERS
from tests.support.processes import Workers, serve
from tests.support.services import MONGODB_URL, amqp_url, create_vhost, delete_vhost, drop_database
from wavecom.core.settings import Settings
from wavecom.store import Doc, Store


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
        # nor on a group commit's wait: the same stall makes a request wait behind a commit past
        # the default 0.5 s (CI once refused a batch of 500 so); tests/api/test_intake.py tests it
        admission_queue_deadline_s=30,
        # counters settle at once: tests read the stats as soon as the documents are final
        # (tests/store/test_settling.py and tests/test_stats_after_kills.py test the linger)
        settle_linger_ms=0,
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


# --- a worker in-process, and helpers to watch notifications ----------------------------------


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
