"""Fixtures for the tests that run the built image against the real RabbitMQ and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.image.podman import Container, image_built, image_ref, writable_by_the_image
from wavecom.core.settings import Settings

LEDGER = "/ledger"  # where a container's mock providers write their ledger (a bind mount)
REPORT: list[str] = []  # lines for the end of the test run (the image's size and layers)


@pytest.fixture(scope="session")
def image() -> str:
    """The image the current inputs build, or skip: ``make image`` builds it (``make test``
    does, before the tests)."""
    ref = image_ref()
    if not image_built(ref):
        pytest.skip(f"{ref} is not built: make image")
    return ref


def container_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a deployment gives a process of the image: the test's vhost and
    database, one mock sms account whose ledger is in the mounted LEDGER."""
    return {
        "ENVIRONMENT": "test",
        "AMQP_URL": settings.amqp_url,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DATABASE": settings.mongodb_database,
        "LEDGER_DIR": LEDGER,
        "PROVIDERS_SMS": orjson.dumps([{"name": "textwave", "latencyMs": 5}]).decode(),
        "RETRY_BASE_DELAY_MS": "200",
        "ADMISSION_MAX_LAG_MS": "0",
        **extra,
    }


Containers = Callable[..., Container]


@pytest.fixture
async def containers(image: str, ledger_dir: Path) -> AsyncIterator[Containers]:
    """``containers(*args, env=…, options=[…])``: a container of the image (not started), with
    the test's ledger directory mounted; every one is removed after the test."""
    made: list[Container] = []
    writable_by_the_image(str(ledger_dir))

    def make(*args: str, env: dict[str, str] | None = None, **kw: Any) -> Container:
        c = Container(image, list(args), env=env or {}, volumes={str(ledger_dir): LEDGER}, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.remove()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in REPORT:
        terminalreporter.write_line(line)
