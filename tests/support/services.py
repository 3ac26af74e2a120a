"""The stack the tests run against: RabbitMQ's vhosts and queues, the databases, free ports."""

from __future__ import annotations

import os
import random
import socket
import uuid
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
from pymongo import MongoClient

from wavecom.core.broker import QueueShape, declare_topology
from wavecom.core.constants import QueueType
from wavecom.core.settings import Settings

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


async def declare_the_other_queue_type(settings: Settings) -> None:
    """Every queue of the topology declared in ``settings``' vhost with the type its settings
    do not ask for (classic for quorum), as an installation of another version left them."""
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        mine = QueueShape.of(settings).type
        other = QueueType.CLASSIC if mine is QueueType.QUORUM else QueueType.QUORUM
        await declare_topology(await connection.channel(), QueueShape(other))
    finally:
        await connection.close()
