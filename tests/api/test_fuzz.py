"""Schemathesis against the OpenAPI spec, bounded: no 5xx, every answer as documented.

The API runs as a real process on the real stack (its own vhost and database), signed in with
an every-scope key whose limit is out of the way; each operation gets a fixed number of
generated requests (FUZZ_EXAMPLES, 25 by default) from a fixed seed, so the run is bounded and
repeatable. Every check of schemathesis runs except "schema-valid input is accepted": a few rules
(a recipient's format per type, a schedule in the future) are stricter than a schema can say.
The live stream is left out: it answers forever by design (tests/api/routes/test_events.py
covers it).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from tests.conftest import (
    MONGODB_URL,
    TENANT,
    amqp_url,
    create_vhost,
    delete_vhost,
    drop_database,
)
from tests.system import System
from wavecom.api.app import create_app
from wavecom.settings import Settings
from wavecom.store import Store
from wavecom.tenants import RateLimit, Tenants

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


async def _lift_limit(s: Settings) -> None:
    store = Store.connect(s.mongodb_url, s.mongodb_database)
    try:
        await Tenants(store, RateLimit(1, 1)).set_limit(TENANT, RateLimit(100_000, 100_000))
    finally:
        await store.close()


@pytest.fixture(scope="module")
def fuzzed_api() -> Iterator[tuple[str, str]]:
    """One API process for the whole module (its own vhost and database), and its key."""
    vhost, database = create_vhost("wavecom-fuzz"), f"wavecom_fuzz_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        amqp_url=amqp_url(vhost), mongodb_url=MONGODB_URL, mongodb_database=database
    )
    system = System(settings)
    system.env["LOG_LEVEL"] = "WARNING"
    with asyncio.Runner() as runner:  # the process belongs to this loop until the module ends
        try:
            runner.run(_lift_limit(settings))
            url = runner.run(system.spawn_api())
            yield url, system.key
        finally:
            runner.run(system.stop())
            delete_vhost(vhost)
            drop_database(database)


# the spec the API process serves (the same code builds it), one test per operation
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(
    path="/api/events"
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_answer_as_documented(
    case: Any, fuzzed_api: tuple[str, str]
) -> None:
    url, token = fuzzed_api
    case.call_and_validate(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        # rules the schema cannot state (a recipient's format depends on `type`, a schedule
        # must lie in the future) answer 400 to schema-valid input by design
        excluded_checks=[positive_data_acceptance],
    )
